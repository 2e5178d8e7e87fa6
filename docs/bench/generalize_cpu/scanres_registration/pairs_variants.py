"""python pairs_variants.py DATASET N_PER_CLASS|A:B,C:D,... [VARIANT,...] (from the repository root).

The same comparison as variants.py on a remeshed set made by scripts/remesh_dataset.py (its
test_pairs.txt, in bench_generalize.py's seeded order, N pairs per class): the default's map
without registration (noreg), then read off registrations of it made in several ways, with the
mean error x100 on 300 ground-truth points (as bench_generalize.py measures remeshed sets) and
each registration's process CPU time. Maps saved under out/scanres_registration_maps."""
import sys, time, warnings
from pathlib import Path
sys.path.insert(0, 'scripts')
import numpy as np
import bench_generalize as bg
import shapecorr
import shapecorr.deform.precise as P
from shapecorr import load
from shapecorr.eval import Dataset, PairEvaluator, read_pairs

data = Path(sys.argv[1])
ds = Dataset(data); ev = PairEvaluator(ds, points=300, dense_max=0)
bs = bg.BenchSet('toscaremeshed', ds, [])
if ':' in sys.argv[2]:  # listed pairs
    pairs = [tuple(p.split(':')) for p in sys.argv[2].split(',')]
else:
    pairs = bg.limit_per_class(bg._seeded_order(read_pairs(data / 'test_pairs.txt'), 0), int(sys.argv[2]), bs.klass)
NOREG = {'zoomout': {'register_below': None, 'register_agreement_below': None}}
VARIANTS = {'p8000': (8000, True), 'p8000-nofinish': (8000, False), 'p5000-nofinish': (5000, False)}
if len(sys.argv) > 3:
    VARIANTS = {k: VARIANTS[k] for k in sys.argv[3].split(',')}
MAPS = Path('out/scanres_registration_maps') / data.name
MAPS.mkdir(parents=True, exist_ok=True)
for a, b in pairs:
    A, T = load(ds.shape_path(a)), load(ds.shape_path(b))
    saved = MAPS / f'{a}_{b}.npz'
    if not saved.exists():
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            m = shapecorr.match(A, T, NOREG)
        np.savez(saved, p2p_21=m.p2p_21, p2p_12=m.p2p_12, confidence=m.confidence,
                 registered_by_default=m.confidence < 0.95 or (m.info.get('polish') or {}).get('agreement', 1.0) < 0.75)
    z = np.load(saved)
    e0 = ev.evaluate(a, b, z['p2p_21'])[0]['mean_error_x100']
    out = []
    for name, (mv, finish) in VARIANTS.items():
        t0 = time.process_time()
        X = P.deformed_source(A, T, z['p2p_21'], z['p2p_12'], max_vertices=mv, finish=finish)
        p21 = P.project_on_surface(T.vertices, X, A.faces)[0].nearest_vertex(A.faces)
        out.append((ev.evaluate(a, b, p21)[0]['mean_error_x100'], time.process_time() - t0))
    print(f"{a}->{b} n {A.n_vertices}/{T.n_vertices} conf {float(z['confidence']):.2f} "
          f"would_register {bool(z['registered_by_default'])} noreg {e0:.2f} "
          + " ".join(f"{name} {e:.2f} ({c:.0f}s)" for name, (e, c) in zip(VARIANTS, out)), flush=True)
