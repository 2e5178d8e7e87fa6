"""Generalized eigenbasis ``L phi = lambda M phi`` (M-orthonormal), on CPU or CUDA.

CPU: ARPACK in shift-invert mode around a small negative shift (``L - sigma M`` is positive
definite, so the sparse factorization never meets the zero eigenvalue). On failure it retries
in a principled way: a larger Krylov space and a further shift, then a tiny Tikhonov
regularization of ``L``; if that fails too, :class:`EigensolverError` explains what to try.

CUDA: the symmetric matrix ``M^-1/2 L M^-1/2`` is assembled and decomposed densely on the GPU
(float64; ``8 n^2`` bytes of GPU memory, none on the host) for up to ``gpu_dense_max``
vertices, which gives the same basis as the CPU path up to sign. Larger shapes use the CPU
shift-invert solver (logged): a dense GPU solve there costs more than it saves.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ..core import EigensolverError, Shape, TooFewPointsError
from .laplacian import LAPLACIAN_VERSION, laplacian

log = logging.getLogger(__name__)


class Eigenbasis(NamedTuple):
    evals: np.ndarray  # (k,) ascending, evals[0] ~ 0
    evecs: np.ndarray  # (n, k), evecs.T @ diag(mass) @ evecs = I
    mass: np.ndarray  # (n,) lumped mass (diagonal of M)

    @property
    def k(self) -> int:
        return int(self.evals.shape[0])

    def truncate(self, k: int) -> "Eigenbasis":
        return Eigenbasis(self.evals[:k], self.evecs[:, :k], self.mass)

    def project(self, f: np.ndarray, k: int | None = None) -> np.ndarray:
        """Coefficients ``(k, ...)`` of functions ``f (n, ...)`` in the basis."""
        k = k or self.k
        weighted = self.mass[:, None] * f if f.ndim > 1 else self.mass * f
        return self.evecs[:, :k].T @ weighted

    def unproject(self, coeffs: np.ndarray) -> np.ndarray:
        return self.evecs[:, : coeffs.shape[0]] @ coeffs


def _check_k(n: int, k: int, name: str = "shape"):
    if k < 1:
        raise ValueError(f"the basis size k must be >= 1, got {k}.")
    if k >= n - 1:
        raise TooFewPointsError(
            f"{name} has {n} points, too few for an eigenbasis of size k={k}; use k <= {max(n - 2, 1)} "
            "or a denser shape.")


def _fix_signs(evecs: np.ndarray) -> np.ndarray:
    """Deterministic signs: the largest-magnitude entry of each eigenvector is positive."""
    idx = np.abs(evecs).argmax(axis=0)
    signs = np.sign(evecs[idx, np.arange(evecs.shape[1])])
    signs[signs == 0] = 1
    return evecs * signs


def eigh_generalized(L: sp.spmatrix, mass: np.ndarray, k: int, *, device: str = "cpu",
                     gpu_dense_max: int = 16000, tol: float = 0.0) -> Eigenbasis:
    """The ``k`` smallest eigenpairs of ``L phi = lambda diag(mass) phi``."""
    n = L.shape[0]
    _check_k(n, k)
    dev = str(device)
    if dev.startswith("cuda"):
        if n <= gpu_dense_max:
            return _eigh_dense_torch(L, mass, k, dev)
        log.warning("eigenbasis on CUDA: %d vertices exceed the dense GPU limit (%d); using the CPU "
                    "shift-invert solver for this shape", n, gpu_dense_max)
    elif dev != "cpu":
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda[:i]'.")
    return _eigsh_shift_invert(L, mass, k, tol)


def _eigsh_shift_invert(L, mass, k, tol) -> Eigenbasis:
    n = L.shape[0]
    M = sp.diags(mass).tocsc()
    total = float(mass.sum())
    scale = 1.0 / total if total > 0 else 1.0  # lambda_1 ~ 1/area
    v0 = np.random.default_rng(0).standard_normal(n)
    attempts = [
        dict(sigma=-1e-2 * scale, ncv=None, reg=0.0),
        dict(sigma=-1e-1 * scale, ncv=min(n - 1, max(4 * k + 1, 60)), reg=0.0),
        dict(sigma=-1.0 * scale, ncv=min(n - 1, max(6 * k + 1, 100)), reg=1e-8 * scale),
    ]
    last = None
    for i, a in enumerate(attempts):
        A = L if a["reg"] == 0 else (L + a["reg"] * M)
        try:
            evals, evecs = sla.eigsh(A.tocsc(), k=k, M=M, sigma=a["sigma"], which="LM", v0=v0,
                                     ncv=a["ncv"], tol=tol, maxiter=max(1000, 20 * k))
            if not np.all(np.isfinite(evals)) or not np.all(np.isfinite(evecs)):
                raise EigensolverError("non-finite eigenpairs")
            evals = evals - a["reg"]
            order = np.argsort(evals)
            evals, evecs = evals[order], evecs[:, order]
            # M-orthonormalize (ARPACK's are already, up to round-off)
            norms = np.sqrt((evecs * evecs * mass[:, None]).sum(0))
            evecs = evecs / norms
            if i:
                log.info("eigensolver converged on retry %d (shift %.3g)", i, a["sigma"])
            evals = np.where(np.abs(evals) < 1e-9 * scale, 0.0, evals)
            return Eigenbasis(evals, _fix_signs(evecs), mass)
        except (sla.ArpackNoConvergence, RuntimeError, EigensolverError) as exc:
            last = exc
            log.warning("eigensolver attempt %d failed (%s); retrying", i + 1, exc)
    raise EigensolverError(
        f"the eigensolver did not converge for k={k} on a shape with {n} vertices ({last}). "
        "Try a smaller k, removing tiny disconnected pieces from the mesh, or the point-cloud "
        "Laplacian (laplacian='pointcloud').")


def _eigh_dense_torch(L, mass, k, device) -> Eigenbasis:
    import torch

    if not torch.cuda.is_available() and device.startswith("cuda"):
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu'.")
    n = L.shape[0]
    coo = L.tocoo()
    m = torch.as_tensor(mass, dtype=torch.float64, device=device)
    s = m.rsqrt()
    rows = torch.as_tensor(coo.row, dtype=torch.long, device=device)
    cols = torch.as_tensor(coo.col, dtype=torch.long, device=device)
    vals = torch.as_tensor(coo.data, dtype=torch.float64, device=device) * s[rows] * s[cols]
    # the dense matrix is built on the GPU only (no n x n array in host memory)
    A = torch.zeros((n, n), dtype=torch.float64, device=device)
    A.index_put_((rows, cols), vals, accumulate=True)
    A = 0.5 * (A + A.T)
    evals, U = torch.linalg.eigh(A)
    evals, U = evals[:k], U[:, :k]
    evecs = (s[:, None] * U).cpu().numpy()
    return Eigenbasis(evals.cpu().numpy().clip(min=0.0), _fix_signs(evecs), mass)


def eigenbasis(shape: Shape, k: int, *, laplacian_kind: str = "auto", device: str = "cpu",
               cache: bool | None = None, tol: float = 0.0) -> Eigenbasis:
    """The first ``k`` Laplace-Beltrami eigenpairs of ``shape`` (cached on the shape and on disk).

    ``tol``: ARPACK's relative accuracy of the eigenvalues; 0 (the default) is machine
    precision. A looser one (1e-8) is ~20 % faster on FAUST shapes but can miss an eigenvector
    of a multiple eigenvalue on symmetric shapes (it skipped one of the seven l=3 modes of a
    sphere), so it is not the default.

    The cache key holds the content hash, ``k`` and the Laplacian kind; the device is not part
    of it, since both paths give the same basis (up to sign, which is fixed deterministically).
    """
    _check_k(shape.n_vertices, k, shape.name)
    L, mass = laplacian(shape, laplacian_kind, cache=cache)

    def compute():
        b = eigh_generalized(L, mass, k, device=device, tol=tol)
        return {"evals": b.evals, "evecs": b.evecs}

    kind = laplacian_kind if laplacian_kind != "auto" else ("robust" if shape.is_mesh else "pointcloud")
    params = {"k": int(k), "laplacian": kind, "version": LAPLACIAN_VERSION}
    out = shape.derived("eigenbasis", params, compute, disk=cache)
    return Eigenbasis(out["evals"], out["evecs"], mass)
