"""Map refinement: ZoomOut (Melzi et al. 2019) and orientation scoring of vertex maps."""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg

from .convert import fmap_to_p2p, knn_blocked, p2p_to_fmap

log = logging.getLogger(__name__)


def zoomout(fmap_12: np.ndarray, evecs1: np.ndarray, evecs2: np.ndarray, mass2: np.ndarray, *,
            k_final: int, step: int = 1, n_samples: int | None = None, seed: int = 0,
            device: str = "cpu", samples: tuple[np.ndarray, np.ndarray] | None = None,
            full_map: bool = True, refine_iters: int = 0,
            refine_subset: np.ndarray | None = None,
            sample_source: bool = True,
            guides: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spectral upsampling of ``fmap_12 (k2, k1)`` to ``(k_final, k_final)`` (Melzi et al. 2019).

    Alternates the vertex map (nearest neighbours in the spectral embeddings) and the
    functional map, whose size grows by ``step`` each iteration. With ``n_samples``, both
    shapes are represented by that many well-spread vertices (farthest-point sampling in
    the spectral embedding, seeded) during the iterations and the map is fitted by least
    squares on them, which makes each step ``O(n_samples^2 k)`` instead of ``O(n1 n2 k)``.

    ``samples=(sub1, sub2)`` gives the subsets directly (to reuse them across calls).
    ``refine_iters`` more iterations at size ``k_final`` on all vertices recover the accuracy
    that sampling costs (about 0.3 x100 geodesic error on FAUST_r for 1500 samples).
    ``sample_source=False`` matches the samples of shape 2 among *all* vertices of shape 1
    during the iterations (``O(n_samples n1 k)`` each): the map is then not limited to the
    samples' spacing on shape 1, which matters on large shapes (FAUST_r at 20k vertices: 2.10 ->
    1.67 x100 on 080->083).
    ``refine_subset`` (vertices of shape 2) runs those iterations on these vertices of shape 2
    only (least squares on their rows, matches among all vertices of shape 1), for shapes too
    large for ``O(n1 n2 k)`` steps: ``O(len(subset) n1 k)`` each.

    ``guides=(G1 (n1, d), G2 (n2, d))``: per-vertex features of both shapes (already weighted,
    e.g. by :func:`feature_guides`) appended to the spectral embeddings in every vertex-map step
    (*feature-guided* ZoomOut): a vertex of shape 2 goes to the vertex of shape 1 nearest in
    ``[Phi1 C^T, G1]`` to its ``[Phi2, G2]``, so that where the pair is not isometric (where the
    spectral embeddings alone disagree) the features hold the map.

    Returns ``(fmap_12 (k_final, k_final), p2p_21)``; the vertex map is computed at the end on
    all vertices of both shapes (or, with ``full_map=False``, on the samples of shape 2, as
    indices into the samples of shape 1).
    """
    k2, k1 = fmap_12.shape
    _check_growth(k_final, step, evecs1, evecs2)
    sub1 = sub2 = None
    if samples is not None:
        sub1, sub2 = samples
    elif n_samples is not None and n_samples < min(len(evecs1), len(evecs2)):
        sub1 = farthest_point_sampling_spectral(evecs1, n_samples, seed=seed)
        sub2 = farthest_point_sampling_spectral(evecs2, n_samples, seed=seed)
    if not sample_source:  # the samples of shape 2 are matched among all vertices of shape 1
        sub1 = None
    E1 = evecs1[:, :k_final] if sub1 is None else evecs1[sub1, :k_final]
    E2 = evecs2[:, :k_final] if sub2 is None else evecs2[sub2, :k_final]
    G1 = G2 = None
    if guides is not None:
        G1, G2 = _check_guides(guides, len(evecs1), len(evecs2))
    g1 = None if G1 is None else (G1 if sub1 is None else G1[sub1])
    g2 = None if G2 is None else (G2 if sub2 is None else G2[sub2])
    if sub2 is not None:
        # least squares on the samples for every size k from one QR: the QR of the first k
        # columns is the first k columns of Q and the leading k x k block of R.
        Q, R = np.linalg.qr(E2)
        R_inv = scipy.linalg.solve_triangular(R, np.eye(R.shape[0]))  # leading blocks invert too
    C = fmap_12
    k = min(k1, k2)
    while k < k_final:
        p2p = guided_p2p(C, E1, E2, g1, g2, device=device)
        k = min(k + step, k_final)
        if sub2 is None:
            C = p2p_to_fmap(p2p, E1, E2, mass2, k1=k, k2=k)
        else:
            C = R_inv[:k, :k] @ (Q[:, :k].T @ E1[p2p, :k])
    if not full_map and sub1 is not None:
        return C, guided_p2p(C, E1, E2, g1, g2, device=device)
    if refine_iters and refine_subset is not None:
        # least squares on the rows of shape 2's subset; their matches are searched among all
        # vertices of shape 1, so that the exact correspondent is always available
        F2 = evecs2[refine_subset, :k_final]
        Qr, Rr = np.linalg.qr(F2)
        E1_all = evecs1[:, :k_final]
        g2r = None if G2 is None else G2[refine_subset]
        for _ in range(refine_iters):
            p2p_sub = guided_p2p(C, E1_all, F2, G1, g2r, device=device)
            C = scipy.linalg.solve_triangular(Rr, Qr.T @ E1_all[p2p_sub])
        return C, guided_p2p(C, evecs1, evecs2, G1, G2, device=device)
    p2p = guided_p2p(C, evecs1, evecs2, G1, G2, device=device)
    for _ in range(refine_iters):
        C = p2p_to_fmap(p2p, evecs1, evecs2, mass2, k1=k_final, k2=k_final)
        p2p = guided_p2p(C, evecs1, evecs2, G1, G2, device=device)
    return C, p2p


def _check_growth(k_final: int, step: int, evecs1: np.ndarray, evecs2: np.ndarray) -> None:
    """The arguments of a ZoomOut growth: enough eigenvectors on both shapes, a positive step."""
    if k_final > evecs1.shape[1] or k_final > evecs2.shape[1]:
        raise ValueError(f"ZoomOut to k={k_final} needs that many eigenvectors on both shapes "
                         f"(have {evecs1.shape[1]} and {evecs2.shape[1]}).")
    if step < 1:
        raise ValueError(f"ZoomOut step must be >= 1, got {step}.")


def bijective_zoomout(fmap_12: np.ndarray, fmap_21: np.ndarray, evecs1: np.ndarray, evecs2: np.ndarray,
                      mass1: np.ndarray, mass2: np.ndarray, *, k_final: int, step: int = 1,
                      refine_iters: int = 0, device: str = "cpu"
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ZoomOut of both directions' maps together, each vertex-map step asking for bijectivity.

    Plain ZoomOut (:func:`zoomout`) sends vertex j of shape 2 to the source vertex nearest in
    ``Phi1 C12^T`` (the map taken as its own inverse). Here ``fmap_12 (k, k)`` and
    ``fmap_21 (k, k)`` grow side by side (after the bijectivity term of Ren et al. 2021,
    "Discrete optimization for shape matching"): vertex j goes to the vertex i of shape 1 that
    minimizes the sum of

    - ``|Phi1[i] - Phi2[j] C12|^2`` (the pull-back the map stands for, ``Pi21 Phi1 = Phi2 C12``),
    - ``|Phi1[i] C21 - Phi2[j]|^2`` (bijectivity: ``Pi12 Phi2 = Phi1 C21``, so ``Pi21 Phi1 C21 = Phi2``),
    - ``|Phi1[i] C12^T - Phi2[j]|^2`` (plain ZoomOut's term),

    and the reverse map alike; each map is then re-fitted from its vertex map at the next size,
    and ``refine_iters`` more times at ``k_final``. Every step runs on all vertices (three times
    the embedding width of plain ZoomOut, both directions). Returns
    ``(fmap_12, fmap_21, p2p_21, p2p_12)`` at size ``k_final``.
    """
    k = fmap_12.shape[0]
    if fmap_12.shape != (k, k) or fmap_21.shape != (k, k):
        raise ValueError(f"bijective ZoomOut grows square maps of one size; got {fmap_12.shape} and {fmap_21.shape}.")
    _check_growth(k_final, step, evecs1, evecs2)
    if refine_iters < 0:
        raise ValueError(f"refine_iters must be >= 0, got {refine_iters}.")
    C12, C21 = fmap_12, fmap_21
    left = refine_iters
    while True:
        E1, E2 = evecs1[:, :k], evecs2[:, :k]
        p2p_21 = knn_blocked(np.hstack([E2 @ C12, E2, E2]), np.hstack([E1, E1 @ C21, E1 @ C12.T]), device=device)
        p2p_12 = knn_blocked(np.hstack([E1 @ C21, E1, E1]), np.hstack([E2, E2 @ C12, E2 @ C21.T]), device=device)
        if k >= k_final:
            if left == 0:
                return C12, C21, p2p_21, p2p_12
            left -= 1
        k = min(k + step, k_final)
        C12 = p2p_to_fmap(p2p_21, evecs1, evecs2, mass2, k1=k, k2=k)
        C21 = p2p_to_fmap(p2p_12, evecs2, evecs1, mass1, k1=k, k2=k)


