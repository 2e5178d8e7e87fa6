#!/bin/bash
# The fallback's axiomatic solve alone (the axiomatic preset with the fallback's solve settings) on the
# 76 TOSCA_r pairs where the default's fallback ran its axiomatic solves (second_opinion run), with
# three energies: today's (frobenius scales, squared mask), pyFM's scales with the squared mask, and
# pyFM's scales with its resolvent mask. Run from the repository root; writes screen_<energy>.jsonl.
set -e
D=../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k
S=docs/bench/tosca_diag/energy_screen
PAIRS=$(cat $S/fallback_pairs_tune.txt $S/fallback_pairs_rest.txt | awk '{printf "--pair %s %s ", $1, $2}')
for e in "frobenius squared" "canonical squared" "canonical resolvent"; do
  set -- $e
  nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python scripts/diag_candidates.py $D $PAIRS \
    --preset axiomatic --setting w_lap=0.1 --setting w_dcomm=1.0 --setting k_descriptor=100 \
    --setting term_scales=$1 --setting lap_mask=$2 --out $S/screen_$1_$2.jsonl > $S/screen_$1_$2.log 2>&1 &
done
wait
