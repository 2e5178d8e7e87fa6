"""The registration's map (register_polish.py) with safeguards, on TOSCA_r and FAUST_r pairs: the
robust registration as shipped ('reg'); kept only where it lands within r x sqrt(area) of the
matcher's own source point ('reg|agreeR'); only where the target vertex lies within 0.01 of the
deformed surface ('reg|dist0.01'); the registration's 'anchor' pull towards the map's matches.
The matcher's maps are cached in /tmp/register_variants_cache.
    DS=TOSCA|FAUST python docs/bench/tosca_diag/register_variants.py A-B ..."""
import sys, time, warnings, os
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
import numpy as np
import shapecorr
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.deform.registration import register, RegisterSettings
from shapecorr.fmap.surface import project_on_surface
DATA = str(Path(__file__).resolve().parents[4] / 'shared/data') + '/'
dsname = os.environ.get('DS', 'TOSCA')
root = {'TOSCA': DATA + 'TOSCA_r/TOSCA_Isometric/vtx_5k', 'FAUST': DATA + 'FAUST_r/vtx_5k'}[dsname]
ds = Dataset(root); ev = PairEvaluator(ds)
pairs = [tuple(p.split('-')) for p in sys.argv[1:]]
variants = {'reg': {}, 'anchor0.1': dict(anchor=0.1), 'anchor1': dict(anchor=1.0)}
res = {}
for a, b in pairs:
    f = f'/tmp/register_variants_cache/{a}__{b}.npz'; os.makedirs(os.path.dirname(f), exist_ok=True)
    if not os.path.exists(f):
        m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='default')
        np.savez(f, p21=m.p2p_21, p12=m.p2p_12, conf=m.info['confidence'])
    z = np.load(f); p21, p12 = z['p21'], z['p12']
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    out = {'default': p21}
    sa1 = np.sqrt(sh1.area)
    for name, kw in variants.items():
        t = time.perf_counter()
        reg = register(sh1, sh2, p21, p12, settings=RegisterSettings(**kw))
        smap, dist = project_on_surface(sh2.vertices, reg.vertices, sh1.faces)
        pv = smap.nearest_vertex(sh1.faces)
        out[name] = pv
        if name == 'reg':
            pts = smap.points(sh1.vertices, sh1.faces)
            d_src = np.linalg.norm(pts - sh1.vertices[p21], axis=1) / sa1
            for r in (0.02, 0.05):
                out[f'reg|agree{r}'] = np.where(d_src <= r, pv, p21)
            dd = dist / np.sqrt(sh2.area)
            out['reg|dist0.01'] = np.where(dd <= 0.01, pv, p21)
    line = []
    for name, p in out.items():
        r = ev.evaluate(a, b, p, None)[0]
        res.setdefault(name, []).append((r['mean_error_x100'], r['median_error_x100']))
        line.append(f"{name} {r['mean_error_x100']:.2f}/{r['median_error_x100']:.2f}")
    print(f"{a}->{b}: " + ' | '.join(line), flush=True)
for name, v in res.items():
    v = np.array(v)
    print(f"{name:14} mean {v[:, 0].mean():.3f}  median of medians {np.median(v[:, 1]):.3f}")
