"""python variants.py DATASET SEED KIND [PAIRS [VARIANT,...]] (from the repository root).

Registration of large pairs through proxies (issue 11): the default's map without registration
(the noreg preset: at these sizes the default before this change), then read off registrations
made in several ways from that same map: through proxies of 8000 or 5000 vertices, with or
without the full-resolution finish (the last ICP stage on the full meshes), and at full
resolution. Errors as bench_flaws.py (x100, geodesic, on the ground-truth points the flawed
target kept); process CPU time of each registration. The noreg maps are saved under
out/scanres_registration_maps, so a rerun registers only."""
import sys, time
from pathlib import Path
sys.path.insert(0, 'scripts')
import numpy as np
import bench_flaws as bf
import shapecorr.deform.precise as P
from shapecorr.eval import Dataset, PairEvaluator

data, seed, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ds = Dataset(data); ev = PairEvaluator(ds)
npairs = int(sys.argv[4]) if len(sys.argv) > 4 else 8
pairs = bf.test_pairs(npairs, seed)
VARIANTS = {  # name: (max_vertices, finish)
    'p8000': (8000, True), 'p8000-nofinish': (8000, False), 'p5000': (5000, True), 'p5000-nofinish': (5000, False),
    'full': (None, True)}
if len(sys.argv) > 5:
    VARIANTS = {k: VARIANTS[k] for k in sys.argv[5].split(',')}
MAPS = Path('out/scanres_registration_maps') / Path(data).name
for a, b in pairs:
    A, T, new, z = bf.unregistered_maps(ds, a, b, kind, seed, MAPS)
    e0 = bf.target_error(ds, ev, a, b, new, A, z['p2p_21'])[0]
    out = []
    for name, (mv, finish) in VARIANTS.items():
        t0 = time.process_time()
        X = P.deformed_source(A, T, z['p2p_21'], z['p2p_12'], max_vertices=mv, finish=finish)
        p21 = P.project_on_surface(T.vertices, X, A.faces)[0].nearest_vertex(A.faces)
        out.append((bf.target_error(ds, ev, a, b, new, A, p21)[0], time.process_time() - t0))
    print(f"{kind} s{seed} {a[-3:]}->{b[-3:]} n {A.n_vertices}/{T.n_vertices} conf {float(z['confidence']):.2f} "
          f"noreg {e0:.2f} " + " ".join(f"{name} {e:.2f} ({c:.0f}s)" for name, (e, c) in zip(VARIANTS, out)), flush=True)
