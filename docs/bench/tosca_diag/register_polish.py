"""Does the registration of #13 make the matcher's vertex map more precise? The default's map on
trusted TOSCA_r tune pairs (the 8 of polish.py), read again through `precise_map(method=...)`
("register": the source deformed onto the target by ARAP-regularized non-rigid ICP, each target
vertex sent to the nearest source vertex of its closest deformed-surface point; "spectral":
the functional map's sub-vertex refinement), scored on vertices like every benchmark here.
Run (register_polish.txt) before the pipeline's own precision polish; with it, "default" is the
polished map where the polish runs (horse0->horse10 1.10 -> 1.02).
    python docs/bench/tosca_diag/register_polish.py [A-B ...]"""
import time
from common import TUNE8, Scores, argv_pairs, evaluator
import shapecorr
from shapecorr.deform.precise import precise_map

ds, ev = evaluator('TOSCA')
scores = Scores(ev)
for a, b in argv_pairs(TUNE8):
    m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='default')
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    out, secs = {'default': m.p2p_21}, {}
    for method in ('register', 'spectral'):
        t = time.perf_counter()
        out[method] = precise_map(m, sh1, sh2, method=method).nearest_vertex(sh1.faces)
        secs[method] = time.perf_counter() - t
    print(f"{a}->{b} (conf {m.info['confidence']:.2f}, {m.info['init']}; register {secs['register']:.1f} s): "
          + scores.line(a, b, out), flush=True)
scores.summary(10)
