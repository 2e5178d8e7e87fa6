import sys, warnings, time
sys.path.insert(0, "scripts")
import numpy as np, shapecorr
from pathlib import Path
from eval_texture import bent_remeshed_pair
from shapecorr.transfer import precise_map
from shapecorr.learn.prior.data import midpoint_subdivide
from shapecorr.fmap.surface import SurfaceMap, project_on_surface
for name in sys.argv[1:]:
    p = next(q for q in sorted(Path("../shared/data/realworld").glob(f"{name}.*")) if q.suffix != ".mtl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orig = shapecorr.load(p)
        tgt, gt = bent_remeshed_pair(orig, 40.0, edge_scale=0.6)
        V, F = orig.vertices, orig.faces
        while len(V) <= 30000:
            V, F = midpoint_subdivide(V, F)
        src = shapecorr.Shape(V, F, name=f"{name}_sub")
        t0 = time.time(); m = shapecorr.match(src, tgt); tm = time.time() - t0
    gp = gt.points(orig.vertices, orig.faces)
    def err(smap):
        e = np.linalg.norm(smap.points(src.vertices, src.faces) - gp, axis=1) / np.sqrt(src.area)
        return "mean %.3f median %.3f" % (100 * e.mean(), 100 * np.median(e))
    print(name, src.n_vertices, tgt.n_vertices, m.info["proxy"]["sizes"] if m.info["proxy"] else None, "match %.0fs conf %.2f" % (tm, m.info["confidence"]), flush=True)
    for method in ("vertex", "spectral", "register"):
        t0 = time.time(); sm = precise_map(m, src, tgt, method=method); print("  ", method, err(sm), "%.1fs" % (time.time() - t0), flush=True)
