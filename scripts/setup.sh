#!/usr/bin/env bash
# Set up shapecorr in ./.venv (idempotent): Python venv, a CPU build of torch unless a torch is
# already importable there, then shapecorr itself (editable) with the viewer and dev extras.
#   SHAPECORR_PYTHON=python3.11 scripts/setup.sh   # choose the interpreter (>= 3.10)
#   SHAPECORR_EXTRAS=dev scripts/setup.sh          # fewer extras (default: viewer,dev)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${SHAPECORR_PYTHON:-python3}"
EXTRAS="${SHAPECORR_EXTRAS:-viewer,dev}"
log() { printf 'setup: %s\n' "$*" >&2; }
# pip, quiet, without the "Location ... is ignored" notes some machines' pip configs print
pip_install() { "$VPY" -m pip install --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  log "shapecorr needs Python >= 3.10 ('$PY' is $("$PY" --version 2>&1)); set SHAPECORR_PYTHON."
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build on a CPU machine.
if ! "$VPY" -c 'import torch' 2>/dev/null; then
  log "installing torch 2.13.0 (CPU build on this machine)"
  pip_install "torch==2.13.0"
fi
stamp=.venv/.shapecorr-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing shapecorr[$EXTRAS] and its dependencies"
  pip_install -e ".[$EXTRAS]"
  touch "$stamp"
fi
log "ready: $("$VPY" -c 'import shapecorr, torch; print("shapecorr", shapecorr.__version__, "/ torch", torch.__version__)')"
