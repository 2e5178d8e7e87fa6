"""pyFM's fit at its default tolerance and at a tight one (factr 10, pgtol 1e-12) on two horse pairs:
is early stopping what makes its initial map good?  python docs/bench/tosca_diag/pyfm_tolerance.py"""
import sys, warnings, numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
from pyFM.mesh import TriMesh
from pyFM.functional import FunctionalMapping
from shapecorr.eval import Dataset, PairEvaluator
ds = Dataset(str(__import__('pathlib').Path(__file__).resolve().parents[4] / 'shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')); ev = PairEvaluator(ds)
for a, b in [('horse15', 'horse7'), ('horse14', 'horse15')]:
    m1 = TriMesh.load(str(ds.shape_path(a)), area_normalize=True, center=True)
    m2 = TriMesh.load(str(ds.shape_path(b)), area_normalize=True, center=True)
    model = FunctionalMapping(m1, m2)
    model.preprocess(descr_type="WKS", subsample_step=2)
    out = []
    for label, kw in [('default tol', {}), ('tight tol', dict(factr=10.0, pgtol=1e-12))]:
        model.fit(K=30, w_descr=1e0, w_lap=1e-1, w_dcomm=1e0, w_orient=1e0, **kw)
        FM0 = model.FM.copy()
        e0 = ev.evaluate(a, b, model.get_p2p(FM0), None)[0]['mean_error_x100']
        FMz = model.zoomout_refine(nit=16, step=5)
        ez = ev.evaluate(a, b, model.get_p2p(FMz), None)[0]['mean_error_x100']
        out.append(f'{label}: init {e0:.2f} zoomout {ez:.2f}')
    print(a, b, ' | '.join(out), flush=True)
