"""Heat diffusion ``u(t) = exp(-t M^-1 L) u0``, spectrally or by implicit Euler."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla


def heat_diffusion(u0: np.ndarray, t: float, *, basis=None, L=None, mass=None, steps: int = 1) -> np.ndarray:
    """Diffuse ``u0`` (``(n,)`` or ``(n, p)``) for time ``t``.

    With ``basis`` (an :class:`~shapecorr.spectral.Eigenbasis`): the truncated spectral
    solution. With ``L`` and ``mass``: ``steps`` implicit Euler steps ``(M + dt L) u' = M u``
    (exact in the limit, unconditionally stable).
    """
    if t < 0:
        raise ValueError(f"diffusion time must be >= 0, got {t}.")
    u0 = np.asarray(u0, dtype=np.float64)
    if basis is not None:
        coeffs = basis.project(u0)
        decay = np.exp(-t * basis.evals)
        coeffs = coeffs * (decay[:, None] if coeffs.ndim > 1 else decay)
        return basis.unproject(coeffs)
    if L is None or mass is None:
        raise ValueError("give either basis= or both L= and mass=.")
    dt = t / steps
    solve = sla.factorized((sp.diags(mass) + dt * L).tocsc())
    u = u0
    for _ in range(steps):
        rhs = mass[:, None] * u if u.ndim > 1 else mass * u
        u = np.column_stack([solve(rhs[:, j]) for j in range(rhs.shape[1])]) if u.ndim > 1 else solve(rhs)
    return u
