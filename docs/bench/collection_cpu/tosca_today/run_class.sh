#!/bin/bash
# Each TOSCA_r class as one collection with today's code, against today's pairwise default
# (every within-class pair, default preset: docs/bench/generalize_cpu/adapt_guides/tosca/pairs.csv).
# usage, from the repository root: docs/bench/collection_cpu/tosca_today/run_class.sh CLASS ...
# PAIRWISE (the pairwise rows), WORK (run folders and caches) and OUT (the results, OUT/CLASS;
# default WORK/final2_CLASS) change what is compared and where it goes.
set -e
D=../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k
PAIRWISE=${PAIRWISE:-docs/bench/generalize_cpu/adapt_guides/tosca/pairs.csv}
WORK=${WORK:-out/coll_today}
for c in "$@"; do
  names=$(ls $D | grep -E "^$c[0-9]+\.off$" | sed "s/\.off//" | sort -V | tr "\n" " ")
  nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python scripts/bench_collection.py $D \
    --names $names --engine local --pairwise-csv "$PAIRWISE" \
    --run-dir "$WORK/run_$c" --cache "$WORK/cache_$c" --out "${OUT:-$WORK/final2_}${OUT:+/}$c"
done
