"""The scale the registration takes from the areas, before (round trips within the own mesh's
tolerance) and after (one and a half of a much coarser other mesh's edges allowed):

    python docs/bench/register_cpu/round_trip/scales.py NAME EDGE_SCALE
"""
import sys, numpy as np, warnings; warnings.filterwarnings("ignore")
sys.path.insert(0, "scripts")
import eval_texture as et, shapecorr
from pathlib import Path
from shapecorr.deform.registration import _short_round_trips, vertex_mass, _mean_edge
name = sys.argv[1]; es = float(sys.argv[2])
src = shapecorr.load(next(Path("../shared/data/realworld").glob(name + ".*")))
tgt, gt = et.bent_remeshed_pair(src, 40.0, 0, es)
v2u, f2 = et.remesh(src, 0, es)
m = shapecorr.match(src, tgt)
V1,F1,V2,F2=src.vertices,src.faces,tgt.vertices,tgt.faces
a1,a2=vertex_mass(V1,F1),vertex_mass(V2,F2)
def old(p21,p12,S,T,l):
    from shapecorr.deform.registration import round_trips
    d1,d2=round_trips(p21,p12,S[0],T[0]); return d1<=max(l*np.sqrt(S[2]),2*_mean_edge(S[0],S[1])), d2<=max(l*np.sqrt(T[2]),2*_mean_edge(T[0],T[1]))
for lab,fn in (("old",old),("new",_short_round_trips)):
    k1,k2=fn(m.p2p_21,m.p2p_12,(V1,F1,a1.sum()),(V2,F2,a2.sum()),0.03)
    print(lab, "kept area", round(a1[k1].sum()/a1.sum(),4), round(a2[k2].sum()/a2.sum(),4), "scale", round(float(np.sqrt(a2[k2].sum()/a1[k1].sum())),4))
print("whole-area scale", np.sqrt(a2.sum()/a1.sum()), "(the copy's true scale is 1)", src.n_vertices, tgt.n_vertices)
