# Signals of the first (learned) candidate, fallback and adaptation off: python signals.py KIND 0 PAIRS (run from the repository root)
import sys, warnings, json
sys.path.insert(0, 'scripts')
import numpy as np
import bench_flaws as bf
import shapecorr
from shapecorr import Shape, load
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.eval.metrics import geodesic_errors
ds = Dataset('../shared/data/FAUST_r/vtx_5k'); ev = PairEvaluator(ds)
kind = sys.argv[1]; seed = int(sys.argv[2]); pairs = [p.split('-') for p in sys.argv[3:]]
for a, b in pairs:
    a, b = f'tr_reg_{a}', f'tr_reg_{b}'
    A = load(ds.shape_path(a), warn=False); B = load(ds.shape_path(b), warn=False)
    rng = np.random.default_rng(np.random.SeedSequence([seed, *a.encode(), *b.encode(), *kind.encode()]))
    v, f, new = bf.flawed(kind, np.asarray(B.vertices, float), np.asarray(B.faces), rng)
    T = Shape(v, f, name='t')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = shapecorr.match(A, T, preset={'fallback': {'use_fallback': False}, 'features': {'adapt_when': 'never'}})
    gt_a, gt_b = ds.gt(a), new[ds.gt(b)]; ok = gt_b >= 0
    err = 100 * geodesic_errors(A, m.p2p_21, gt_a[ok], gt_b[ok], distances=ev.distances(a)).mean()
    c = m.info['candidates'][0]; s = c['confidence_signals']
    hf = T.hole_fill
    print(f"{a}->{b} {kind} err {err:.2f} conf {c['confidence']:.3f} det {s['detached_area']:.4f} md {s['metric_distortion']:.3f} cyc {s['cycle_error']:.4f} area {s['area_distortion']:.3f} cov {s['coverage']:.3f}", flush=True)
