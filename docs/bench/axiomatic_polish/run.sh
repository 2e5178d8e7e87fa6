#!/bin/bash
# The axiomatic preset with the precision polish (commit 159e044) on the test pairs of
# ../axiomatic_energy (all 190 FAUST_r and all 284 TOSCA_r test pairs), every candidate measured,
# so each pair compares with that run's row. Two processes; from the repository root.
S=docs/bench/axiomatic_polish
P() { awk '{printf "--pair %s %s ", $1, $2}' $S/$1; }
CMD="nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 ${PY:-.venv/bin/python} scripts/diag_candidates.py"
F=../shared/data/FAUST_r/vtx_5k
T=../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k
for i in 1 2; do
  ($CMD $F $(P faust_$i.txt) --preset axiomatic --out $S/faust_$i.jsonl > /dev/null 2>&1;
   $CMD $T $(P tosca_$i.txt) --preset axiomatic --out $S/tosca_$i.jsonl > /dev/null 2>&1) &
done
wait
