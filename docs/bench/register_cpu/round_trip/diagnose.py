"""Where woody's registered texture error came from (run from the repository root):

    python docs/bench/register_cpu/round_trip/diagnose.py woody 0.3

The bent, remeshed copy at edge scale 0.3 (694 -> 6871 vertices), matched by the default; UV and
point errors of the spectral, vertex and registered maps, the registration started from the
ground truth, from the spectral points, without the source -> target map, and the errors of
both vertex maps."""
import sys, time, numpy as np
sys.path.insert(0, "scripts")
import eval_texture as et
import shapecorr
from pathlib import Path
from shapecorr.transfer import precise_map, texture_from_surface_map
from PIL import Image
name = sys.argv[1]; es = float(sys.argv[2])
src = shapecorr.load(next(Path("../shared/data/realworld").glob(name + ".*")))
import tempfile
tex = Path(tempfile.mkdtemp()) / "checker.png"; et.checker_texture(tex, 1024)
src = et.synthetic_uv(src, tex)
tgt, gt = et.bent_remeshed_pair(src, 40.0, 0, es)
print(src.n_vertices, tgt.n_vertices)
match = shapecorr.match(src, tgt)
print("conf", match.info.get("confidence"))
ref = texture_from_surface_map(src, tgt, gt)
area = src.area
pref = gt.points(src.vertices, src.faces)
def ev(label, sm):
    res = texture_from_surface_map(src, tgt, sm)
    e = np.linalg.norm(res.uv - ref.uv, axis=1) * 1024
    p = sm.points(src.vertices, src.faces)
    pe = 100 * np.linalg.norm(p - pref, axis=1) / np.sqrt(area)
    print(f"{label:20s} uv median {np.median(e):.2f} mean {e.mean():.2f}  point mean {pe.mean():.3f} median {np.median(pe):.3f}")
    return pe
for m in ("spectral", "vertex", "register"):
    t0 = time.time(); sm = precise_map(match, src, tgt, method=m); ev(m, sm); print("  t", round(time.time()-t0,1))
sm = et.registered_from_truth(src, tgt, gt); ev("reg-from-truth", sm)
from shapecorr.deform.registration import register
from shapecorr.transfer.surface import project_on_surface
sp = precise_map(match, src, tgt, method="spectral")
reg = register(src, tgt, match.p2p_21, match.p2p_12, init_points=(sp.face, sp.bary))
ev("reg-init-spectral", project_on_surface(tgt.vertices, reg.vertices, src.faces)[0])
reg = register(src, tgt, match.p2p_21, None, init_points=(sp.face, sp.bary))
ev("reg-init-spec-no12", project_on_surface(tgt.vertices, reg.vertices, src.faces)[0])
reg = register(src, tgt, match.p2p_21, None)
ev("reg-no12", project_on_surface(tgt.vertices, reg.vertices, src.faces)[0])
v2u, _ = et.remesh(src, 0, es)
from scipy.spatial import cKDTree
true12 = cKDTree(v2u).query(src.vertices)[1]
d = np.linalg.norm(v2u[match.p2p_12] - v2u[true12], axis=1) * 100 / np.sqrt(area)
print("p2p_12 err mean", d.mean(), "median", np.median(d), "frac>2", (d > 2).mean())
d = np.linalg.norm(src.vertices[match.p2p_21] - pref, axis=1) * 100 / np.sqrt(area)
print("p2p_21 err mean", d.mean(), "median", np.median(d))
