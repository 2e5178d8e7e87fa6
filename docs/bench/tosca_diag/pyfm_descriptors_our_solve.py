"""pyFM's WKS descriptors (its preprocess, README settings) given to our exact solve and ZoomOut, against
our own descriptors, on two horse pairs (k = 30, 20, 40).  python docs/bench/tosca_diag/pyfm_descriptors_our_solve.py"""
import sys, warnings, numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
from pyFM.mesh import TriMesh
from pyFM.functional import FunctionalMapping
import shapecorr
from shapecorr import load_preset
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.pipeline import prepare, plan_pair, refine, AxiomaticOperators, axiomatic_initial_map
ds = Dataset(str(__import__('pathlib').Path(__file__).resolve().parents[4] / 'shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')); ev = PairEvaluator(ds)
s = load_preset('default')
solve = s.fallback_solve_settings()
for a, b in [('horse15', 'horse7'), ('horse14', 'horse15')]:
    m1 = TriMesh.load(str(ds.shape_path(a)), area_normalize=True, center=True)
    m2 = TriMesh.load(str(ds.shape_path(b)), area_normalize=True, center=True)
    model = FunctionalMapping(m1, m2)
    model.preprocess(descr_type="WKS", subsample_step=2)
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    plan = plan_pair(sh1.n_vertices, sh2.n_vertices, s)
    P1, P2 = prepare(sh1, s), prepare(sh2, s)
    res = []
    for label, descr in [('ours', None), ('pyFM descr', (np.asarray(model.descr1), np.asarray(model.descr2)))]:
        ops = AxiomaticOperators(P1, P2, solve, descriptors=descr)
        for k in (30, 20, 40):
            C0 = axiomatic_initial_map(ops, k, 1.0)
            C, p21, p12 = refine(C0, P1, P2, s, plan, samples=None)
            res.append(f"{label} k{k} {ev.evaluate(a, b, p21, p12)[0]['mean_error_x100']:.2f}")
    print(a, b, ' | '.join(res), flush=True)
