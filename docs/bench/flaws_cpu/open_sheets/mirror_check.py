"""A bent, remeshed copy of a realworld model matched by the default: the error of the vertex map x100, and
against the truth mirrored about each principal plane (a mirror flip shows as a small error there); the
match info as JSON.

    python docs/bench/flaws_cpu/open_sheets/mirror_check.py woody 0.7
"""
import sys, numpy as np, warnings, time; warnings.filterwarnings("ignore")
sys.path.insert(0, "scripts")
import eval_texture as et, shapecorr
from pathlib import Path
name=sys.argv[1]; es=float(sys.argv[2]); preset = sys.argv[3] if len(sys.argv)>3 else "default"
src = shapecorr.load(next(Path("../shared/data/realworld").glob(name+".*")))
tgt, gt = et.bent_remeshed_pair(src, 40.0, 0, es)
t=time.time(); m = shapecorr.match(src, tgt, preset); t=time.time()-t
pref = gt.points(src.vertices, src.faces)
pv = src.vertices[m.p2p_21]
e = 100*np.linalg.norm(pv-pref,axis=1)/np.sqrt(src.area)
# mirror candidates: reflect the source about its principal planes and see which explains the map
c = src.vertices.mean(0); _,_,ax = np.linalg.svd(src.vertices-c, full_matrices=False)
print(f"{name} x{es}: {src.n_vertices}->{tgt.n_vertices} conf {m.info['confidence']:.3f} err mean {e.mean():.2f} median {np.median(e):.2f}  {t:.1f}s")
for k in range(3):
    refl = pref - 2*np.outer((pref-c)@ax[k], ax[k])
    em = 100*np.linalg.norm(pv-refl,axis=1)/np.sqrt(src.area)
    print(f"   vs truth mirrored about principal plane {k}: mean {em.mean():.2f}")
info = m.info
import json
print(json.dumps({k: v for k, v in info.items() if k not in ("proxy",)}, default=str, indent=None)[:6000])
for k in ():
    if k in info: print("  ",k, str(info[k])[:300])
