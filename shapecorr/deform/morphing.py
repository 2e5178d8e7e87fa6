"""In-between shapes of a matched pair: as-rigid-as-possible interpolation of deformation gradients.

Linear blending of vertex positions shrinks whatever rotates (half way through a 180-degree turn
an arm passes through the body). Instead, as in Alexa, Cohen-Or & Levin ("As-Rigid-As-Possible
Shape Interpolation", SIGGRAPH 2000) and Xu et al. ("Poisson Shape Interpolation", 2005):

1. the source's vertices are placed on the target through the match (the *end* positions, in
   the source's mesh);
2. a global rigid motion (Kabsch, centroids and the best rotation) is factored out, and
   interpolated by itself: the rotation along its geodesic (``exp(t log R)``), the centroid
   linearly;
3. every triangle's deformation gradient from the source to the aligned end is split by polar
   decomposition ``Q = R S`` (rotation ``R``, symmetric stretch ``S``);
4. at time ``t``: ``Q(t) = exp(t log R) ((1 - t) I + t S)``. ``log R`` is a rotation vector whose
   angle is only defined up to multiples of 2 pi; neighbouring triangles must take the same
   branch, or a twisted limb tears: the branches are chosen by a breadth-first walk over the
   faces, from the least-rotated face of each connected part, each face taking the branch
   closest to the one of the face it was reached from;
5. the vertices are the Poisson fit of ``Q(t)`` (:class:`.gradients.PoissonSolver`, factored
   once for all frames), each connected part centred on the interpolated centroid.

Frame 0 is the source, the last frame the source's vertices where the map puts them on the
target (the target itself when the map is exact and the meshes are the same), both exactly:
no rigid alignment is needed at the ends (the global motion is undone at ``t = 1``).

>>> from shapecorr.deform import morph
>>> frames = morph(source, target, shapecorr.match(source, target), n_frames=9)   # 9 x (n1, 3)
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from .gradients import PoissonSolver, deformation_gradients
from .rigid import best_rotation

log = logging.getLogger(__name__)

__all__ = ["Morph", "consistent_rotation_vectors", "end_positions", "morph", "polar_decomposition"]


def polar_decomposition(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q = R S`` for every ``Q (m, 3, 3)``: rotations ``R`` (det +1) and symmetric ``S``.

    An inverted triangle (``det Q < 0``) keeps a proper rotation; its stretch then has one
    negative eigenvalue.
    """
    U, sig, Vt = np.linalg.svd(Q)
    d = np.sign(np.linalg.det(U @ Vt))
    d[d == 0] = 1.0
    U = U.copy()
    U[:, :, 2] *= d[:, None]
    sig = sig.copy()
    sig[:, 2] *= d
    R = U @ Vt
    S = np.transpose(Vt, (0, 2, 1)) @ (sig[:, :, None] * Vt)
    return R, 0.5 * (S + np.transpose(S, (0, 2, 1)))


def _face_adjacency(faces: np.ndarray) -> sp.csr_matrix:
    """Faces sharing an edge, as a symmetric ``(m, m)`` sparse matrix."""
    m = len(faces)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e.sort(axis=1)
    fid = np.tile(np.arange(m), 3)
    _, key = np.unique(e, axis=0, return_inverse=True)
    key = key.ravel()
    inc = sp.csr_matrix((np.ones(len(key)), (fid, key)), shape=(m, int(key.max()) + 1))
    adj = (inc @ inc.T).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    return adj


