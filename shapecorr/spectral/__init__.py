"""Spectral operators: Laplacians, mass matrices, eigenbases, descriptors, orientation operators."""

from .descriptors import hks, normalize_descriptors, wks
from .eigen import Eigenbasis, eigenbasis, eigh_generalized
from .laplacian import (
    LAPLACIAN_KINDS,
    cotan_laplacian,
    cotan_laplacian_torch,
    laplacian,
    point_cloud_laplacian,
    robust_mesh_laplacian,
)
from .operators import (
    face_gradient_basis,
    face_gradients,
    multiplication_operators,
    orientation_operators,
    orientation_sign,
)

__all__ = [
    "laplacian", "robust_mesh_laplacian", "point_cloud_laplacian", "cotan_laplacian",
    "cotan_laplacian_torch", "LAPLACIAN_KINDS", "Eigenbasis", "eigenbasis", "eigh_generalized",
    "hks", "wks", "normalize_descriptors", "face_gradient_basis", "face_gradients",
    "orientation_operators", "multiplication_operators", "orientation_sign",
]
