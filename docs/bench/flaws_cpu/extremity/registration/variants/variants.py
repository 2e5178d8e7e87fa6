"""python variants.py SEED KIND [PAIRS [VARIANT,...]] (from the repository root).

Why the registration step hurts partial targets: the default's map without registration (the
noreg preset), then registered with RegisterSettings.round_trip = 0 (every source -> target pair
in the first deformation), 0.03, 0.05, 0.1, without those pairs at all (no12), and with the
scale from the areas of the vertices with short round trips (+cs: consistent_scale), and with the
source vertices whose round trip is long and whose image lies within 0.05 of the target's rim
left out of the closest-point pairs too (+um0.05: unmatched_rim)."""
import sys, time
from pathlib import Path
sys.path.insert(0, 'scripts')
import numpy as np
import bench_flaws as bf
from shapecorr.deform import registration as R
from shapecorr.deform.precise import registered_vertex_maps
from shapecorr.eval import Dataset, PairEvaluator

ds = Dataset('../shared/data/FAUST_r/vtx_5k'); ev = PairEvaluator(ds)
seed, kind = int(sys.argv[1]), sys.argv[2]
npairs = int(sys.argv[3]) if len(sys.argv) > 3 else 8
pairs = bf.test_pairs(npairs, seed)
VARIANTS = {  # name: RegisterSettings keywords (no12: no source -> target pairs at all)
    'rt0': {'round_trip': 0.0}, 'rt0.03': {'round_trip': 0.03, 'consistent_scale': False, 'unmatched_rim': 0.0},
    'rt0.05': {'round_trip': 0.05, 'consistent_scale': False, 'unmatched_rim': 0.0}, 'rt0.1': {'round_trip': 0.1, 'consistent_scale': False, 'unmatched_rim': 0.0},
    'no12': {'round_trip': 0.0}, 'rt0.03+cs': {'round_trip': 0.03, 'consistent_scale': True, 'unmatched_rim': 0.0},
    'rt0.05+cs': {'round_trip': 0.05, 'consistent_scale': True, 'unmatched_rim': 0.0},
    'rt0.03+cs+um0.05': {'round_trip': 0.03, 'consistent_scale': True, 'unmatched_rim': 0.05}}
if len(sys.argv) > 4:
    VARIANTS = {k: VARIANTS[k] for k in sys.argv[4].split(',')}
MAPS = Path('out/variants_maps')  # the noreg maps, computed once
for a, b in pairs:
    A, T, new, z = bf.unregistered_maps(ds, a, b, kind, seed, MAPS)
    e0 = bf.target_error(ds, ev, a, b, new, A, z['p2p_21'])[0]
    out = []
    for name, kw in VARIANTS.items():
        p21, _, fit = registered_vertex_maps(A, T, z['p2p_21'], None if name == 'no12' else z['p2p_12'],
                                             settings=R.RegisterSettings(**kw))
        out.append(bf.target_error(ds, ev, a, b, new, A, p21)[0])
    print(f"{kind} s{seed} {a[-3:]}->{b[-3:]} conf {float(z['confidence']):.2f} noreg {e0:.2f} "
          + " ".join(f"{name} {e:.2f}" for name, e in zip(VARIANTS, out)), flush=True)
