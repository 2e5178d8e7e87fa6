#!/usr/bin/env bash
# Quickstart, step 1: set up (if needed) and match the bundled Spot pair.
# Outputs go to ./out/spot (or the folder given as the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OUT="${1:-out/spot}"
.venv/bin/shapecorr match data/spot/spot.obj data/spot/spot_posed.obj --out "$OUT"
.venv/bin/shapecorr transfer data/spot/spot.obj data/spot/spot_posed.obj --map "$OUT" --out "$OUT/texture" --quiet
echo
echo "Demo outputs:"
echo "  $OUT/source_to_target.txt, $OUT/target_to_source.txt   vertex maps (0-based, one line per vertex)"
echo "  $OUT/fmap.npy, $OUT/report.json                          functional map, settings and timings"
echo "  $OUT/correspondence.png                                 picture of the correspondence"
echo "  $OUT/texture/                                           Spot's texture carried onto the posed copy"
echo "Next: .venv/bin/shapecorr --help   (view it: .venv/bin/shapecorr view data/spot/spot.obj data/spot/spot_posed.obj --map $OUT)"