def consistent_rotation_vectors(R: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(m, 3)`` of ``R (m, 3, 3)`` on consistent branches across neighbouring faces.

    Each face's angle is taken from ``theta + 2 pi k`` (about its own axis) with the ``k`` that
    brings it closest to the rotation vector of the face the breadth-first walk reached it from;
    each connected part starts at its least-rotated face (principal branch). ``exp`` of the
    result gives back ``R`` exactly.
    """
    from scipy.sparse.csgraph import breadth_first_order, connected_components
    from scipy.spatial.transform import Rotation

    w = Rotation.from_matrix(R).as_rotvec()  # principal branch, angle in [0, pi]
    theta = np.linalg.norm(w, axis=1)
    axis = np.where(theta[:, None] > 1e-12, w / np.maximum(theta, 1e-300)[:, None], 0.0)
    adj = _face_adjacency(faces)
    n_comp, labels = connected_components(adj, directed=False)
    out = w.copy()
    two_pi = 2.0 * np.pi
    for c in range(n_comp):
        members = np.flatnonzero(labels == c)
        root = int(members[np.argmin(theta[members])])
        order, pred = breadth_first_order(adj, root, directed=False, return_predecessors=True)
        for f in order[1:]:
            wp = out[pred[f]]
            a = axis[f]
            k = np.round((wp[0] * a[0] + wp[1] * a[1] + wp[2] * a[2] - theta[f]) / two_pi)
            if k:
                out[f] = a * (theta[f] + two_pi * k)
    return out


def _rotations(rotvecs: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(rotvecs).as_matrix().reshape(-1, 3, 3)


class Morph:
    """In-between shapes of one mesh ``(vertices, faces)`` and its end positions ``end (n, 3)``.

    >>> m = Morph(source.vertices, source.faces, end)
    >>> m.frame(0.5)                  # (n, 3) half way
    >>> m.frames(9)                   # 9 frames, t = 0 ... 1

    ``align``: factor out a global rigid motion and interpolate it on its own (the default; the
    ends are exact either way, but a large global rotation is then one clean turn rather than a
    rotation every triangle makes by itself).
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, end: np.ndarray, *, align: bool = True):
        self.solver = PoissonSolver(vertices, faces)
        X0 = self.solver.vertices
        X1 = np.asarray(end, dtype=np.float64)
        if X1.shape != X0.shape:
            raise ValueError(f"end positions {X1.shape} do not match the vertices {X0.shape}.")
        if not np.all(np.isfinite(X1)):
            raise ValueError("end positions contain NaN or infinite coordinates.")
        w = self.solver._mass
        self.c0, self.c1 = w @ X0 / w.sum(), w @ X1 / w.sum()
        self.R_global = best_rotation(X1, X0, w) if align else np.eye(3)  # end frame -> source frame
        X1a = (X1 - self.c1) @ self.R_global.T + self.c0
        from scipy.spatial.transform import Rotation

        self.w_global = Rotation.from_matrix(self.R_global).as_rotvec()  # principal branch (|angle| <= pi)
        self.C0, self.C1 = self.solver.centroids(X0), self.solver.centroids(X1a)
        R, self.S = polar_decomposition(deformation_gradients(X0, self.solver.faces, X1a))
        self.rotvecs = consistent_rotation_vectors(R, self.solver.faces)

    def gradients(self, t: float) -> np.ndarray:
        """``Q(t) = exp(t log R) ((1 - t) I + t S)`` per face ``(m, 3, 3)``."""
        return _rotations(t * self.rotvecs) @ ((1.0 - t) * np.eye(3) + t * self.S)

    def frame(self, t: float) -> np.ndarray:
        """Vertex positions ``(n, 3)`` at time ``t`` (0: the source, 1: the end positions)."""
        t = float(t)
        Y = self.solver.solve(self.gradients(t), centroids=(1.0 - t) * self.C0 + t * self.C1)
        Rt = _rotations((t * self.w_global)[None])[0].T  # the global turn, source frame -> end frame
        return (Y - self.c0) @ Rt.T + (1.0 - t) * self.c0 + t * self.c1

    def frames(self, n_frames: int) -> list[np.ndarray]:
        if int(n_frames) < 2:
            raise ValueError(f"n_frames must be at least 2 (the two ends), got {n_frames}.")
        return [self.frame(t) for t in np.linspace(0.0, 1.0, int(n_frames))]


#: where a morph's source vertices land on a target mesh by default: the points of the
#: registration (the target deformed onto the source by the ARAP non-rigid ICP, the source's
#: vertices then on its surface). On 16 pairs with a ground truth (FAUST_r, TOSCA_r, cat -> lion,
#: Spot; scripts/bench_morph.py, docs/bench/morph_cpu) it puts 2.3 % of the faces upside down
#: on the target (0.02-5.3 %) where the spectral points put 11.4 % (0.6-16.5 %), stretches 1.4 %
#: of the edges more than 3x (8.1 %), and lands nearer the truth on 15 of the 16 pairs (mean
#: 1.26 against 1.70 x100), for about 3 s more CPU at 5k vertices.
END_METHOD = "register"


