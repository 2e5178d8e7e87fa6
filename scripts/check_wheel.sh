#!/usr/bin/env bash
# Packaging check (CI): build a wheel from the tracked files, install it into a fresh venv
# outside the checkout, and run `shapecorr match --preset P` for every shipped preset on the
# bundled Spot pair from a folder outside the checkout. Fails if anything the package needs
# (presets, model weights, the confidence model) is not in the wheel, or if the checkout's
# own copy of shapecorr could be imported instead of the installed one.
#
# The dependencies are not reinstalled (that would download torch): the new venv sees the
# project venv's site-packages through a .pth line. Python processes .pth files only in its
# own site folders, so the project venv's editable install of shapecorr (a .pth hook there)
# stays invisible; the script checks that shapecorr is imported from the new venv.
#
#   scripts/check_wheel.sh                 # uses .venv/bin/python
#   PYTHON=/path/to/python scripts/check_wheel.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shapecorr-wheel-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
say() { echo "check_wheel: $*" >&2; }

# 1. the tracked files only (what a fresh clone has), built outside the checkout
mkdir -p "$WORK/src" "$WORK/dist"
git -C "$ROOT" ls-files -z | (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf -) | tar -C "$WORK/src" -xf -
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$WORK/dist" "$WORK/src" >&2
WHEEL="$(ls "$WORK"/dist/shapecorr-*.whl)"
say "built $(basename "$WHEEL")"

# 2. a fresh venv with only the wheel; dependencies from the project venv (no editable hook)
"$PY" -m venv --without-pip "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$PY" -m pip --python "$VPY" install --quiet --no-deps "$WHEEL" >&2
DEPS="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$DEPS" > "$SITE/zz_project_dependencies.pth"

# 3. from outside the checkout: the installed package, its presets, a match per preset
cd "$WORK"
export SHAPECORR_CACHE_DIR="$WORK/cache"
FOUND="$("$VPY" -c 'import shapecorr; print(shapecorr.__file__)')"
case "$FOUND" in
  "$WORK/venv/"*) say "shapecorr imported from the wheel: $FOUND" ;;
  *) say "error: shapecorr was imported from $FOUND, not from the installed wheel"; exit 1 ;;
esac
PRESETS="$("$VPY" -c 'from shapecorr.config import available_presets; print(" ".join(available_presets()))')"
[ -n "$PRESETS" ] || { say "error: the installed package has no presets"; exit 1; }
for P in $PRESETS; do
  "$WORK/venv/bin/shapecorr" match "$ROOT/data/spot/spot.obj" "$ROOT/data/spot/spot_posed.obj" \
    --preset "$P" --out "$WORK/out-$P" --quiet
  "$VPY" - "$WORK/out-$P" "$P" <<'EOF'
import json, sys
from pathlib import Path

out, preset = Path(sys.argv[1]), sys.argv[2]
report = json.loads((out / "report.json").read_text())
missing = [n for n in ("source_to_target.txt", "target_to_source.txt", "fmap.npy", "match.json",
                       "correspondence.png") if not (out / n).is_file()]
assert not missing, f"preset {preset}: missing outputs {missing}"
assert report["preset"] == preset and 0.0 <= report["confidence"] <= 1.0, report.get("confidence")
print(f"check_wheel: preset {preset}: ok (confidence {report['confidence']:.2f}, "
      f"{report['timings']['total']:.1f}s)", file=sys.stderr)
EOF
done
say "ok: $(basename "$WHEEL"), presets: $PRESETS"
