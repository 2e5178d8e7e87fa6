import sys, warnings
sys.path.insert(0, 'scripts')
import numpy as np
import bench_flaws as bf
import shapecorr
from shapecorr import Shape, load
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.eval.metrics import geodesic_errors
ds = Dataset('../shared/data/FAUST_r/vtx_5k'); ev = PairEvaluator(ds)
kind, seed, a, b = sys.argv[1].split(':'); seed = int(seed); a, b = f'tr_reg_{a}', f'tr_reg_{b}'
extra = dict(kv.split('=') for kv in sys.argv[2:])
extra = {k: (None if v == 'none' else float(v)) for k, v in extra.items()}
A = load(ds.shape_path(a), warn=False); B = load(ds.shape_path(b), warn=False)
rng = np.random.default_rng(np.random.SeedSequence([seed, *a.encode(), *b.encode(), *kind.encode()]))
v, f, new = bf.flawed(kind, np.asarray(B.vertices, float), np.asarray(B.faces), rng)
T = Shape(v, f, name='t')
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    m = shapecorr.match(A, T, **extra)
gt_a, gt_b = ds.gt(a), new[ds.gt(b)]; ok = gt_b >= 0
err = 100 * geodesic_errors(A, m.p2p_21, gt_a[ok], gt_b[ok], distances=ev.distances(a)).mean()
print(sys.argv[1:], 'err', round(err, 2), 'conf', m.confidence, 'kept', m.info['init'])
for c in m.info['candidates']:
    print('  ', c['init'], c['k_init'], c['w_orient_multiplier'], c['energy'], c['confidence'])
print('  registration', m.info.get('registration'))
print('  polish', m.info.get('polish'))