def guided_p2p(fmap_12: np.ndarray, evecs1: np.ndarray, evecs2: np.ndarray, guide1: np.ndarray | None = None,
               guide2: np.ndarray | None = None, *, device: str = "cpu") -> np.ndarray:
    """``p2p_21`` from ``fmap_12 (k2, k1)`` as :func:`~shapecorr.fmap.convert.fmap_to_p2p`, with
    per-vertex guides ``guide1 (n1, d)``, ``guide2 (n2, d)`` (or None) appended to the spectral
    embeddings: vertex j of shape 2 goes to the vertex i of shape 1 nearest in
    ``[Phi1[i] C^T, guide1[i]]`` to ``[Phi2[j], guide2[j]]``."""
    if guide1 is None or guide2 is None:
        return fmap_to_p2p(fmap_12, evecs1, evecs2, device=device)
    k2, k1 = fmap_12.shape
    emb1 = np.hstack([evecs1[:, :k1] @ fmap_12.T, guide1])  # (n1, k2 + d)
    emb2 = np.hstack([evecs2[:, :k2], guide2])  # (n2, k2 + d)
    return knn_blocked(emb2, emb1, device=device)


def feature_guides(features1: np.ndarray, features2: np.ndarray, weight: float, dims: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Guides for :func:`zoomout` from per-vertex features ``(n1, d)``, ``(n2, d)`` of both shapes:
    centred on their joint mean, projected onto their ``dims`` leading joint principal axes (None:
    all; fewer dimensions make each vertex-map step cheaper) and scaled so that the mean squared
    norm of a row is ``weight**2`` (the spectral embedding of ``k`` mass-orthonormal
    eigenfunctions on a unit-area shape has a mean squared row norm of ``k``)."""
    f1, f2 = np.asarray(features1, dtype=np.float64), np.asarray(features2, dtype=np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features of both shapes must be (n, d) with the same d; got {f1.shape} and {f2.shape}.")
    if weight < 0 or not np.isfinite(weight):
        raise ValueError(f"the guide weight must be a finite number >= 0, got {weight!r}.")
    both = np.vstack([f1, f2])
    mean = both.mean(0)
    if dims is not None and dims < both.shape[1]:
        # principal axes of the joint features (the d x d covariance: cheap for d ~ 100)
        cov = (both - mean).T @ (both - mean)
        _, vecs = np.linalg.eigh(cov)
        axes = vecs[:, ::-1][:, :dims]
    else:
        axes = np.eye(both.shape[1])
    g1, g2 = (f1 - mean) @ axes, (f2 - mean) @ axes
    rms = np.sqrt(np.mean(np.concatenate([(g1 ** 2).sum(1), (g2 ** 2).sum(1)])))
    scale = weight / rms if rms > 0 else 0.0
    return g1 * scale, g2 * scale


def feature_agreement(p2p_21: np.ndarray, features1: np.ndarray, features2: np.ndarray, vertices1: np.ndarray,
                      *, radius: float = 0.05, queries: np.ndarray | None = None, device: str = "cpu") -> float:
    """How far per-vertex features agree with a vertex map: the fraction of the target vertices
    (``queries``: these target vertices only) whose nearest-feature source vertex lies within
    ``radius`` (Euclidean, in the units of ``vertices1``: a unit-area source makes it a fraction
    of sqrt(area)) of the source vertex ``p2p_21`` sends them to.

    Near 1 where the features are as precise as the map (the learned features on the humans they
    were trained on: 0.95-1.00 on FAUST_r); 0.2-0.8 on TOSCA_r animals (median 0.3-0.5), whose maps
    the features hold the right way round but not to the vertex."""
    f1, f2 = np.asarray(features1), np.asarray(features2)
    p2p_21 = np.asarray(p2p_21)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1] or len(f2) != len(p2p_21) \
            or len(f1) != len(vertices1):
        raise ValueError(f"features must be (n1={len(vertices1)}, d) and (n2={len(p2p_21)}, d) arrays with the same "
                         f"d; got {f1.shape} and {f2.shape}.")
    rows = np.arange(len(f2)) if queries is None else np.asarray(queries)
    nearest = knn_blocked(f2[rows].astype(np.float32), f1.astype(np.float32), device=device)
    return maps_agreement(nearest, p2p_21[rows], vertices1, radius)


def maps_agreement(p2p_a: np.ndarray, p2p_b: np.ndarray, vertices1: np.ndarray, radius: float) -> float:
    """The fraction of target vertices that two vertex maps (target -> source) send to points of
    the source within ``radius`` of each other (Euclidean, in the units of ``vertices1``)."""
    a, b = np.asarray(p2p_a), np.asarray(p2p_b)
    if a.shape != b.shape:
        raise ValueError(f"the two maps have shapes {a.shape} and {b.shape}; they must map the same target.")
    V1 = np.asarray(vertices1, dtype=np.float64)
    return float(np.mean(np.linalg.norm(V1[a] - V1[b], axis=1) <= radius))


def _check_guides(guides, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    G1, G2 = (np.asarray(g) for g in guides)
    if G1.ndim != 2 or G2.ndim != 2 or G1.shape[1] != G2.shape[1] or len(G1) != n1 or len(G2) != n2:
        raise ValueError(f"guides must be (n1={n1}, d) and (n2={n2}, d) arrays with the same d; got "
                         f"{G1.shape} and {G2.shape}.")
    return G1, G2


def farthest_point_sampling_spectral(evecs: np.ndarray, n: int, seed: int = 0, dims: int = 3) -> np.ndarray:
    """``n`` well-spread vertices: farthest-point sampling in a low-dimensional embedding.

    Works on meshes and point clouds alike (uses the first non-constant eigenvectors as
    coordinates would be scale- and pose-dependent)."""
    X = evecs[:, 1:1 + dims] if evecs.shape[1] > dims else evecs
    return farthest_point_sampling(X, n, seed=seed)


def farthest_point_sampling(X: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = min(n, len(X))
    idx = np.empty(n, dtype=np.int64)
    idx[0] = rng.integers(len(X))
    d = ((X - X[idx[0]]) ** 2).sum(1)
    for i in range(1, n):
        idx[i] = int(d.argmax())
        d = np.minimum(d, ((X - X[idx[i]]) ** 2).sum(1))
    return idx


def orientation_score(p2p_21: np.ndarray, vertices1: np.ndarray, vertex_normals1: np.ndarray,
                      vertices2: np.ndarray, faces2: np.ndarray, face_normals2: np.ndarray | None = None) -> float:
    """How orientation-preserving a vertex map is, in ``[-1, 1]``.

    Each face ``(a, b, c)`` of shape 2 is carried to the triangle ``(p(a), p(b), p(c))`` on
    shape 1; its normal is compared with shape 1's surface normal there. A correct map gives
    mostly agreeing normals (score near +1); a left-right flip reverses orientation (score
    near -1). Triangles collapsed by the map are ignored. Both shapes' normals must point the
    same way (outward); see :func:`shapecorr.spectral.orientation_sign`.
    """
    tri = p2p_21[faces2]  # (m, 3) vertices of shape 1
    ok = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    if not ok.any():
        return 0.0
    tri = tri[ok]
    p = vertices1[tri]
    n_img = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    n_ref = vertex_normals1[tri].sum(1)
    s = np.sign(np.einsum("ij,ij->i", n_img, n_ref))
    return float(s.sum() / len(faces2))


def orientation_score_fmap(fmap_12: np.ndarray, evecs1: np.ndarray, mass1: np.ndarray, vertices1: np.ndarray,
                           vertex_normals1: np.ndarray, evecs2: np.ndarray, vertices2: np.ndarray,
                           faces2: np.ndarray) -> float:
    """How orientation-preserving a functional map is, in ``[-1, 1]`` (area-weighted).

    Shape 1's coordinates and outward normals are carried to shape 2 through ``fmap_12``
    (``Phi2 C Phi1^T M1 X1``: a smooth image of shape 2 in shape 1's space); each face of
    shape 2 is then compared, in that image, with the carried normal. Unlike
    :func:`orientation_score` on a vertex map, it is not disturbed by the jitter of nearest
    neighbours, so it does not depend on the resolution: correct maps score about 0.9 on
    FAUST_r, whole left-right flips about -0.8, partial flips in between. ``faces2`` must be
    wound outward.
    """
    k2, k1 = fmap_12.shape
    proj = evecs1[:, :k1].T @ (mass1[:, None] * np.hstack([vertices1, vertex_normals1]))  # (k1, 6)
    img = evecs2[:, :k2] @ (fmap_12 @ proj)  # (n2, 6)
    x, nrm = img[:, :3], img[:, 3:]
    n_img = np.cross(x[faces2[:, 1]] - x[faces2[:, 0]], x[faces2[:, 2]] - x[faces2[:, 0]])
    n_ref = nrm[faces2].sum(1)
    sign = np.sign(np.einsum("ij,ij->i", n_img, n_ref))
    v = vertices2[faces2]
    area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    total = area.sum()
    return float((sign * area).sum() / total) if total > 0 else 0.0
