"""Deform: ARAP editing with handles, non-rigid registration (deformation transfer and morphing
are added alongside).

>>> from shapecorr.deform import ArapDeformer
>>> d = ArapDeformer(shape.vertices, shape.faces, fixed_ids=[0, 1], moved_ids=[42])
>>> new_vertices = d.solve([[0.1, 0.2, 0.3]]).vertices
"""

from .arap import (ArapDeformer, ArapResult, ArapSettings, UnconstrainedPartWarning, arap_deform, arap_energy,
                   deform_shape)
from .gradients import PoissonSolver, deformation_gradients, gradient_operator, solve_from_gradients
from .handles import HandleFileError, Handles, parse_handles, read_handles, write_handles
from .morphing import Morph, end_positions, morph, polar_decomposition
from .registration import Registration, RegisterSettings, register
from .transfer import DeformationTransfer, TransferPlan, deformed_at_source, transfer_deformation

__all__ = [
    "ArapDeformer", "ArapResult", "ArapSettings", "UnconstrainedPartWarning", "arap_deform", "arap_energy",
    "deform_shape", "HandleFileError", "Handles", "parse_handles", "read_handles", "write_handles",
    "register", "RegisterSettings", "Registration",
    "transfer_deformation", "deformed_at_source", "DeformationTransfer", "TransferPlan", "morph", "Morph", "end_positions",
    "polar_decomposition", "deformation_gradients", "gradient_operator", "PoissonSolver", "solve_from_gradients",
]
