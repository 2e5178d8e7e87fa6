"""The registration's map (register_polish.py) with safeguards, on TOSCA_r and FAUST_r pairs: the
robust registration as shipped ('reg'); kept only where it lands within r x sqrt(area) of the
matcher's own source point ('reg|agreeR'); only where the target vertex lies within 0.01 of the
deformed surface ('reg|dist0.01'); the registration's 'anchor' pull towards the map's matches.
The matcher's maps are cached (common.CACHE).
    DS=TOSCA|FAUST python docs/bench/tosca_diag/register_variants.py A-B ..."""
import os
from common import Scores, argv_pairs, default_maps, evaluator
import numpy as np
import shapecorr
from shapecorr.deform.registration import register, RegisterSettings
from shapecorr.fmap.surface import project_on_surface

ds, ev = evaluator(os.environ.get('DS', 'TOSCA'))
variants = {'reg': {}, 'anchor0.1': dict(anchor=0.1), 'anchor1': dict(anchor=1.0)}
scores = Scores(ev)
for a, b in argv_pairs():
    p21, p12 = default_maps(ds, a, b)
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    out = {'default': p21}
    for name, kw in variants.items():
        reg = register(sh1, sh2, p21, p12, settings=RegisterSettings(**kw))
        smap, dist = project_on_surface(sh2.vertices, reg.vertices, sh1.faces)
        pv = smap.nearest_vertex(sh1.faces)
        out[name] = pv
        if name == 'reg':
            pts = smap.points(sh1.vertices, sh1.faces)
            d_src = np.linalg.norm(pts - sh1.vertices[p21], axis=1) / np.sqrt(sh1.area)
            for r in (0.02, 0.05):
                out[f'reg|agree{r}'] = np.where(d_src <= r, pv, p21)
            out['reg|dist0.01'] = np.where(dist / np.sqrt(sh2.area) <= 0.01, pv, p21)
    print(f"{a}->{b}: " + scores.line(a, b, out), flush=True)
scores.summary()
