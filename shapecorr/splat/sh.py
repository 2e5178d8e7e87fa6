"""Real spherical harmonics up to degree 3, with the constants and sign conventions of 3D
Gaussian Splatting and gsplat: ``colour = clamp_min(sum_k coeff_k Y_k(dir) + 0.5, 0)`` with
``dir`` the unit vector from the camera centre to the Gaussian.

Coefficients are laid out ``(n, (degree + 1) ** 2, 3)``: index 0 is the constant band (the
3DGS PLY's ``f_dc``), the others the view-dependent ``f_rest``.
"""

from __future__ import annotations

import torch

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
      1.445305721320277, -0.5900435899266435)


def n_coeffs(degree: int) -> int:
    """Number of coefficients per colour channel of SH up to ``degree``."""
    return (int(degree) + 1) ** 2


def rgb_to_sh(rgb):
    """Constant-band coefficient giving the colour ``rgb`` in [0, 1] (inverse of :func:`sh_to_rgb`)."""
    return (rgb - 0.5) / C0


def sh_to_rgb(dc):
    """Colour of the constant-band coefficient ``dc`` (no clamping)."""
    return dc * C0 + 0.5


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """The basis ``(n, (degree + 1) ** 2)`` at unit directions ``dirs (n, 3)``."""
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}.")
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, C0)]
    if degree >= 1:
        out += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [C2[0] * xy, C2[1] * yz, C2[2] * (2.0 * zz - xx - yy), C2[3] * xz, C2[4] * (xx - yy)]
    if degree >= 3:
        out += [C3[0] * y * (3 * xx - yy), C3[1] * xy * z, C3[2] * y * (4 * zz - xx - yy),
                C3[3] * z * (2 * zz - 3 * xx - 3 * yy), C3[4] * x * (4 * zz - xx - yy),
                C3[5] * z * (xx - yy), C3[6] * x * (xx - 3 * yy)]
    return torch.stack(out, dim=-1)


def eval_sh(degree: int, coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Colours ``(n, 3)`` of SH ``coeffs (n, K, 3)`` (only the first ``(degree+1)^2`` are used)
    seen along ``dirs (n, 3)`` (normalised here), as gsplat computes them (+0.5, clamped at 0)."""
    k = n_coeffs(degree)
    if coeffs.shape[1] < k:
        raise ValueError(f"SH degree {degree} needs {k} coefficients per channel, got {coeffs.shape[1]}.")
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(degree, d)  # (n, k)
    return torch.clamp_min((basis[:, :, None] * coeffs[:, :k]).sum(1) + 0.5, 0.0)


def rotate_sh(coeffs: torch.Tensor, rotations: torch.Tensor, *, chunk: int = 16384) -> torch.Tensor:
    """SH ``coeffs (n, K, 3)`` turned by ``rotations (n, 3, 3)``: the result seen along ``d``
    equals the input seen along ``R^T d`` (a Gaussian's colour turning with its triangle).

    Each band is closed under rotation: its coefficients are mapped by
    ``pinv(Y_l(D)) Y_l(R^T D)`` for 16 fixed directions ``D`` (exact up to rounding; the
    constant band is unchanged)."""
    n, K, _ = coeffs.shape
    degree = round(K ** 0.5) - 1
    if (degree + 1) ** 2 != K or not 0 <= degree <= 3:
        raise ValueError(f"rotate_sh: {K} coefficients per channel is not an SH degree 0..3.")
    if rotations.shape != (n, 3, 3):
        raise ValueError(f"rotate_sh: rotations must be ({n}, 3, 3), got {tuple(rotations.shape)}.")
    out = coeffs.clone()
    if degree == 0 or n == 0:
        return out
    dtype = torch.float64
    i = torch.arange(16, dtype=dtype) + 0.5
    y = 1.0 - 2.0 * i / 16
    r = (1.0 - y * y).clamp_min(0).sqrt()
    phi = torch.pi * (3.0 - 5.0 ** 0.5) * i
    D = torch.stack([r * torch.cos(phi), y, r * torch.sin(phi)], 1)  # (16, 3): well spread
    Y = sh_basis(degree, D)  # (16, K)
    for s in range(0, n, chunk):
        R = rotations[s:s + chunk].to(dtype)
        YR = sh_basis(degree, (D @ R).reshape(-1, 3)).reshape(len(R), 16, K)  # rows: Y(R^T d)
        c = coeffs[s:s + chunk].to(dtype)
        for band in range(1, degree + 1):
            lo, hi = band * band, (band + 1) * (band + 1)
            M = torch.linalg.pinv(Y[:, lo:hi]) @ YR[:, :, lo:hi]  # (m, 2l+1, 2l+1)
            out[s:s + chunk, lo:hi] = (M @ c[:, lo:hi]).to(coeffs.dtype)
    return out
