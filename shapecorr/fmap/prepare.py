"""What the functional-map solvers need of one shape: normalized shape, eigenbasis, normals.

:func:`prepare_shape` is the one place a shape is normalized (unit area, centred) and given its
eigenbasis and outward normals; the pipeline, texture transfer (re-using a match's bases) and
training call it. Descriptors are a separate step (:func:`shape_descriptors`): only the
axiomatic solve needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import Shape
from ..spectral import eigenbasis, hks, laplacian, normalize_descriptors, orientation_sign, wks


@dataclass(frozen=True)
class Prepared:
    shape: Shape  # normalized (centred, unit area)
    evals: np.ndarray  # (k,)
    evecs: np.ndarray  # (n, k), mass-orthonormal
    mass: np.ndarray  # (n,)
    sign: float  # +1 outward faces, -1 inward (1.0 for point clouds)
    # outward unit normals: a mesh's (faces' winding corrected by ``sign``); a point cloud's
    # estimated and oriented (shapecorr.core.pointcloud) when asked for, else None
    vertex_normals: np.ndarray | None

    @property
    def faces_outward(self) -> np.ndarray | None:
        """The faces wound outward (None for a point cloud)."""
        f = self.shape.faces
        if f is None:
            return None
        return f if self.sign > 0 else f[:, ::-1]


def prepare_shape(shape: Shape, k: int, *, laplacian_kind: str = "auto", point_cloud_normals: bool = False,
                  device: str = "cpu", cache: bool | None = None) -> Prepared:
    """Normalize ``shape`` and compute its first ``k`` eigenpairs (cached) and outward normals.

    ``point_cloud_normals``: estimate outward normals of a point cloud (the learned features'
    tangent frames need them); meshes always have theirs.
    """
    if shape.is_mesh:
        norm = shape.normalized()
    else:  # unit area from the point-cloud mass (the surface area it represents)
        _, mass_raw = laplacian(shape, laplacian_kind, cache=cache)
        norm = shape.normalized(area=float(mass_raw.sum()))
    basis = eigenbasis(norm, k, laplacian_kind=laplacian_kind, device=device, cache=cache)
    if norm.is_mesh:
        sign = orientation_sign(norm.vertices, norm.faces)
        vn = norm.vertex_normals * sign
    else:
        sign = 1.0
        vn = None
        if point_cloud_normals:
            from ..core.pointcloud import outward_normals

            vn = outward_normals(norm.vertices)
    return Prepared(norm, basis.evals, basis.evecs, basis.mass, sign, vn)


def shape_descriptors(P: Prepared, *, descriptor: str = "wks", n_descriptors: int = 100, step: int = 2,
                      k_descriptor: int = 40) -> np.ndarray:
    """Descriptors ``(n, p)`` for the functional-map solve: WKS or HKS from the first
    ``k_descriptor`` eigenpairs, every ``step``-th kept, mass-normalized."""
    kd = min(k_descriptor, len(P.evals))
    if descriptor == "wks":
        descr = wks(P.evals[:kd], P.evecs[:, :kd], n_descriptors)
    elif descriptor == "hks":
        descr = hks(P.evals[:kd], P.evecs[:, :kd], n_times=n_descriptors)
    else:
        raise ValueError(f"unknown descriptor {descriptor!r}; use 'wks' or 'hks'.")
    return normalize_descriptors(descr[:, :: max(1, step)], P.mass)
