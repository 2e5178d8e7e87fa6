"""Is the kept map less precise than it could be? The default's final functional map polished by
unguided full-resolution ZoomOut (more iterations at k_final, or growing to a larger k), on TOSCA_r
tune pairs whose map is trusted (the first 40 shuffled test pairs; not the other 244). Run before
the pipeline's own precision polish (polish_screen.py); with it, "default" is the polished map
where the polish runs.
    python docs/bench/tosca_diag/polish.py [A-B ...]"""
from common import TUNE8, Scores, argv_pairs, evaluator
import shapecorr
from shapecorr import load_preset
from shapecorr.fmap.refine import zoomout
from shapecorr.pipeline import prepare

ds, ev = evaluator('TOSCA')
s_big = load_preset('default').replace(k_final=140)  # prepare enough eigenpairs for the larger variants
scores = Scores(ev)
for a, b in argv_pairs(TUNE8):
    m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='default')
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    P1, P2 = prepare(sh1, s_big), prepare(sh2, s_big)
    C = m.fmap_12
    out = {'default': m.p2p_21}
    _, out['+2 iters at 100'] = zoomout(C, P1.evecs, P2.evecs, P2.mass, k_final=C.shape[0], refine_iters=2)
    for K in (120, 140):
        _, out[f'to {K}, step 5'] = zoomout(C, P1.evecs, P2.evecs, P2.mass, k_final=K, step=5)
    print(f"{a}->{b} (conf {m.info['confidence']:.2f}, {m.info['init']}): " + scores.line(a, b, out), flush=True)
scores.summary(16)