def end_positions(source, target, match=None, *, method: str = END_METHOD, surface_map=None,
                  device: str = "cpu", **precise_kwargs) -> np.ndarray:
    """Where the source's vertices land on the target ``(n1, 3)``.

    ``surface_map`` (face of the target + barycentric weights per source vertex) is used as
    given; otherwise ``method="vertex"`` takes ``match.p2p_12`` (also for a point-cloud target),
    ``"register"`` (default, :data:`END_METHOD`) the points of a registration of the target onto
    the source and ``"spectral"`` precise points through the functional map of the reversed match
    (fitted to ``p2p_12`` in the match's eigenbases): :func:`shapecorr.deform.precise.precise_map`
    on the reversed match, ``precise_kwargs`` (e.g. ``progress``) passed on.
    """
    if surface_map is not None:
        face = np.asarray(surface_map.face, dtype=np.int64)
        bary = np.asarray(surface_map.bary, dtype=np.float64)
        if face.shape != (source.n_vertices,) or bary.shape != (source.n_vertices, 3):
            raise ValueError(f"surface_map must give one target point per source vertex ({source.n_vertices}).")
        return np.einsum("nk,nkd->nd", bary, target.vertices[target.faces[face]])
    if match is None:
        raise ValueError("morph needs a match (source -> target) or a surface_map.")
    match.check_shapes(source, target, allow_other=True)
    if method == "vertex" or not target.is_mesh:
        return np.asarray(target.vertices[np.asarray(match.p2p_12)], dtype=np.float64)
    from ..fmap.precise import SpectralBases, source_was_decimated, spectral_bases
    from .precise import precise_map

    B = spectral_bases(match, source, target, device=device)  # once: for the reversed map and its points
    rev = reversed_match(match, source, target, device=device, bases=B)
    if method == "spectral" and not source_was_decimated(rev, target):
        precise_kwargs.setdefault("bases", SpectralBases(B.evecs2, B.evecs1, B.mass2, B.mass1))
    smap = precise_map(rev, target, source, method=method, device=device, **precise_kwargs)
    return np.einsum("nk,nkd->nd", smap.bary, target.vertices[target.faces[smap.face]])


def reversed_match(match, source, target, *, device: str = "cpu", bases=None):
    """The match ``target -> source``: maps swapped, functional map fitted to ``p2p_12`` in the
    same eigenbases (``C_21 = Phi1^+ Phi2[p2p_12]``, M-orthogonal; ``bases``: the match's
    :func:`~shapecorr.fmap.precise.spectral_bases`, when already computed)."""
    from dataclasses import replace

    from ..fmap import p2p_to_fmap
    from ..fmap.precise import spectral_bases

    B = bases if bases is not None else spectral_bases(match, source, target, device=device)
    k2, k1 = np.shape(match.fmap_12)
    C21 = p2p_to_fmap(np.asarray(match.p2p_12), B.evecs2, B.evecs1, B.mass1, k1=k2, k2=k1)  # (k1, k2)
    info = dict(match.info or {})
    if info.get("k_basis"):
        info["k_basis"] = list(info["k_basis"])[::-1]
    if info.get("proxy"):  # per-shape lists (sizes, ...): the shapes swap places
        info["proxy"] = {key: list(value)[::-1] if isinstance(value, (list, tuple)) else value
                         for key, value in info["proxy"].items()}
    return replace(match, p2p_21=np.asarray(match.p2p_12), p2p_12=np.asarray(match.p2p_21), fmap_12=C21,
                   info=info, source_summary=match.target_summary, target_summary=match.source_summary,
                   source_hash=match.target_hash, target_hash=match.source_hash, vertex_confidence=None)


def morph(source, target, match=None, n_frames: int = 10, *, method: str = END_METHOD, surface_map=None,
          align: bool = True, device: str = "cpu") -> list[np.ndarray]:
    """``n_frames`` in-between shapes from ``source`` to ``target``, as vertex arrays ``(n1, 3)``
    in the source's mesh (``source.faces``), frame 0 the source and the last frame the target as
    the map sees it (:func:`end_positions`: ``method``, ``surface_map``). See :class:`Morph`."""
    if not getattr(source, "is_mesh", False):
        raise ValueError(f"{getattr(source, 'name', 'source')}: the source must be a triangle mesh "
                         "(the in-between shapes are drawn with its faces).")
    end = end_positions(source, target, match, method=method, surface_map=surface_map, device=device)
    return Morph(source.vertices, source.faces, end, align=align).frames(n_frames)
