"""Is the kept map less precise than its features make it? For each pair: the default's map, the
same map grown on by an unguided ZoomOut on all vertices to k=140, and how far the learned features
agree with the map (the fraction of target vertices whose nearest-feature source vertex lies within
0.02 / 0.05 sqrt(area) of the map's image). Sets: TOSCA, FAUST, REM (the remeshed FAUST_r test set of
scripts/bench_generalize.py, out/generalize/faust_r_remeshed), PC (FAUST_r as point clouds).
Run at 7eb27f5, before the polish went into the pipeline (with it, "default" is the polished map).
    python docs/bench/tosca_diag/polish_screen.py TOSCA:horse10-horse14 FAUST:tr_reg_070-tr_reg_075 ..."""
import sys, warnings, os, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); warnings.filterwarnings('ignore')
import numpy as np, shapecorr
from shapecorr import load_preset
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.fmap.refine import zoomout
from shapecorr.pipeline import prepare, shape_features, feature_model_name
from scipy.spatial import cKDTree
DATA = ROOT.parent / 'shared' / 'data'
R = {'TOSCA': DATA / 'TOSCA_r/TOSCA_Isometric/vtx_5k', 'FAUST': DATA / 'FAUST_r/vtx_5k', 'PC': DATA / 'FAUST_r/vtx_5k',
     'REM': ROOT / 'out/generalize/faust_r_remeshed'}
s = load_preset('default'); s_big = s.replace(k_final=140)
for p in sys.argv[1:]:
    dsn, ab = p.split(':'); a, b = ab.split('-')
    ds = Dataset(str(R[dsn])); ev = PairEvaluator(ds)
    m1, m2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    sh1, sh2 = (m1, m2) if dsn != 'PC' else (shapecorr.Shape(m1.vertices, None, name=a + '_pc'), shapecorr.Shape(m2.vertices, None, name=b + '_pc'))
    t = time.perf_counter(); m = shapecorr.match(sh1, sh2, preset='default'); tm = time.perf_counter() - t
    if m.info.get('proxy'):
        print(f"{dsn} {a}->{b}: matched through proxies, skipped ({m.info['proxy']['sizes']})", flush=True); continue
    P1, P2 = prepare(sh1, s), prepare(sh2, s)
    name = feature_model_name(s, sh1, sh2)
    F1, F2 = shape_features(P1, name), shape_features(P2, name)
    T = m.p2p_21
    nn = cKDTree(F1).query(F2)[1]
    d = np.linalg.norm(m1.vertices[nn] - m1.vertices[T], axis=1) / np.sqrt(m1.area)
    t = time.perf_counter()
    Q1, Q2 = prepare(sh1, s_big), prepare(sh2, s_big)
    tq = time.perf_counter() - t; t = time.perf_counter()
    _, p140 = zoomout(m.fmap_12, Q1.evecs, Q2.evecs, Q2.mass, k_final=140, step=5)
    tz = time.perf_counter() - t
    e = [ev.evaluate(a, b, q, None)[0]['mean_error_x100'] for q in (T, p140)]
    print(f"{dsn} {a}->{b} ({sh1.n_vertices}/{sh2.n_vertices}) conf {m.info['confidence']:.2f} {m.info['init']}: default {e[0]:.2f} | to 140 {e[1]:.2f} || "
          f"agree@.02 {np.mean(d < .02):.3f} agree@.05 {np.mean(d < .05):.3f} | match {tm:.1f}s eig140 {tq:.1f}s zoom {tz:.1f}s", flush=True)
