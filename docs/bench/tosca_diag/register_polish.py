"""Does the registration of #13 make the matcher's vertex map more precise? The default's map on
trusted TOSCA_r tune pairs (the 8 of polish.py), read again through `precise_map(method=...)`
("register": the source deformed onto the target by ARAP-regularized non-rigid ICP, each target
vertex sent to the nearest source vertex of its closest deformed-surface point; "spectral":
the functional map's sub-vertex refinement), scored on vertices like every benchmark here.
    python docs/bench/tosca_diag/register_polish.py [A-B ...]"""
import sys, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
import numpy as np
import shapecorr
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.deform.precise import precise_map
ds = Dataset(str(Path(__file__).resolve().parents[4] / 'shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')); ev = PairEvaluator(ds)
pairs = [tuple(p.split('-')) for p in sys.argv[1:]] or [
    ('michael13', 'michael19'), ('victoria12', 'victoria4'), ('horse0', 'horse10'), ('dog0', 'dog10'),
    ('dog1', 'dog8'), ('michael14', 'michael2'), ('victoria0', 'victoria12'), ('michael10', 'michael2')]
res = {}
for a, b in pairs:
    m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='default')
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    out, secs = {'default': m.p2p_21}, {}
    for method in ('register', 'spectral'):
        t = time.perf_counter()
        out[method] = precise_map(m, sh1, sh2, method=method).nearest_vertex(sh1.faces)
        secs[method] = time.perf_counter() - t
    line = []
    for name, p in out.items():
        r = ev.evaluate(a, b, p, None)[0]
        res.setdefault(name, []).append((r['mean_error_x100'], r['median_error_x100']))
        line.append(f"{name} {r['mean_error_x100']:.2f}/{r['median_error_x100']:.2f}")
    print(f"{a}->{b} (conf {m.info['confidence']:.2f}, {m.info['init']}; register {secs['register']:.1f} s): "
          + ' | '.join(line), flush=True)
for name, v in res.items():
    v = np.array(v)
    print(f"{name:10} mean {v[:, 0].mean():.3f}  median of medians {np.median(v[:, 1]):.3f}")
