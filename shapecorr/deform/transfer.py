"""Deformation transfer through a match (Sumner & Popovic, SIGGRAPH 2004).

Given a source shape at rest, the same source deformed (same vertices, moved) and a
:class:`~shapecorr.result.Match` from the source to a target, deform the target the same way:

1. the deformation gradient of every source triangle (:func:`.gradients.deformation_gradients`);
2. every target triangle takes the gradient of one source triangle: the source face that
   contains the matched point of the target triangle's centroid (the three corners' matched
   points on the source surface, averaged, projected back onto the source faces around them)
   - one robust rule that needs no triangle-to-triangle correspondence and tolerates meshes of
   different resolution;
3. the gradients are conjugated by the rotation that best aligns the source onto the target
   (Kabsch on the matched points), so that a target lying in another orientation is deformed
   in its own frame (``align=False`` skips this; the rotation is the identity when both shapes
   lie the same way);
4. the target vertices are the least-squares fit of those gradients (:class:`.gradients.PoissonSolver`),
   with the target's centroid moved by the mean displacement of its matched source points.

>>> import shapecorr
>>> from shapecorr.deform import transfer_deformation
>>> m = shapecorr.match(source, target)
>>> new_target_vertices = transfer_deformation(source, source_deformed, target, m)

SOURCE_DEFORMED meshed differently from SOURCE (two scans of one person) is first read at the
source's vertices through a match ``source_deformed -> source``: :func:`deformed_at_source`.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from ..fmap.surface import candidate_faces, project_on_faces
from .gradients import PoissonSolver, deformation_gradients
from .precise import precise_map
from .rigid import best_rotation

log = logging.getLogger(__name__)

__all__ = [
    "DeformationTransfer",
    "TransferPlan",
    "best_rotation",
    "deformed_at_source",
    "same_mesh",
    "target_to_source_faces",
    "transfer_deformation",
]


class DeformationTransfer(NamedTuple):
    """What :func:`transfer_deformation` computed, for reports and pictures."""

    vertices: np.ndarray  # (n2, 3) the deformed target
    face_map: np.ndarray  # (m2,) source face whose gradient each target face takes
    rotation: np.ndarray  # (3, 3) source frame -> target frame (identity without align)
    gradients: np.ndarray  # (m2, 3, 3) the gradients prescribed to the target faces


def same_mesh(a, b) -> bool:
    """True when two shapes have the same vertex count and the same faces (one mesh, moved)."""
    return (a.n_vertices == b.n_vertices and a.is_mesh and b.is_mesh and a.faces.shape == b.faces.shape
            and bool(np.array_equal(a.faces, b.faces)))


def _check_meshes(source, target) -> None:
    for shape, what in ((source, "source"), (target, "target")):
        if not getattr(shape, "is_mesh", False):
            raise ValueError(f"{getattr(shape, 'name', what)}: the {what} must be a triangle mesh "
                             "(deformation gradients live on triangles).")


def _surface_points(match, source, target, method: str, surface_map, device: str, **precise_kwargs):
    """Per target vertex: (source face, barycentric weights) of its matched point on the source."""
    if surface_map is not None:
        face, bary = np.asarray(surface_map.face, dtype=np.int64), np.asarray(surface_map.bary, dtype=np.float64)
        if face.shape != (target.n_vertices,) or bary.shape != (target.n_vertices, 3):
            raise ValueError(f"surface_map must give one source point per target vertex ({target.n_vertices}); "
                             f"got face {face.shape}, bary {bary.shape}.")
        return face, bary
    if match is None:
        raise ValueError("transfer_deformation needs a match (source -> target) or a surface_map.")
    smap = precise_map(match, source, target, method=method, device=device, **precise_kwargs)
    return np.asarray(smap.face), np.asarray(smap.bary)


def target_to_source_faces(source, target, face: np.ndarray, bary: np.ndarray, rings: int = 1) -> np.ndarray:
    """For every target face, the source face holding the matched point of its centroid ``(m2,)``.

    ``face, bary`` place each target vertex on the source surface. The centroid's matched point
    is the mean of its three corners' matched points, projected onto the source faces around
    those points (``rings`` rings of faces around the nearest source vertex of each corner), so a
    target triangle whose corners land on different source faces still picks one of them (or
    one between them), never a far-away face.
    """
    V1, F1 = source.vertices, source.faces
    pts = np.einsum("nk,nkd->nd", bary, V1[F1[face]])  # (n2, 3) matched points
    F2 = target.faces
    centre = pts[F2].mean(axis=1)  # (m2, 3)
    nearest = F1[face, bary.argmax(axis=1)]  # (n2,) nearest source vertex of each matched point
    per_corner = candidate_faces(F1, nearest, len(V1), rings=rings)  # (n2, c)
    cand = np.concatenate([per_corner[F2[:, k]] for k in range(3)], axis=1)  # (m2, 3c), -1 padded
    smap, _ = project_on_faces(centre, V1, F1, cand)
    return np.asarray(smap.face)


def deformed_at_source(source, source_deformed, match=None, *, method: str = "spectral", surface_map=None,
                       device: str = "cpu", **precise_kwargs) -> np.ndarray:
    """Positions ``(n1, 3)`` of the deformed source at the rest source's vertices.

    ``source_deformed``: an ``(n1, 3)`` array, or a shape. The same mesh (same vertex count and
    faces) is taken as it is; a shape meshed differently needs ``match`` from ``source_deformed``
    to ``source`` (``shapecorr.match(source_deformed, source)``; its precise points of the source's
    vertices on the deformed surface are used, ``method`` as in :func:`shapecorr.deform.precise.precise_map`)
    or ``surface_map`` (one point of ``source_deformed`` per source vertex). Other keywords go to
    :func:`~shapecorr.deform.precise.precise_map` (e.g. ``progress`` for ``method="register"``).

    For a pose change between two scans ``method="register"`` is the robust choice: the source is
    deformed onto the other scan as rigidly as possible, so thin parts (forearms, fingers) stay
    whole where the spectral points may fold them.
    """
    if not hasattr(source_deformed, "vertices"):
        d = np.asarray(source_deformed, dtype=np.float64)
        if d.shape != (source.n_vertices, 3):
            raise ValueError(f"the deformed source has shape {d.shape} but the source has {source.n_vertices} "
                             "vertices; give an (n_source, 3) array or a shape with a match to the source.")
        return d
    if same_mesh(source, source_deformed) and match is None and surface_map is None:
        return np.asarray(source_deformed.vertices, dtype=np.float64)
    if not source_deformed.is_mesh:
        raise ValueError(f"{source_deformed.name}: a deformed source meshed differently must be a mesh "
                         "(its surface carries the source's points).")
    face, bary = _surface_points(match, source_deformed, source, method, surface_map, device, **precise_kwargs)
    return np.einsum("nk,nkd->nd", bary, source_deformed.vertices[source_deformed.faces[face]])


def transfer_deformation(source, source_deformed, target, match=None, *, method: str = "spectral",
                         surface_map=None, align: bool = True, device: str = "cpu",
                         details: bool = False):
    """Apply the change ``source -> source_deformed`` to ``target``; the new target vertices ``(n2, 3)``.

    source, target : :class:`~shapecorr.core.Shape` triangle meshes (the target in its own vertex
        order, which the result keeps).
    source_deformed : ``(n1, 3)`` positions of the source's vertices, or a shape (see
        :func:`deformed_at_source`; a shape meshed differently must be brought to the source's
        vertices with that function first).
    match : :class:`~shapecorr.result.Match` source -> target (``shapecorr.match(source, target)``).
    method : how target vertices land on the source surface: ``"spectral"`` (precise points
        through the functional map, default) or ``"vertex"`` (the vertex map); any method of
        :func:`shapecorr.deform.precise.precise_map`. ``surface_map`` (face + barycentric weights per
        target vertex) replaces both.
    align : deform the target in its own frame (conjugate the gradients by the best rotation
        from the source onto the target); without it the gradients are used as they are.
    details : return a :class:`DeformationTransfer` (vertices, face map, rotation, gradients).
    """
    _check_meshes(source, target)
    if hasattr(source_deformed, "vertices") and not same_mesh(source, source_deformed):
        raise ValueError(f"{source_deformed.name}: the deformed source is meshed differently from the source "
                         f"({source_deformed.n_vertices} vs {source.n_vertices} vertices or other faces); read it "
                         "at the source's vertices first: deformed_at_source(source, source_deformed, "
                         "shapecorr.match(source_deformed, source)).")
    plan = TransferPlan(source, target, match, method=method, surface_map=surface_map, align=align, device=device)
    return plan.apply(deformed_at_source(source, source_deformed), details=details)


class TransferPlan:
    """Everything :func:`transfer_deformation` needs but the deformed source, computed once: where
    each target vertex lands on the source, the source face each target face takes its gradient
    from, the rotation into the target's frame and the target's factored Poisson system. Each
    :meth:`apply` is then one set of gradients and one back-substitution (an animation of the
    source carried frame by frame, or an edit carried while it is dragged).

    >>> plan = TransferPlan(source, target, m)                 # the slow part, once
    >>> frames = [plan.apply(D) for D in source_animation]     # (n2, 3) each
    """

    def __init__(self, source, target, match=None, *, method: str = "spectral", surface_map=None,
                 align: bool = True, device: str = "cpu"):
        _check_meshes(source, target)
        if match is not None and surface_map is None:
            match.check_shapes(source, target, allow_other=True)
        self.source, self.target = source, target
        self.face, self.bary = _surface_points(match, source, target, method, surface_map, device)
        self.face_map = target_to_source_faces(source, target, self.face, self.bary)
        self.points = np.einsum("nk,nkd->nd", self.bary, source.vertices[source.faces[self.face]])
        self.rotation = best_rotation(self.points, target.vertices) if align else np.eye(3)
        self.solver = PoissonSolver(target.vertices, target.faces)
        mass = np.zeros(target.n_vertices)
        np.add.at(mass, target.faces.ravel(), np.repeat(self.solver.areas / 3.0, 3))
        self.mass = mass / max(mass.sum(), 1e-300)

    def apply(self, source_deformed, *, details: bool = False):
        """The target deformed as the source moved to ``source_deformed`` (``(n1, 3)``, the source's
        vertex order); a :class:`DeformationTransfer` with ``details``."""
        source, R = self.source, self.rotation
        D = np.asarray(source_deformed, dtype=np.float64)
        if D.shape != (source.n_vertices, 3):
            raise ValueError(f"the deformed source has shape {D.shape} but the source has {source.n_vertices} "
                             "vertices; give an (n_source, 3) array.")
        if not np.isfinite(D).all():
            raise ValueError("the deformed source contains NaN or infinite coordinates.")
        Q = R @ deformation_gradients(source.vertices, source.faces, D)[self.face_map] @ R.T  # (m2, 3, 3)
        moved = np.einsum("nk,nkd->nd", self.bary, D[source.faces[self.face]]) - self.points
        X = self.solver.solve(Q, shift=(self.mass @ moved) @ R.T)
        log.info("deformation transfer: %d target faces took gradients from %d source faces", len(self.face_map),
                 len(np.unique(self.face_map)))
        return DeformationTransfer(X, self.face_map, R, Q) if details else X
