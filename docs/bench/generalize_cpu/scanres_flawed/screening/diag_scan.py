import sys, warnings, time
sys.path.insert(0, 'scripts')
import numpy as np
import bench_flaws as bf
import shapecorr
from shapecorr import Shape, load
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.eval.metrics import geodesic_errors
ds = Dataset('out/hc/scanres'); ev = PairEvaluator(ds)
a, b, kind, seed, screen = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == 'on'
A = load(ds.shape_path(a), warn=False); B = load(ds.shape_path(b), warn=False)
rng = np.random.default_rng(np.random.SeedSequence([seed, *a.encode(), *b.encode(), *kind.encode()]))
v, f, new = bf.flawed(kind, np.asarray(B.vertices, float), np.asarray(B.faces), rng)
T = Shape(v, f, name='t')
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    m = shapecorr.match(A, T, screen_fallback=screen)  # python diag_scan.py tr_reg_085 tr_reg_095 gaps 0 on|off (repository root)
gt_a, gt_b = ds.gt(a), new[ds.gt(b)]; ok = gt_b >= 0
err = 100 * geodesic_errors(A, m.p2p_21, gt_a[ok], gt_b[ok], distances=ev.distances(a)).mean()
print(a, b, 'screen', screen, 'err', round(err, 3), 'conf', m.info['confidence'], 'kept', m.info['init'], round(time.perf_counter() - t0, 1), 's', m.timings)
for c in m.info['candidates']:
    print('  ', c['init'], c['k_init'], c['w_orient_multiplier'], c['energy'], c['confidence'], 'S' if c['screened'] else '')
print('  adaptation', m.info.get('adaptation'), 'registration', m.info.get('registration'))
