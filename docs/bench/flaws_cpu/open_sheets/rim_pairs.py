"""The registration's texture error with every pair that ends on a rim dropped (the rule before
2026-12-03) and with rim-to-rim pairs kept (the current rule), from one match per pair:

    python docs/bench/flaws_cpu/open_sheets/rim_pairs.py woody:0.5 beetle:1.0 suzanne:1.0
"""
import sys, numpy as np, warnings; warnings.filterwarnings("ignore")
sys.path.insert(0, "scripts")
import eval_texture as et, shapecorr, tempfile
from pathlib import Path
import shapecorr.deform.registration as R
from shapecorr.transfer import precise_map, texture_from_surface_map
current = R._closest_pairs
def dropped(x, nx, V2, N2, m1, m2, tree2, scale, settings, edge1, edge2, unmatched1=None):
    from scipy.spatial import cKDTree
    d12, j = tree2.query(x); d21, i = cKDTree(x).query(V2)
    med = float(np.median(np.concatenate([d12, d21])))
    limit = min(settings.max_distance * scale, max(settings.distance_factor * med, 1e-12 * scale))
    src = np.arange(len(x))
    keep1 = (d12 <= limit) & ((nx * N2[j]).sum(1) >= settings.normal_cos) & ~edge2[j]
    keep2 = (d21 <= limit) & ((nx[i] * N2).sum(1) >= settings.normal_cos) & ~edge1[i]
    if unmatched1 is not None:
        keep1 &= ~unmatched1; keep2 &= ~unmatched1[i]
    pairs = R._concat(R._Pairs(src[keep1], V2[j[keep1]], N2[j[keep1]], m1[keep1]), R._Pairs(i[keep2], V2[keep2], N2[keep2], m2[keep2]))
    return pairs, med / scale
tex = Path(tempfile.mkdtemp()) / "c.png"; et.checker_texture(tex, 1024)
for name, es in [(a.split(":")[0], float(a.split(":")[1])) for a in sys.argv[1:]]:
    src = et.synthetic_uv(shapecorr.load(next(Path("../shared/data/realworld").glob(name+".*"))), tex)
    tgt, gt = et.bent_remeshed_pair(src, 40.0, 0, es)
    m = shapecorr.match(src, tgt)
    ref = texture_from_surface_map(src, tgt, gt)
    out = []
    for fn in (dropped, current):
        R._closest_pairs = fn
        res = texture_from_surface_map(src, tgt, precise_map(m, src, tgt, method="register"))
        out.append(np.median(np.linalg.norm(res.uv - ref.uv, axis=1)) * 1024)
    R._closest_pairs = current
    print(name, es, "dropped %.2f  boundary-to-boundary kept %.2f" % tuple(out), flush=True)
