#!/bin/bash
# Each TOSCA_r class as one collection with the registration of the final maps (register_final),
# against today's pairwise default, registration step included (every within-class pair:
# docs/bench/tosca_full_cpu/registration_agreement/merged/pairs.csv).
# usage, from the repository root: docs/bench/collection_cpu/registration/run_class.sh CLASS ...
set -e
D=../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k
for c in "$@"; do
  names=$(ls $D | grep -E "^$c[0-9]+\.off$" | sed "s/\.off//" | sort -V | tr "\n" " ")
  nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python scripts/bench_collection.py $D \
    --names $names --engine local --pairwise-csv docs/bench/tosca_full_cpu/registration_agreement/merged/pairs.csv \
    --run-dir out/coll_reg/run_$c --cache out/coll_reg/cache_$c --out docs/bench/collection_cpu/registration/$c
done
