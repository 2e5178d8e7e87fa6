"""Refinement variants compared by scripts/diag_refine.py: name -> f(C0, P1, P2, s, plan, samples,
features) -> p2p_21."""

from __future__ import annotations

from shapecorr.fmap.refine import feature_guides
from shapecorr.pipeline import refine


def _zoomout(refine_iters: int | None = None, weight: float = 0.0, dims: int | None = None):
    def run(C0, P1, P2, s, plan, samples, feats):
        s2 = s if refine_iters is None else s.replace(refine_iters=refine_iters)
        guides = feature_guides(*feats, weight, dims) if weight else None
        return refine(C0, P1, P2, s2, plan, samples=samples, guides=guides)[1]
    return run


VARIANTS = {"zo_full5": _zoomout(5)}
for w in (1, 2, 3, 4, 6, 8, 12):
    for d in (16, 32, None):
        VARIANTS[f"g{w}_d{d or 'all'}"] = _zoomout(weight=w, dims=d)
        VARIANTS[f"g{w}_d{d or 'all'}_f5"] = _zoomout(5, weight=w, dims=d)
        VARIANTS[f"g{w}_d{d or 'all'}_f1"] = _zoomout(1, weight=w, dims=d)


# ----------------------------------------------------------------- experimental: bijective ZoomOut
import numpy as np  # noqa: E402

from shapecorr.fmap import knn_blocked  # noqa: E402


def _lsq(E):
    Q, R = np.linalg.qr(E)
    return Q, np.linalg.inv(R)


def bijective_zoomout(C0, P1, P2, s, plan, samples, feats, weight=4.0, dims=32, w_bij=1.0, full_iters=2):
    """Both directions at once; each vertex-map step matches [Phi2, Phi2 (bij), G2] against
    [Phi1 C12^T, Phi1 C21 (bij), G1] (and the reverse)."""
    G1, G2 = feature_guides(*feats, weight, dims) if weight else (np.zeros((len(P1.evecs), 0)),) * 2
    if not weight:
        G2 = np.zeros((len(P2.evecs), 0))
    sub1, sub2 = samples
    K = plan.k_final
    E1, E2 = P1.evecs[sub1, :K], P2.evecs[sub2, :K]
    g1, g2 = G1[sub1], G2[sub2]
    Q1, R1i = _lsq(E1)
    Q2, R2i = _lsq(E2)
    C12 = C0
    C21 = C0.T.copy()
    k = C0.shape[0]

    def step(C12, C21, k, A1, A2, h1, h2):
        db21 = np.hstack([A1[:, :k] @ C12.T, w_bij * (A1[:, :k] @ C21), h1])
        q21 = np.hstack([A2[:, :k], w_bij * A2[:, :k], h2])
        db12 = np.hstack([A2[:, :k] @ C21.T, w_bij * (A2[:, :k] @ C12), h2])
        q12 = np.hstack([A1[:, :k], w_bij * A1[:, :k], h1])
        return knn_blocked(q21, db21), knn_blocked(q12, db12)

    while k < K:
        p21, p12 = step(C12, C21, k, E1, E2, g1, g2)
        k = min(k + s.zoomout_step, K)
        C12 = R2i[:k, :k] @ (Q2[:, :k].T @ E1[p21, :k])
        C21 = R1i[:k, :k] @ (Q1[:, :k].T @ E2[p12, :k])
    A1, A2 = P1.evecs[:, :K], P2.evecs[:, :K]
    for _ in range(full_iters):
        p21, p12 = step(C12, C21, K, A1, A2, G1, G2)
        C12 = A2.T @ (P2.mass[:, None] * A1[p21])
        C21 = A1.T @ (P1.mass[:, None] * A2[p12])
    p21, p12 = step(C12, C21, K, A1, A2, G1, G2)
    return p21


for w in (0, 4, 8):
    VARIANTS[f"bij_g{w}"] = (lambda w: lambda *a: bijective_zoomout(*a, weight=w))(w)


# ----------------------------------------------------------------- a larger final basis
from dataclasses import replace as _replace  # noqa: E402

from shapecorr.fmap.prepare import prepare_shape  # noqa: E402


def larger_basis(C0, P1, P2, s, plan, samples, feats, k_final=130, weight=4.0, dims=32, refine_iters=None):
    Q1, Q2 = (prepare_shape(P.shape, k_final, laplacian_kind=s.laplacian) for P in (P1, P2))
    s2 = s if refine_iters is None else s.replace(refine_iters=refine_iters)
    guides = feature_guides(*feats, weight, dims) if weight else None
    return refine(C0, Q1, Q2, s2, _replace(plan, k_final=k_final), samples=samples, guides=guides)[1]


for k in (120, 150):
    for w in (0, 4, 6):
        VARIANTS[f"k{k}_g{w}"] = (lambda k, w: lambda *a: larger_basis(*a, k_final=k, weight=w))(k, w)
