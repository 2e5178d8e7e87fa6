#!/bin/bash
# Each TOSCA_r class as one collection with today's code, against today's pairwise default
# (every within-class pair, default preset: docs/bench/generalize_cpu/adapt_guides/tosca/pairs.csv).
# usage, from the repository root: docs/bench/collection_cpu/tosca_today/run_class.sh CLASS ...
set -e
D=../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k
for c in "$@"; do
  names=$(ls $D | grep -E "^$c[0-9]+\.off$" | sed "s/\.off//" | sort -V | tr "\n" " ")
  nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python scripts/bench_collection.py $D \
    --names $names --engine local --pairwise-csv docs/bench/generalize_cpu/adapt_guides/tosca/pairs.csv \
    --run-dir out/coll_today/run_$c --cache out/coll_today/cache_$c --out out/coll_today/final2_$c
done
