"""Matcher's registration step: old round-trip tolerance (own mesh's edges) vs new (the coarser mesh's)
on tune pairs. Maps of the default without its registration step, then registered both ways."""
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
import shapecorr
import shapecorr.deform.registration as R
from shapecorr.deform.precise import registered_vertex_maps
from shapecorr.eval import Dataset, PairEvaluator

def old_short(p2p_21, p2p_12, source, target, limit):
    d1, d2 = R.round_trips(p2p_21, p2p_12, source[0], target[0])
    l1 = max(limit * np.sqrt(source[2]), 2 * R._mean_edge(source[0], source[1]))
    l2 = max(limit * np.sqrt(target[2]), 2 * R._mean_edge(target[0], target[1]))
    return d1 <= l1, d2 <= l2
new_short = R._short_round_trips
ds_path, pairs_file, out = sys.argv[1:4]
ds = Dataset(ds_path); ev = PairEvaluator(ds)
with open(out, "w") as fh:
    for line in open(pairs_file):
        a, b = line.strip().split("->")
        sa, sb = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
        m = shapecorr.match(sa, sb, register_below=None, register_agreement_below=None)
        row = {"pair": f"{a}->{b}", "n": [sa.n_vertices, sb.n_vertices], "conf": m.info["confidence"],
               "kept": ev.evaluate(a, b, m.p2p_21)[0]["mean_error_x100"]}
        for lab, fn in (("old", old_short), ("new", new_short)):
            R._short_round_trips = fn
            p21, p12, fit = registered_vertex_maps(sa, sb, m.p2p_21, m.p2p_12)
            row[lab] = ev.evaluate(a, b, p21)[0]["mean_error_x100"]
        R._short_round_trips = new_short
        fh.write(json.dumps(row) + "\n"); fh.flush(); print(row, flush=True)
