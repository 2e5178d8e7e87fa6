"""Is the kept map less precise than it could be? The default's final functional map polished by
unguided full-resolution ZoomOut (more iterations at k_final, or growing to a larger k), on TOSCA_r
tune pairs whose map is trusted (the first 40 shuffled test pairs; not the other 244).
    python docs/bench/tosca_diag/polish.py [PAIRS...]"""
import sys, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
import numpy as np
import shapecorr
from shapecorr import load_preset
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.fmap.refine import zoomout
from shapecorr.pipeline import prepare
ds = Dataset(str(Path(__file__).resolve().parents[4] / 'shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')); ev = PairEvaluator(ds)
s = load_preset('default')
s_big = s.replace(k_final=140)  # prepare enough eigenpairs for the larger variants
pairs = [tuple(p.split('-')) for p in sys.argv[1:]] or [
    ('michael13', 'michael19'), ('victoria12', 'victoria4'), ('horse0', 'horse10'), ('dog0', 'dog10'),
    ('dog1', 'dog8'), ('michael14', 'michael2'), ('victoria0', 'victoria12'), ('michael10', 'michael2')]
res = {}
for a, b in pairs:
    m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='default')
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    P1, P2 = prepare(sh1, s_big), prepare(sh2, s_big)
    C = m.fmap_12
    out = {'default': m.p2p_21}
    _, out['+2 iters at 100'] = zoomout(C, P1.evecs, P2.evecs, P2.mass, k_final=C.shape[0], refine_iters=2)
    for K in (120, 140):
        _, out[f'to {K}, step 5'] = zoomout(C, P1.evecs, P2.evecs, P2.mass, k_final=K, step=5)
    line = []
    for name, p in out.items():
        r = ev.evaluate(a, b, p, None)[0]
        res.setdefault(name, []).append((r['mean_error_x100'], r['median_error_x100']))
        line.append(f"{name} {r['mean_error_x100']:.2f}/{r['median_error_x100']:.2f}")
    print(f"{a}->{b} (conf {m.info['confidence']:.2f}, {m.info['init']}): " + ' | '.join(line), flush=True)
for name, v in res.items():
    v = np.array(v)
    print(f"{name:16} mean {v[:, 0].mean():.3f}  median of medians {np.median(v[:, 1]):.3f}")
