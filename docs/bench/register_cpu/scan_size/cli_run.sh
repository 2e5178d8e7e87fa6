#!/bin/bash
# usage: run.sh CODE_DIR OUT_NAME  (whole process, empty cache, one thread)
cd "$1"
rm -rf "$2.cache"; mkdir -p "$2.cache"
SHAPECORR_CACHE_DIR="$2.cache" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /usr/bin/time -f "%e s wall, %U s user, %M KB" \
  /work/main/.venv/bin/python -m shapecorr transfer "$3/bunny.obj" "$3/bunny_bent.ply" --out "$2" --quiet
