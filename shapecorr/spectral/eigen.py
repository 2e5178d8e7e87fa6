"""Generalized eigenbasis ``L phi = lambda M phi`` (M-orthonormal).

The solver (``solver="shift-invert"``, also what ``"auto"`` picks on every device): ARPACK in
shift-invert mode around a small negative shift (``L - sigma M`` is positive definite, so the
sparse factorization never meets the zero eigenvalue). On failure it retries in a principled
way: a larger Krylov space and a further shift, then a tiny Tikhonov regularization of ``L``; if
that fails too, :class:`EigensolverError` explains what to try. It runs on the CPU whatever the
``device``.

``solver="dense"``: the symmetric matrix ``M^-1/2 L M^-1/2`` decomposed densely by torch on
``device`` (CPU or CUDA; float64, ``8 n^2`` bytes, up to ``dense_max`` vertices). Its
eigenvalues carry an absolute error of about ``n eps lambda_max``, and ``lambda_max`` grows
without bound as a vertex's mass shrinks: on the decimated 10k proxies of FAUST_r meshes
(vertex masses down to 3e-14 of the area) that error reached 100-4000, above the 60th
eigenvalue (~740), and a CUDA match through those proxies came out wrong (error 38 against 1.0
on the CPU, measured on an H200). A dense solve whose error bound is not small against the
``k``-th eigenvalue is therefore discarded with a warning and the shift-invert solver used.
Nor is the dense solve faster: on that H200 the whole preparation of a 5k FAUST_r pair took
0.81 s with it (CUDA already started) against 0.49 s for the shift-invert solver on 4 CPU
cores, and 13.3 s against 5.2 s at 20k (``docs/bench/gpu_h200``). Hence ``"auto"`` is the
shift-invert solver on CUDA too.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ..core import EigensolverError, Shape, TooFewPointsError, check_device
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


SOLVERS = ("auto", "shift-invert", "dense")
DENSE_ERROR_FRACTION = 1e-6  # a dense solve is kept when n eps lambda_max <= this x lambda_k


def eigh_generalized(L: sp.spmatrix, mass: np.ndarray, k: int, *, device: str = "cpu", solver: str = "auto",
                     dense_max: int = 16000, tol: float = 0.0) -> Eigenbasis:
    """The ``k`` smallest eigenpairs of ``L phi = lambda diag(mass) phi``.

    ``solver``: ``"auto"`` and ``"shift-invert"`` use ARPACK on the CPU (any ``device``);
    ``"dense"`` decomposes densely with torch on ``device`` (at most ``dense_max`` vertices),
    falling back to shift-invert, with a warning, where the dense result cannot be trusted
    (see the module's docstring)."""
    n = L.shape[0]
    _check_k(n, k)
    dev = str(device)
    if dev != "cpu" and not dev.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda[:i]'.")
    if solver not in SOLVERS:
        raise ValueError(f"unknown eigensolver {solver!r}; use one of {', '.join(SOLVERS)}.")
    if solver == "dense":
        if n > dense_max:
            log.warning("dense eigensolver: %d vertices exceed dense_max (%d); using the shift-invert "
                        "solver", n, dense_max)
        else:
            basis, error_bound = _eigh_dense_torch(L, mass, k, dev)
            lam_k = float(basis.evals[-1])
            if error_bound <= DENSE_ERROR_FRACTION * lam_k:
                return basis
            log.warning("dense eigensolver: eigenvalue error bound %.3g is not small against the %d-th "
                        "eigenvalue %.3g (vertices of tiny mass); using the shift-invert solver",
                        error_bound, k, lam_k)
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


def _eigh_dense_torch(L, mass, k, device) -> tuple[Eigenbasis, float]:
    """Dense eigenpairs on ``device`` and the absolute error bound ``n eps lambda_max`` of their
    eigenvalues (backward stability of the symmetric eigensolver)."""
    import torch

    check_device(device)
    n = L.shape[0]
    coo = L.tocoo()
    m = torch.as_tensor(mass, dtype=torch.float64, device=device)
    s = m.rsqrt()
    rows = torch.as_tensor(coo.row, dtype=torch.long, device=device)
    cols = torch.as_tensor(coo.col, dtype=torch.long, device=device)
    vals = torch.as_tensor(coo.data, dtype=torch.float64, device=device) * s[rows] * s[cols]
    # the dense matrix is built on the device only (no n x n array in host memory on CUDA)
    A = torch.zeros((n, n), dtype=torch.float64, device=device)
    A.index_put_((rows, cols), vals, accumulate=True)
    A = 0.5 * (A + A.T)
    evals, U = torch.linalg.eigh(A)
    error_bound = n * float(np.finfo(np.float64).eps) * float(evals.abs().max())
    evals, U = evals[:k], U[:, :k]
    evecs = (s[:, None] * U).cpu().numpy()
    evals = evals.cpu().numpy()
    total = float(mass.sum())
    scale = 1.0 / total if total > 0 else 1.0
    evals = np.where(np.abs(evals) < max(1e-9 * scale, error_bound), 0.0, evals).clip(min=0.0)
    return Eigenbasis(evals, _fix_signs(evecs), mass), error_bound


def eigenbasis(shape: Shape, k: int, *, laplacian_kind: str = "auto", device: str = "cpu",
               cache: bool | None = None, tol: float = 0.0) -> Eigenbasis:
    """The first ``k`` Laplace-Beltrami eigenpairs of ``shape`` (cached on the shape and on disk).

    ``tol``: ARPACK's relative accuracy of the eigenvalues; 0 (the default) is machine
    precision. A looser one (1e-8) is ~20 % faster on FAUST shapes but can miss an eigenvector
    of a multiple eigenvalue on symmetric shapes (it skipped one of the seven l=3 modes of a
    sphere), so it is not the default.

    The cache key holds the content hash, ``k`` and the Laplacian kind; the device is not part
    of it: the basis is computed by the shift-invert solver on the CPU on every device.
    """
    _check_k(shape.n_vertices, k, shape.name)
    L, mass = laplacian(shape, laplacian_kind, cache=cache)

    def compute():
        b = eigh_generalized(L, mass, k, device=device, solver="auto", tol=tol)
        return {"evals": b.evals, "evecs": b.evecs}

    kind = laplacian_kind if laplacian_kind != "auto" else ("robust" if shape.is_mesh else "pointcloud")
    # "solver": bases cached by the former dense CUDA solve (wrong on meshes with vertices of tiny
    # mass) are not reused
    params = {"k": int(k), "laplacian": kind, "version": LAPLACIAN_VERSION, "solver": "shift-invert"}
    out = shape.derived("eigenbasis", params, compute, disk=cache)
    return Eigenbasis(out["evals"], out["evecs"], mass)
