#!/usr/bin/env bash
# Quickstart, step 2: set up (if needed) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k spectral
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SHAPECORR_CACHE_DIR="${SHAPECORR_CACHE_DIR:-$(mktemp -d)}"
exec .venv/bin/python -m pytest -q "$@"
