"""Why our axiomatic candidates fail on horse pairs that pyfmaps gets right: pyfmaps' own 30x30
initial map (its README settings), converted to our basis through its vertex map and refined by
our ZoomOut (the default's refine, unguided), against pyfmaps' own ZoomOut.
    python docs/bench/tosca_diag/pyfm_init_refine.py"""
import sys, warnings, numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3]))
warnings.filterwarnings('ignore')
from pyFM.mesh import TriMesh
from pyFM.functional import FunctionalMapping
from pyFM import spectral
import shapecorr
from shapecorr import load_preset
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.pipeline import prepare, plan_pair, refine
from shapecorr.fmap.convert import p2p_to_fmap
ds = Dataset(str(__import__('pathlib').Path(__file__).resolve().parents[4] / 'shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')); ev = PairEvaluator(ds)
s = load_preset('default')
for a, b in [('horse15', 'horse7'), ('horse14', 'horse15')]:
    m1 = TriMesh.load(str(ds.shape_path(a)), area_normalize=True, center=True)
    m2 = TriMesh.load(str(ds.shape_path(b)), area_normalize=True, center=True)
    model = FunctionalMapping(m1, m2)
    model.preprocess(descr_type="WKS", subsample_step=2)
    model.fit(K=30, w_descr=1e0, w_lap=1e-1, w_dcomm=1e0, w_orient=1e0)
    p_init = model.get_p2p(model.FM)  # 30x30 fit's vertex map
    FMz = model.zoomout_refine(nit=16, step=5)
    p_zo = model.get_p2p(FMz)
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    plan = plan_pair(sh1.n_vertices, sh2.n_vertices, s)
    P1, P2 = prepare(sh1, s), prepare(sh2, s)
    C0 = p2p_to_fmap(p_init, P1.evecs[:, :30], P2.evecs[:, :30], P2.mass)
    C, p21, p12 = refine(C0, P1, P2, s, plan, samples=None)
    def err(p):
        r, _ = ev.evaluate(a, b, p, p12)
        return round(r['mean_error_x100'], 2)
    print(a, b, 'pyfm init', err(p_init), 'pyfm zoomout', err(p_zo), 'pyfm init + our refine', err(p21), flush=True)
