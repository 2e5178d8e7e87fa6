import sys, warnings, time
sys.path.insert(0, "scripts")
import numpy as np, shapecorr
from pathlib import Path
from eval_texture import bent_remeshed_pair
from shapecorr.deform.precise import deformed_source, register_plan, precise_map
from shapecorr.fmap.surface import project_on_surface
for arg in sys.argv[1:]:
    name, scale = arg.split(":"); scale = float(scale)
    p = Path("data/spot/spot.obj") if name == "spot" else next(q for q in sorted(Path("../shared/data/realworld").glob(f"{name}.*")) if q.suffix != ".mtl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = shapecorr.load(p)
        tgt, gt = bent_remeshed_pair(src, 40.0, edge_scale=scale)
        m = shapecorr.match(src, tgt)
    v = src.vertices; uv = (v[:, :2] - v[:, :2].min(0)) / np.ptp(v[:, :2], axis=0).max()
    guv = gt.points(uv, src.faces)
    def tex(sm): 
        e = 1024 * np.linalg.norm(sm.points(uv, src.faces) - guv, axis=1); return "%.2f/%.2f" % (np.median(e), e.mean())
    t0 = time.time(); fwd = precise_map(m, src, tgt, method="register"); t1 = time.time()
    mv, fin = register_plan(tgt, src)
    X2 = deformed_source(tgt, src, m.p2p_12, m.p2p_21, max_vertices=mv, finish=fin)
    rev, _ = project_on_surface(X2, src.vertices, src.faces); t2 = time.time()
    spec = precise_map(m, src, tgt, method="spectral")
    print(f"{name} x{scale} {src.n_vertices}->{tgt.n_vertices}: spectral {tex(spec)} | forward {tex(fwd)} ({t1-t0:.1f}s) | reverse {tex(rev)} ({t2-t1:.1f}s)", flush=True)
