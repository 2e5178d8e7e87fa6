"""A differentiable functional-map layer: the map that best carries one shape's learned
features onto the other's, in closed form, so that losses on the map train the features.

For features ``F_x (n_x, d)`` and ``F_y (n_y, d)`` and the eigenbases ``Phi_x (n_x, k_x)``,
``Phi_y (n_y, k_y)`` (mass-orthonormal), the spectral coefficients are ``A = Phi_x^T M_x F_x
(k_x, d)`` and ``B = Phi_y^T M_y F_y (k_y, d)``. The functional map ``C_xy (k_y, k_x)`` (it
carries functions on x to functions on y) minimizes

    ||C_xy A - B||^2 + lam_eff * sum_ij D_ij C_ij^2

where ``D (k_y, k_x)`` penalizes coefficients that would break commutativity with the
Laplacians: the resolvent mask of Ren et al. ("Structured regularization of functional map
computations", 2019), as used by DUO-FMNet and ULRSSM, or the plain squared eigenvalue
difference. The penalty is separable per row of ``C``, so each row is one small regularized
least-squares problem ``(A A^T + lam_eff diag(D_i)) c_i = A b_i``; the ``k_y`` problems are
solved as one batched linear solve, and gradients flow to both feature sets.

``lam`` is relative: ``lam_eff = lam * trace(A A^T) / k_x``, so the balance between the data
term and the regularization does not change with the scale of the features or the shapes'
area. Eigenvalues are divided by the larger of the two shapes' largest eigenvalue before the
masks are built (as in the references), so the masks are independent of scale too.

The axiomatic mask can be replaced by one learned from good maps: ``mask=`` takes any ``D``, e.g.
:func:`shapecorr.learn.prior.distill.prior_entry_mask`, a per-entry penalty distilled from the
diffusion prior over functional maps (its relative weight is then about ``lam = 0.03``,
:data:`~shapecorr.learn.prior.distill.PRIOR_LAM`; the mask's scale differs from the resolvent's).
"""

from __future__ import annotations

import torch

#: the exponent of the eigenvalues in the resolvent mask (the value of the references)
RESOLVENT_GAMMA = 0.5


def normalized_evals(evals_x: torch.Tensor, evals_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both shapes' eigenvalues divided by the largest of them (clamped to be >= 0), so that
    masks and commutativity terms do not depend on the shapes' scale."""
    scale = torch.clamp(torch.maximum(evals_x.max(), evals_y.max()), min=1e-12)
    return torch.clamp(evals_x, min=0) / scale, torch.clamp(evals_y, min=0) / scale


def resolvent_mask(evals_x: torch.Tensor, evals_y: torch.Tensor, gamma: float = RESOLVENT_GAMMA) -> torch.Tensor:
    """``D (k_y, k_x)``: how much a coefficient ``C_ij`` breaks commutativity with the resolvent
    of the Laplacians, ``|R(lambda_y_i) - R(lambda_x_j)|^2`` with ``R(l) = (l^g - i) / (l^2g + 1)``
    (Ren et al. 2019). Zero on the diagonal of equal eigenvalues, bounded by 2."""
    lx, ly = normalized_evals(evals_x, evals_y)
    gx = (lx ** gamma)[None, :]
    gy = (ly ** gamma)[:, None]
    re = gy / (gy ** 2 + 1) - gx / (gx ** 2 + 1)
    im = 1 / (gy ** 2 + 1) - 1 / (gx ** 2 + 1)
    return re ** 2 + im ** 2


def laplacian_mask(evals_x: torch.Tensor, evals_y: torch.Tensor) -> torch.Tensor:
    """``D (k_y, k_x) = (lambda_y_i - lambda_x_j)^2`` on normalized eigenvalues: the weight of
    ``C_ij^2`` in ``||C Lambda_x - Lambda_y C||^2``."""
    lx, ly = normalized_evals(evals_x, evals_y)
    return (ly[:, None] - lx[None, :]) ** 2


def spectral_coefficients(feat: torch.Tensor, spec) -> torch.Tensor:
    """``Phi^T M F (k, d)``: the features ``(n, d)`` in the truncated eigenbasis of ``spec``
    (a :class:`~shapecorr.learn.selfsup.SpectralData`)."""
    return spec.evecs.T @ (spec.mass[:, None] * feat)


def solve_fmap(A: torch.Tensor, B: torch.Tensor, mask: torch.Tensor | None, lam: float) -> torch.Tensor:
    """``C (k_y, k_x)`` minimizing ``||C A - B||^2 + lam_eff sum D_ij C_ij^2`` for spectral
    coefficients ``A (k_x, d)``, ``B (k_y, d)`` and mask ``D (k_y, k_x)``; ``lam_eff = lam *
    trace(A A^T) / k_x``. With ``mask=None`` or ``lam=0`` it is the plain least-squares map
    (then ``d >= k_x`` is needed for a unique answer; a tiny ridge keeps it solvable)."""
    k_x = A.shape[0]
    AAt = A @ A.T  # (k_x, k_x)
    rhs = B @ A.T  # (k_y, k_x): row i is (A b_i)^T
    scale = torch.clamp(torch.diagonal(AAt).mean(), min=1e-20)
    eye = torch.eye(k_x, dtype=A.dtype, device=A.device)
    if mask is None or lam == 0:
        return torch.linalg.solve(AAt + 1e-9 * scale * eye, rhs.T).T
    lhs = AAt[None, :, :] + (lam * scale) * torch.diag_embed(mask) + 1e-9 * scale * eye  # (k_y, k_x, k_x)
    return torch.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]


def fmap_from_features(feat_x: torch.Tensor, feat_y: torch.Tensor, spec_x, spec_y, lam: float = 100.0,
                       resolvent: bool = True, gamma: float = RESOLVENT_GAMMA,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """The functional map ``C_xy (k_y, k_x)`` that carries the features ``feat_x (n_x, d)`` onto
    ``feat_y (n_y, d)`` best, regularized towards commuting with the Laplacians (module
    docstring). ``spec_x``, ``spec_y``: :class:`~shapecorr.learn.selfsup.SpectralData` (their
    ``k`` sets the map's size). ``resolvent``: the resolvent mask (True) or the squared
    eigenvalue difference (False). ``mask``: a penalty ``D (k_y, k_x)`` used instead of either
    (e.g. the learned prior's, :func:`~shapecorr.learn.prior.distill.prior_entry_mask`).
    Differentiable with respect to both feature sets."""
    if feat_x.shape[0] != spec_x.evecs.shape[0] or feat_y.shape[0] != spec_y.evecs.shape[0]:
        raise ValueError(f"features ({feat_x.shape[0]}, {feat_y.shape[0]} rows) and eigenbases "
                         f"({spec_x.evecs.shape[0]}, {spec_y.evecs.shape[0]} vertices) must be of the same shapes.")
    if feat_x.shape[1] != feat_y.shape[1]:
        raise ValueError(f"both shapes need features of the same width, got {feat_x.shape[1]} and {feat_y.shape[1]}.")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}.")
    A = spectral_coefficients(feat_x, spec_x)
    B = spectral_coefficients(feat_y, spec_y)
    if mask is None:
        mask = (resolvent_mask(spec_x.evals, spec_y.evals, gamma) if resolvent
                else laplacian_mask(spec_x.evals, spec_y.evals))
    elif tuple(mask.shape) != (spec_y.k, spec_x.k):
        raise ValueError(f"the mask is {tuple(mask.shape)} but the map is ({spec_y.k}, {spec_x.k}) (k_y, k_x).")
    return solve_fmap(A, B, mask.to(A.device, A.dtype), lam)
