#!/bin/bash
# The fallback's axiomatic candidates with pyFM's energy on the 45 zero-shot test pairs of
# ../zeroshot_test_solves (20 FAUST_r, 25 TOSCA_r odd-numbered animals): the axiomatic preset with
# the fallback's solve settings. Run from the repository root.
set -e
S=docs/bench/prior_cpu/zeroshot_energies
COMMON="--preset axiomatic --setting w_lap=0.1 --setting w_dcomm=1.0 --setting k_descriptor=100 --setting term_scales=canonical --setting lap_mask=resolvent"
PAIRS_F=$(cat docs/bench/prior_cpu/zeroshot_test_solves/rows_faust*.jsonl | python3 -c "import json,sys; print(' '.join(dict.fromkeys(f'--pair {r[\"source\"]} {r[\"target\"]}' for r in map(json.loads, sys.stdin))))")
PAIRS_T=$(cat docs/bench/prior_cpu/zeroshot_test_solves/rows_tosca*.jsonl | python3 -c "import json,sys; print(' '.join(dict.fromkeys(f'--pair {r[\"source\"]} {r[\"target\"]}' for r in map(json.loads, sys.stdin))))")
nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python scripts/diag_candidates.py ../shared/data/FAUST_r/vtx_5k $PAIRS_F $COMMON --out $S/screen_faust.jsonl > $S/screen_faust.log 2>&1 &
nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python scripts/diag_candidates.py ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k $PAIRS_T $COMMON --out $S/screen_tosca.jsonl > $S/screen_tosca.log 2>&1 &
wait
