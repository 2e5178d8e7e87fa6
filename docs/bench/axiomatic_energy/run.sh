#!/bin/bash
# The axiomatic preset (its own weights) with each energy, on tune pairs only: TOSCA_r's tune list
# (the first 40 shuffled test pairs) and 20 seeded pairs of FAUST_r 070-079 (validation shapes).
# Run from the repository root; writes screen_<set>_<energy>.jsonl (one process per set).
S=docs/bench/axiomatic_energy
for set in tosca faust; do
  if [ $set = tosca ]; then D=../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k; else D=../shared/data/FAUST_r/vtx_5k; fi
  PAIRS=$(awk '{printf "--pair %s %s ", $1, $2}' $S/tune_$set.txt)
  (for e in "frobenius squared" "canonical squared" "canonical resolvent"; do
     read scales mask <<< "$e"
     nice -n 10 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python scripts/diag_candidates.py $D $PAIRS \
       --preset axiomatic --setting term_scales=$scales --setting lap_mask=$mask \
       --out $S/screen_${set}_${scales}_${mask}.jsonl > /dev/null 2>&1
   done) &
done
wait
