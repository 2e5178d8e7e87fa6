#!/bin/bash
# The axiomatic preset with both energies on the test pairs: all 190 FAUST_r test pairs and all 284
# TOSCA_r within-class test pairs, every candidate measured (so the preset with our energy only is
# read from the same runs: its candidates are the first energy's). Two processes; from the repository root.
S=docs/bench/axiomatic_energy
P() { awk '{printf "--pair %s %s ", $1, $2}' $S/$1; }
CMD="nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python scripts/diag_candidates.py"
($CMD ../shared/data/FAUST_r/vtx_5k $(P test_faust.txt) --preset axiomatic --out $S/test_faust.jsonl > /dev/null 2>&1;
 $CMD ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k $(P test_tosca_a.txt) --preset axiomatic --out $S/test_tosca.jsonl > /dev/null 2>&1) &
$CMD ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k $(P test_tosca_b.txt) --preset axiomatic --out $S/test_tosca_b.jsonl > /dev/null 2>&1 &
# (later, beside them, the second shard's list from its end, to finish sooner:)
# $CMD ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k $(P test_tosca_b_reversed.txt) --preset axiomatic --out $S/test_tosca_c.jsonl
wait
# Both lists of the second shard were covered when the two processes met (they were stopped then);
# the same was done for the first TOSCA_r list: test_tosca_a_reversed.txt -> test_tosca_d.jsonl.
