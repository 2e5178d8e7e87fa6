# Signals of the first (learned) candidate, fallback and adaptation off: python signals.py KIND 0 PAIRS (run from the repository root)
import sys, warnings
sys.path.insert(0, 'scripts')
import bench_flaws as bf
import shapecorr
from shapecorr.eval import Dataset, PairEvaluator
ds = Dataset('../shared/data/FAUST_r/vtx_5k'); ev = PairEvaluator(ds)
kind = sys.argv[1]; seed = int(sys.argv[2]); pairs = [p.split('-') for p in sys.argv[3:]]
for a, b in pairs:
    a, b = f'tr_reg_{a}', f'tr_reg_{b}'
    A, T, new = bf.flawed_target(ds, a, b, kind, seed)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = shapecorr.match(A, T, preset={'fallback': {'use_fallback': False}, 'features': {'adapt_when': 'never'}})
    err = bf.target_error(ds, ev, a, b, new, A, m.p2p_21)[0]
    c = m.info['candidates'][0]; s = c['confidence_signals']
    print(f"{a}->{b} {kind} err {err:.2f} conf {c['confidence']:.3f} det {s['detached_area']:.4f} md {s['metric_distortion']:.3f} cyc {s['cycle_error']:.4f} area {s['area_distortion']:.3f} cov {s['coverage']:.3f}", flush=True)
