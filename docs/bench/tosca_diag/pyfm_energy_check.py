"""Does our exact solve with pyFM's energy (``scales="canonical"``, ``lap_mask="resolvent"``) give
pyFM's 30x30 map? pyFM's own descriptors, operators and eigenvalues go into ``solve_fmap``; its
fit runs at a tight tolerance. Prints the relative difference of the maps and both errors.
    python docs/bench/tosca_diag/pyfm_energy_check.py"""
import sys, warnings, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
from pyFM.mesh import TriMesh
from pyFM.functional import FunctionalMapping
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.fmap import FmapWeights, solve_fmap
ds = Dataset(str(Path(__file__).resolve().parents[4] / 'shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')); ev = PairEvaluator(ds)
for a, b in [('horse15', 'horse7'), ('horse14', 'horse15')]:
    m1 = TriMesh.load(str(ds.shape_path(a)), area_normalize=True, center=True)
    m2 = TriMesh.load(str(ds.shape_path(b)), area_normalize=True, center=True)
    model = FunctionalMapping(m1, m2)
    model.preprocess(descr_type="WKS", subsample_step=2)
    model.fit(K=30, w_descr=1e0, w_lap=1e-1, w_dcomm=1e0, w_orient=1e0, factr=10, pgtol=1e-12)
    C_pyfm = model.FM_12.copy()
    m1, m2 = model.mesh1, model.mesh2; A, B = m1.project(model.descr1, k=30), m2.project(model.descr2, k=30)
    D = model._compute_descr_op(); O = model._compute_orientation_op()
    w = FmapWeights(descr=1.0, lap=0.1, dcomm=1.0, orient=1.0, scales="canonical", lap_mask="resolvent")
    C_ours = solve_fmap(A, B, m1.eigenvalues, m2.eigenvalues, w, dcomm_ops=D, orient_ops=O)
    rel = np.linalg.norm(C_ours - C_pyfm) / np.linalg.norm(C_pyfm)
    e = lambda C: ev.evaluate(a, b, model.get_p2p(C), None)[0]['mean_error_x100']
    print(f"{a}->{b}: |C_ours - C_pyfm| / |C_pyfm| = {rel:.2e}; error pyFM {e(C_pyfm):.2f}, ours {e(C_ours):.2f}", flush=True)
    # both maps in pyFM's own energy (the arguments its fit hands to L-BFGS)
    from pyFM.optimize.weights import canonical_taus, resolvent_mask
    from pyFM.optimize.base_functions import energy_func_std
    mask = resolvent_mask(m1.eigenvalues[:30], m2.eigenvalues[:30])
    taus = canonical_taus(A, B, D, O, mask)
    args = [wt / t for wt, t in zip(np.array([1.0, 0.1, 1.0, 1.0]) / 3.1, taus)] + [A, B, D, O, mask]
    print(f"   pyFM energy: pyFM's map {energy_func_std(C_pyfm, *args):.6e}, ours {energy_func_std(C_ours, *args):.6e}", flush=True)
