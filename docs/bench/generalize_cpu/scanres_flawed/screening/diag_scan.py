"""One flawed scan-resolution pair with screen_fallback on or off, every candidate listed:
python diag_scan.py tr_reg_085 tr_reg_095 gaps 0 on|off (from the repository root)."""
import sys, warnings, time
sys.path.insert(0, 'scripts')
import bench_flaws as bf
import shapecorr
from shapecorr.eval import Dataset, PairEvaluator
ds = Dataset('out/hc/scanres'); ev = PairEvaluator(ds)
a, b, kind, seed, screen = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == 'on'
A, T, new = bf.flawed_target(ds, a, b, kind, seed)
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    m = shapecorr.match(A, T, screen_fallback=screen)
err = bf.target_error(ds, ev, a, b, new, A, m.p2p_21)[0]
print(a, b, 'screen', screen, 'err', round(err, 3), 'conf', m.info['confidence'], 'kept', m.info['init'], round(time.perf_counter() - t0, 1), 's', m.timings)
for c in m.info['candidates']:
    print('  ', c['init'], c['k_init'], c['w_orient_multiplier'], c['energy'], c['confidence'], 'S' if c['screened'] else '')
print('  adaptation', m.info.get('adaptation'), 'registration', m.info.get('registration'))
