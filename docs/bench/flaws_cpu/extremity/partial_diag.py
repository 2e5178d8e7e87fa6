"""python partial_diag.py KIND:SEED:SOURCE:TARGET ... (from the repository root).

Diagnosis: source-side detached area of learned maps onto extremity15 targets, with and without
the source region that has no counterpart (uncovered source vertices whose image lies within 2
rings of a closed hole's rim of the target)."""
import sys, warnings
sys.path.insert(0, 'scripts')
import numpy as np
import scipy.sparse as sp
import bench_flaws as bf
import shapecorr
from shapecorr import Shape
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.fmap.confidence import graph_edges, main_piece
ds = Dataset('../shared/data/FAUST_r/vtx_5k'); ev = PairEvaluator(ds)

def rings(shape, seeds, k=2):
    e = graph_edges(shape); n = shape.n_vertices
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr(); A = A + A.T
    m = np.zeros(n, bool); m[seeds] = True
    for _ in range(k):
        m = m | (A @ m.astype(float) > 0)
    return m


def vertex_areas(shape):
    return np.bincount(np.asarray(shape.faces).ravel(), weights=np.repeat(shape.face_areas / 3, 3),
                       minlength=shape.n_vertices)

for spec in sys.argv[1:]:
    kind, seed, a, b = spec.split(':'); seed = int(seed); a, b = f'tr_reg_{a}', f'tr_reg_{b}'
    A, T, new = bf.flawed_target(ds, a, b, kind, seed)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = shapecorr.match(A, T, preset={'fallback': {'use_fallback': False}, 'features': {'adapt_when': 'never'}})
    err = bf.target_error(ds, ev, a, b, new, A, m.p2p_21)[0]
    # unit-area copies for the tear lengths
    sa, sb = np.sqrt(A.area), np.sqrt(T.area)
    A1 = Shape(np.asarray(A.vertices) / sa, A.faces); T1 = Shape(np.asarray(T.vertices) / sb, T.faces)
    hf = T1.hole_fill
    rim = np.unique(np.concatenate(hf.loops)) if hf.loops else np.zeros(0, int)
    near_rim = rings(T1, rim, 2) if rim.size else np.zeros(T1.n_vertices, bool)
    covered = np.zeros(A1.n_vertices, bool); covered[m.p2p_21] = True
    R = (~covered) & near_rim[m.p2p_12]
    massA = vertex_areas(A1)
    main1 = main_piece(m.p2p_12, T1.vertices, A1, None, massA)
    det = massA[~main1].sum() / massA.sum()
    det_R = massA[~main1 & ~R].sum() / massA[~R].sum()
    massT = vertex_areas(T1)
    main2 = main_piece(m.p2p_21, A1.vertices, T1, None, massT)
    det2 = massT[~main2].sum() / massT.sum()
    det2_rim = massT[~main2 & near_rim].sum() / massT.sum()
    # the target's detached vertices: how far from the rim (rings)
    far = rings(T1, rim, 8) if rim.size else np.zeros(T1.n_vertices, bool)
    det2_8 = massT[~main2 & far].sum() / massT.sum()
    print(f"   target side det {det2:.4f}, within 2 rings of a rim {det2_rim:.4f}, within 8 rings {det2_8:.4f}; conf signals", m.info['candidates'][0]['confidence_signals']['detached_area'])
    print(f"{kind} s{seed} {a[-3:]}->{b[-3:]} err {err:.2f} conf {m.confidence:.3f} holes {hf.n_holes} rimV {rim.size} "
          f"R_area {massA[R].sum()/massA.sum():.3f} det_src {det:.4f} det_src_minus_R {det_R:.4f}", flush=True)
