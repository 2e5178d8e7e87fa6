"""As-rigid-as-possible (ARAP) shape editing with handles (Sorkine & Alexa, 2007).

A shape is deformed so that some vertices (the *handles*) reach given positions while every
local cell moves as rigidly as possible. The energy is a sum over *cells* ``k`` (one per
vertex) of ``sum_h c w_h |e_h(x) - R_k e_h(p)|^2``, with ``e_h`` the edge vectors of the cell
(``p`` rest, ``x`` deformed) and ``R_k`` the best rotation of the cell:

- meshes: the *spokes-and-rims* cell (Chao et al. 2010, libigl's default for triangles): all
  three edges of every triangle around vertex k, each with its cotangent weight
  ``w = cot(opposite angle) / 2``; the energy is then the cotangent Dirichlet energy of the
  displacement from the rotated rest shape, and is invariant to the mesh's resolution;
- point clouds: the *spokes* of a k-nearest-neighbour graph (:func:`shapecorr.core.pointcloud.knn_edges`),
  uniform weights.

It is minimized by local-global iterations: the local step finds each cell's rotation
(orthogonal Procrustes), the global step solves one sparse linear system ``Q x = b(R)`` whose
matrix ``Q`` depends only on the rest shape and on which vertices are handles. So
:class:`ArapDeformer` factors ``Q`` **once per handle set** and each drag of the handles
(:meth:`ArapDeformer.solve`) costs a few back-substitutions plus local steps, warm-started from
the previous frame. The energy never increases from one iteration to the next (each step
minimizes it exactly over its own variables; :attr:`ArapResult.energies` records it).

The local step of a warm start refines the previous rotations by Newton steps on the
rotation group (quadratic convergence, a few vectorized 3x3 operations per cell); a cold start
(or a cell where Newton is not safe) uses the exact SVD. Both give the same rotations to
round-off.

Handles can also be points on the surface (``handle_points``: face + barycentric weights),
held by a stiff quadratic penalty instead of exactly.

For comparison, ``energy="bilaplacian"`` minimizes the linear smoothness energy
``d^T L M^-1 L d`` of the displacement ``d`` (Botsch & Sorkine 2008): one solve, no rotations;
it shears and shrinks where ARAP rotates.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..core.errors import SettingsError, ShapecorrWarning, ShapeError

log = logging.getLogger(__name__)

ENERGIES = ("arap", "bilaplacian")
SOLVERS = ("auto", "cholespy", "scipy")


class UnconstrainedPartWarning(ShapecorrWarning):
    """A connected part of the shape has no handle; it is kept where it is."""


# ----------------------------------------------------------------------------- settings
def _check(cond: bool, message: str) -> None:
    if not cond:
        raise SettingsError(message)


@dataclass(frozen=True)
class ArapSettings:
    """How a shape is deformed.

    iterations : local-global iterations per :meth:`ArapDeformer.solve` (a drag warm-started
        from the previous frame needs few; a first solve from the rest shape more).
    energy : ``"arap"`` (as-rigid-as-possible) or ``"bilaplacian"`` (linear smoothness energy
        of the displacement, for comparison).
    knn : neighbours per point of the graph that replaces edges on a point cloud.
    point_weight : stiffness of surface-point handles, relative to the mean diagonal of the
        system matrix (large: the point follows its target closely).
    solver : sparse Cholesky backend: ``"cholespy"``, ``"scipy"`` (SuperLU), or ``"auto"``
        (cholespy when installed; it factors ~2-4x faster here, see :func:`make_factor`).
    tolerance : stop early when an iteration lowers the energy by less than this fraction.
    newton_steps : Newton steps of the local step on a warm start (see :func:`rotations_newton`;
        one is enough between drag frames, cells it leaves unconverged get the exact SVD).
    """

    iterations: int = 10
    energy: str = "arap"
    knn: int = 8
    point_weight: float = 1e3
    solver: str = "auto"
    tolerance: float = 0.0
    newton_steps: int = 1

    def __post_init__(self):
        _check(isinstance(self.iterations, int) and not isinstance(self.iterations, bool) and self.iterations >= 1,
               f"iterations must be an integer >= 1, got {self.iterations!r}.")
        _check(self.energy in ENERGIES, f"unknown energy {self.energy!r}; use one of {', '.join(ENERGIES)}.")
        _check(isinstance(self.knn, int) and not isinstance(self.knn, bool) and self.knn >= 2,
               f"knn must be an integer >= 2, got {self.knn!r}.")
        _check(isinstance(self.point_weight, (int, float)) and self.point_weight > 0,
               f"point_weight must be a positive number, got {self.point_weight!r}.")
        _check(self.solver in SOLVERS, f"unknown solver {self.solver!r}; use one of {', '.join(SOLVERS)}.")
        _check(isinstance(self.tolerance, (int, float)) and 0 <= self.tolerance < 1,
               f"tolerance must be a number in [0, 1), got {self.tolerance!r}.")
        _check(isinstance(self.newton_steps, int) and not isinstance(self.newton_steps, bool) and
               self.newton_steps >= 1, f"newton_steps must be an integer >= 1, got {self.newton_steps!r}.")


class ArapResult(NamedTuple):
    """What one :meth:`ArapDeformer.solve` produced."""

    vertices: np.ndarray  # (n, 3) deformed positions, the input's vertex order
    energies: np.ndarray  # (iterations,) the energy after each iteration (non-increasing for ARAP)
    iterations: int  # iterations run
    seconds: float  # wall time of the solve


# ----------------------------------------------------------------------------- the energy's structure
class CellEnergy(NamedTuple):
    """The ARAP energy as ``sum_k sum_{h owned by k} w_h |e_h(x) - R_k e_h(p)|^2``.

    ``i, j (E,)`` the two ends of edge h (``e_h = x_i - x_j``), ``w (E,)`` its weight, and
    ``owner`` a sparse ``(n, E)`` 0/1 matrix: which cells (vertices) each edge belongs to.
    """

    i: np.ndarray
    j: np.ndarray
    w: np.ndarray
    owner: sp.csr_matrix


def corner_cotangents(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(m, 3)``: cot of the angle at each corner of each triangle (0 for degenerate ones)."""
    v = vertices[faces]  # (m, 3, 3)
    a = np.roll(v, -1, axis=1) - v  # corner c -> next corner
    b = np.roll(v, -2, axis=1) - v  # corner c -> previous corner
    dot = (a * b).sum(-1)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    scale = np.maximum((a * a).sum(-1), (b * b).sum(-1))
    ok = cross > 1e-12 * scale
    return np.where(ok, dot / np.where(ok, cross, 1.0), 0.0)


def spokes_and_rims(vertices: np.ndarray, faces: np.ndarray) -> CellEnergy:
    """The spokes-and-rims cells of a triangle mesh: every edge of a triangle belongs to the
    cells of the triangle's three corners, weighted by half the cotangent of its opposite angle."""
    n, m = len(vertices), len(faces)
    cot = corner_cotangents(vertices, faces)  # (m, 3)
    # edge opposite corner c joins corners c+1 and c+2
    i = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 2], faces[:, 0], faces[:, 1]])
    w = 0.5 * np.concatenate([cot[:, 0], cot[:, 1], cot[:, 2]])
    tri = np.tile(np.arange(m), 3)  # the triangle of each edge
    rows = faces[tri].ravel()  # its three corners own it
    cols = np.repeat(np.arange(3 * m), 3)
    owner = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, 3 * m))
    return CellEnergy(i, j, w, owner)


def graph_spokes(n: int, edges: np.ndarray, weights: np.ndarray | None = None) -> CellEnergy:
    """Spokes cells of a graph (point clouds): each edge belongs to the cells of its two ends."""
    edges = np.asarray(edges, dtype=np.int64)
    e = len(edges)
    w = np.ones(e) if weights is None else np.asarray(weights, dtype=np.float64)
    rows = edges.ravel()
    cols = np.repeat(np.arange(e), 2)
    owner = sp.csr_matrix((np.ones(2 * e), (rows, cols)), shape=(n, e))
    return CellEnergy(edges[:, 0].copy(), edges[:, 1].copy(), w, owner)


def cell_energy(vertices: np.ndarray, faces: np.ndarray | None, knn: int = 8) -> CellEnergy:
    """Spokes-and-rims cells for a mesh, kNN-graph spokes for a point cloud (``faces`` None)."""
    if faces is not None and len(faces):
        return spokes_and_rims(vertices, faces)
    from ..core.pointcloud import knn_edges

    return graph_spokes(len(vertices), knn_edges(vertices, min(knn, len(vertices) - 1)))


def incidence(n: int, i: np.ndarray, j: np.ndarray) -> sp.csr_matrix:
    """``(E, n)`` signed incidence: row h is ``delta_i - delta_j``."""
    e = len(i)
    rows = np.concatenate([np.arange(e), np.arange(e)])
    return sp.csr_matrix((np.concatenate([np.ones(e), -np.ones(e)]), (rows, np.concatenate([i, j]))), shape=(e, n))


class ArapOperators(NamedTuple):
    """Everything the iterations need, precomputed from the rest shape.

    ``Q (n, n)``: the global matrix (each edge weighted by ``w`` times its number of owners);
    ``K (3n, n)``: cell covariances, ``(K @ x)[b * n + k, a] = A_k[a, b]`` with
    ``A_k = sum_{h in cell k} w_h e_h(x) e_h(p)^T``; ``KT = K^T`` gives the right-hand side of
    the global step (see :func:`rotation_rhs`); ``rest_term`` the constant part of the energy.
    """

    Q: sp.csr_matrix
    K: sp.csr_matrix
    KT: sp.csr_matrix
    rest_term: float


def arap_operators(rest: np.ndarray, cells: CellEnergy) -> ArapOperators:
    n = len(rest)
    D = incidence(n, cells.i, cells.j)  # (E, n)
    counts = np.asarray(cells.owner.sum(axis=0)).ravel()  # owners per edge
    Q = (D.T @ sp.diags(cells.w * counts) @ D).tocsr()
    e0 = rest[cells.i] - rest[cells.j]  # (E, 3)
    K = sp.vstack([cells.owner @ sp.diags(cells.w * e0[:, b]) @ D for b in range(3)]).tocsr()  # (3n, n)
    K.sum_duplicates()
    rest_term = float((cells.w * counts * (e0 ** 2).sum(1)).sum())
    return ArapOperators(Q, K, K.T.tocsr(), rest_term)


# The local step, the covariances and the energy are written once for NumPy arrays and torch
# tensors (the iterations on a GPU, ``ArapDeformer(device="cuda")``): ``_xp(a)`` gives the few
# operations whose spelling differs between the two.
class _NumpyOps:
    abs, stack = staticmethod(np.abs), staticmethod(np.stack)
    where, einsum = staticmethod(np.where), staticmethod(np.einsum)

    @staticmethod
    def permute(a, axes):
        return np.ascontiguousarray(a.transpose(axes))

    @staticmethod
    def amax(a, axis):
        return a.max(axis=axis)

    @staticmethod
    def clip_min(a, m):
        return np.maximum(a, m)

    @staticmethod
    def zeros_bool(n, like):
        return np.zeros(n, dtype=bool)

    @staticmethod
    def copy(a):
        return a.copy()

    @staticmethod
    def empty_like(a):
        return np.empty_like(a)

    @staticmethod
    def svd(a):
        return np.linalg.svd(a)

    @staticmethod
    def det(a):
        return np.linalg.det(a)


class _TorchOps:
    def __init__(self):
        import torch

        self.t = torch
        self.abs, self.stack, self.where, self.einsum = torch.abs, torch.stack, torch.where, torch.einsum

    def permute(self, a, axes):
        return a.permute(*axes).contiguous()

    def amax(self, a, axis):
        return a.amax(dim=axis)

    def clip_min(self, a, m):
        return a.clamp(min=m)

    def zeros_bool(self, n, like):
        return self.t.zeros(n, dtype=self.t.bool, device=like.device)

    def copy(self, a):
        return a.clone()

    def empty_like(self, a):
        return self.t.empty_like(a)

    def svd(self, a):
        return self.t.linalg.svd(a)

    def det(self, a):
        return self.t.linalg.det(a)


@functools.lru_cache(maxsize=1)
def _torch_ops() -> _TorchOps:
    return _TorchOps()


def _xp(a):
    """The array operations for ``a``: NumPy's, or torch's for a tensor (one shared instance)."""
    return _NumpyOps if isinstance(a, np.ndarray) else _torch_ops()


# Rotations and covariances are kept component-major, ``(3, 3, n)`` (``R[a, b]`` is the array of
# entry (a, b) over all cells): the local step is then a few dozen operations on contiguous
# length-n arrays instead of n tiny 3x3 problems.
def covariances(ops: ArapOperators, x) -> np.ndarray:
    """``(3, 3, n)``: ``A[a, b, k] = (A_k)_{ab}``, ``A_k = sum_{h in cell k} w_h e_h(x) e_h(p)^T``."""
    n = len(x)
    return _xp(x).permute((ops.K @ x).reshape(3, n, 3), (2, 0, 1))


def rotation_rhs(ops: ArapOperators, R) -> np.ndarray:
    """``(n, 3)`` right-hand side of the global step for rotations ``R (3, 3, n)``:
    ``sum_h w_h (delta_i - delta_j) (sum_{k owning h} R_k) e_h(p)``."""
    n = R.shape[2]
    return ops.KT @ _xp(R).permute(R, (1, 2, 0)).reshape(3 * n, 3)


def arap_energy_value(ops: ArapOperators, x, A, R) -> float:
    """The energy of ``x`` with rotations ``R`` (``A`` its covariances)."""
    quad = float((x * (ops.Q @ x)).sum())
    return quad + ops.rest_term - 2.0 * float((R * A).sum())


def identity_rotations(n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.eye(3)[:, :, None], (3, 3, n)))


# ----------------------------------------------------------------------------- the local step
def rotations_svd(A):
    """The rotations maximizing ``tr(R_k^T A_k)`` (orthogonal Procrustes with the reflection
    removed), exactly, by SVD. ``A`` and the result are ``(3, 3, n)``."""
    xp = _xp(A)
    U, _, Vt = xp.svd(xp.permute(A, (2, 0, 1)))
    R = U @ Vt
    flip = xp.det(R) < 0
    if flip.any():
        U[flip, :, 2] *= -1
        R[flip] = U[flip] @ Vt[flip]
    return xp.permute(R, (1, 2, 0))


def _matmul(X, Y):
    """Per-cell product of ``(3, 3, n)`` stacks."""
    return _xp(X).einsum("abn,bcn->acn", X, Y)


def rotations_newton(A, R0, *, steps: int = 1, tol: float = 1e-12, accept: float = 1e-5):
    """Refine rotations ``R0`` towards the maximizers of ``tr(R_k^T A_k)`` by Newton steps on
    the rotation group: ``R <- cay(s) R`` (:func:`_cayley`) with ``H s = g``, gradient
    ``g = axial(M - M^T)`` and Hessian ``H = tr(M) I - sym(M)``, ``M = A R^T``. Convergence is quadratic from a warm
    start: on a drag frame of the 10k-vertex Spot one step takes the largest gradient from
    7e-3 to 7e-15 (relative). At most ``steps`` steps (fewer once every cell is within
    ``tol``); cells where ``H`` is not positive definite or the step is long (Newton's model not
    trusted, far from the optimum), or still off by more than ``accept`` (relative gradient)
    after the steps, get the exact SVD. Arrays are ``(3, 3, n)``."""
    xp = _xp(A)
    R = xp.copy(R0)
    scale = xp.clip_min(xp.amax(xp.abs(A), (0, 1)), 1e-300)
    fallback = xp.zeros_bool(A.shape[2], A)
    for it in range(steps + 1):
        M = _matmul(A, xp.permute(R, (1, 0, 2)))
        g = xp.stack([M[2, 1] - M[1, 2], M[0, 2] - M[2, 0], M[1, 0] - M[0, 1]])  # (3, n)
        err = xp.amax(xp.abs(g), 0) / scale
        if it == steps or err.max() <= tol:
            break
        t = M[0, 0] + M[1, 1] + M[2, 2]
        h00, h11, h22 = t - M[0, 0], t - M[1, 1], t - M[2, 2]
        h01, h02, h12 = -0.5 * (M[0, 1] + M[1, 0]), -0.5 * (M[0, 2] + M[2, 0]), -0.5 * (M[1, 2] + M[2, 1])
        c00, c11, c22 = h11 * h22 - h12 * h12, h00 * h22 - h02 * h02, h00 * h11 - h01 * h01  # cofactors
        c01, c02, c12 = h02 * h12 - h01 * h22, h01 * h12 - h02 * h11, h01 * h02 - h00 * h12
        det = h00 * c00 + h01 * c01 + h02 * c02
        pd = (h00 > 1e-9 * scale) & (c22 > 1e-9 * scale ** 2) & (det > 1e-9 * scale ** 3)
        inv_det = xp.where(pd, 1.0 / xp.where(pd, det, 1.0), 0.0)
        s = xp.stack([c00 * g[0] + c01 * g[1] + c02 * g[2], c01 * g[0] + c11 * g[1] + c12 * g[2],
                      c02 * g[0] + c12 * g[1] + c22 * g[2]]) * inv_det
        bad = ~pd | ((s * s).sum(0) > 0.25)  # a step over 0.5 rad: Newton's model is not trusted
        if bad.any():
            fallback |= bad
            s[:, bad] = 0.0
        R = _matmul(_cayley(s), R)
    redo = fallback | (err > accept)
    if redo.any():
        R[:, :, redo] = rotations_svd(A[:, :, redo])
    return R


def _cayley(s):
    """The rotation ``(I - [u])^-1 (I + [u])``, ``u = s / 2``, for rotation vectors ``s (3, n)``:
    ``I + c [u] + c [u]^2`` with ``c = 2 / (1 + |u|^2)``; ``(3, 3, n)``. Exactly orthogonal and
    equal to ``exp([s])`` to second order, so Newton keeps its quadratic convergence; no sines."""
    u = 0.5 * s
    uu = (u * u).sum(0)
    c = 2.0 / (1.0 + uu)
    E = (c * u)[:, None, :] * u[None, :, :]  # c u u^T
    diag = 1.0 - c * uu  # [u]^2 = u u^T - |u|^2 I
    for k in range(3):
        E[k, k] += diag
    cu = c * u
    E[0, 1] -= cu[2]
    E[1, 0] += cu[2]
    E[0, 2] += cu[1]
    E[2, 0] -= cu[1]
    E[1, 2] -= cu[0]
    E[2, 1] += cu[0]
    return E


# ----------------------------------------------------------------------------- sparse Cholesky
class _Factor:
    """A factored symmetric positive definite matrix; ``solve(B)`` for ``B (n, c)``."""

    backend = ""

    def solve(self, B: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class _CholespyFactor(_Factor):
    """cholespy's Cholesky; on a CUDA ``device`` the factor (made by CHOLMOD on the CPU) is
    moved to the GPU and ``solve`` takes and returns tensors there."""

    backend = "cholespy"

    def __init__(self, A: sp.spmatrix, device: str = "cpu"):
        from cholespy import CholeskySolverD, MatrixType

        C = sp.coo_matrix(A)
        self.n = C.shape[0]
        rows, cols, data = C.row.astype(np.int32), C.col.astype(np.int32), C.data.astype(np.float64)
        if device != "cpu":
            import torch

            rows, cols, data = (torch.as_tensor(a, device=device) for a in (rows, cols, data))
        self._solver = CholeskySolverD(self.n, rows, cols, data, MatrixType.COO)

    def solve(self, B):
        if isinstance(B, np.ndarray):
            B = np.ascontiguousarray(B, dtype=np.float64)
            X = np.empty_like(B)
        else:
            B = B.contiguous()
            X = B.new_empty(B.shape)
        self._solver.solve(B, X)
        return X


class _HostFactor(_Factor):
    """A CPU factor used for tensors on another device (copied there and back per solve)."""

    def __init__(self, factor: _Factor):
        self._factor = factor
        self.backend = factor.backend + " (CPU)"

    def solve(self, B):
        import torch

        return torch.as_tensor(self._factor.solve(B.cpu().numpy()), device=B.device)


class _ScipyFactor(_Factor):
    backend = "scipy"

    def __init__(self, A: sp.spmatrix):
        from scipy.sparse.linalg import splu

        # SuperLU with a symmetric ordering (the matrix is SPD: no pivoting needed)
        self._lu = splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                        options={"SymmetricMode": True})

    def solve(self, B: np.ndarray) -> np.ndarray:
        return self._lu.solve(np.asarray(B, dtype=np.float64))


def cholespy_available() -> bool:
    try:
        import cholespy  # noqa: F401
    except ImportError:
        return False
    return True


def make_factor(A: sp.spmatrix, solver: str = "auto", device: str = "cpu") -> _Factor:
    """Factor the SPD matrix ``A`` with ``solver`` (``"auto"``: cholespy when installed).

    Measured with ``scripts/bench_arap.py`` (docs/bench/arap_cpu, CPU time): cholespy's
    supernodal Cholesky factors the Spot system about twice as fast as SciPy's SuperLU (0.09 vs
    0.19 s at 11.7k vertices, 1.1 vs 2.4 s at 100k) and stores a triangular factor instead of
    LU, so it is the default; SuperLU (symmetric mode, no pivoting) is the fallback when cholespy
    is not installed. On a CUDA ``device`` cholespy solves on the GPU; without cholespy (or with
    ``solver="scipy"``) the CPU factor is used and each solve's right-hand side travels.
    """
    use_cholespy = solver == "cholespy" or (solver == "auto" and cholespy_available())
    if device != "cpu":
        return _CholespyFactor(A, device) if use_cholespy else _HostFactor(_ScipyFactor(A))
    return _CholespyFactor(A) if use_cholespy else _ScipyFactor(A)


def _sparse_on(M: sp.spmatrix, device: str):
    """A SciPy sparse matrix as a torch CSR tensor on ``device``."""
    import torch

    M = sp.csr_matrix(M)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        return torch.sparse_csr_tensor(torch.as_tensor(M.indptr, dtype=torch.int64),
                                       torch.as_tensor(M.indices, dtype=torch.int64),
                                       torch.as_tensor(M.data, dtype=torch.float64), size=M.shape,
                                       check_invariants=False).to(device)


class _Arrays(NamedTuple):
    """What the iterations read, on the deformer's device: NumPy/SciPy on the CPU, torch on a GPU."""

    ops: ArapOperators
    Q: object
    Qfc: object
    B: object
    rest: object
    free: object
    constrained: object

    @classmethod
    def on(cls, d: "ArapDeformer", device: str | None) -> "_Arrays":
        """``device`` None: the NumPy/SciPy arrays themselves; else torch tensors there."""
        if device is None:
            return cls(d.ops, d._Q, d._Qfc, d._B, d.rest, d.free, d.constrained)
        import torch

        ops = ArapOperators(_sparse_on(d.ops.Q, device), _sparse_on(d.ops.K, device), _sparse_on(d.ops.KT, device),
                            d.ops.rest_term)
        ids = (torch.as_tensor(a, device=device) for a in (d.free, d.constrained))
        return cls(ops, _sparse_on(d._Q, device), _sparse_on(d._Qfc, device),
                   None if d._B is None else _sparse_on(d._B, device), torch.as_tensor(d.rest, device=device), *ids)


def _as_ids(ids, n: int, what: str) -> np.ndarray:
    a = np.asarray([] if ids is None else ids)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ShapeError(f"{what} must be a list of integer vertex ids, got an array of shape {a.shape} "
                         f"and type {a.dtype}.")
    bad = (a < 0) | (a >= n)
    if bad.any():
        raise ShapeError(f"{what}: vertex id {int(a[bad][0])} is out of range (the shape has {n} vertices, "
                         f"ids 0..{n - 1}).")
    if len(np.unique(a)) != len(a):
        dup = np.flatnonzero(np.bincount(a) > 1)[0]
        raise ShapeError(f"{what}: vertex id {int(dup)} is given more than once.")
    return a.astype(np.int64)


class ArapDeformer:
    """ARAP editing of one shape with one set of handles; re-solve per drag.

    Parameters
    ----------
    vertices : (n, 3) rest positions.
    faces : (m, 3) triangles, or None for a point cloud (a kNN graph is used).
    fixed_ids : vertices that stay at their rest position.
    moved_ids : vertices whose positions are given to each :meth:`solve`.
    handle_points : optional ``(face, bary)``: points on the surface (face index ``(h,)`` and
        barycentric weights ``(h, 3)``) whose positions are given to each :meth:`solve`
        (held by a stiff penalty, ``settings.point_weight``).
    settings : :class:`ArapSettings`.
    device : ``"cpu"`` (default) or ``"cuda"``: where the iterations run (the local step, the
        sparse products and cholespy's triangular solves; the factor itself is made on the CPU).
        Results are NumPy arrays either way.

    The system is factored here, once; :meth:`solve` reuses the factor. A connected part of
    the shape without any handle has no defined position: it is kept at rest (with a warning).

    >>> d = ArapDeformer(V, F, fixed_ids=[0, 1, 2], moved_ids=[50])
    >>> x = d.solve([[0.0, 0.3, 0.1]]).vertices     # first drag (from the rest shape)
    >>> x = d.solve([[0.0, 0.35, 0.1]], iterations=3).vertices   # next frame, warm-started
    """

    def __init__(self, vertices, faces=None, fixed_ids=(), moved_ids=(), *, handle_points=None,
                 settings: ArapSettings | None = None, device: str = "cpu"):
        from ..core.device import check_device

        t0 = time.perf_counter()
        self.device = check_device(device)
        self.settings = settings or ArapSettings()
        V = np.asarray(vertices, dtype=np.float64)
        if V.ndim != 2 or V.shape[1] != 3 or len(V) == 0:
            raise ShapeError(f"vertices must be a non-empty (n, 3) array, got shape {V.shape}.")
        if not np.isfinite(V).all():
            raise ShapeError("vertices contain NaN or infinite coordinates.")
        self.rest = V
        self.faces = None if faces is None or len(faces) == 0 else np.asarray(faces, dtype=np.int64)
        n = len(V)
        if self.faces is not None and (self.faces.min() < 0 or self.faces.max() >= n):
            raise ShapeError(f"faces refer to vertices outside 0..{n - 1}.")
        self.fixed_ids = _as_ids(fixed_ids, n, "fixed vertices")
        self.moved_ids = _as_ids(moved_ids, n, "moved vertices")
        both = np.intersect1d(self.fixed_ids, self.moved_ids)
        if len(both):
            raise ShapeError(f"vertex {int(both[0])} is both fixed and moved; give it in one list only.")
        self.n_points = 0
        self._B = None if handle_points is None else self._build_point_matrix(*handle_points)
        if len(self.fixed_ids) + len(self.moved_ids) + self.n_points == 0:
            raise ShapeError("no handles: give at least one fixed or moved vertex (or surface point).")

        self.cells = cell_energy(V, self.faces, self.settings.knn)
        self.ops = arap_operators(V, self.cells)
        self.free_fixed = self._unconstrained_parts()
        self.constrained = np.concatenate([self.fixed_ids, self.free_fixed, self.moved_ids])
        free = np.ones(n, dtype=bool)
        free[self.constrained] = False
        self.free = np.flatnonzero(free)

        Q = self._system_matrix()
        self._pw = self.settings.point_weight * float(np.abs(Q.diagonal()).mean()) if self.n_points else 0.0
        if self.n_points:
            Q = (Q + self._pw * (self._B.T @ self._B)).tocsr()
        self._Q = Q
        self._Qff = Q[self.free][:, self.free].tocsr()
        self._Qfc = Q[self.free][:, self.constrained].tocsr()
        t1, c1 = time.perf_counter(), time.process_time()
        self.factor = make_factor(self._Qff, self.settings.solver, self.device) if len(self.free) else None
        self.factor_seconds = time.perf_counter() - t1
        self.factor_cpu_seconds = time.process_time() - c1  # this process's CPU time (all threads)
        self._torch_device: str | None = None  # where torch runs the iterations (None: NumPy on the CPU)
        self._on = _Arrays.on(self, None)
        if self.device != "cpu":
            self._iterate_with_torch(self.device)
        self.setup_seconds = time.perf_counter() - t0
        self._x = None  # last solution (warm start)
        self._R = None  # its rotations
        log.debug("ARAP: %d vertices, %d free, factored with %s in %.3f s", n, len(self.free),
                  getattr(self.factor, "backend", "-"), self.factor_seconds)

    # ------------------------------------------------------------------ set-up pieces
    def _unconstrained_parts(self) -> np.ndarray:
        """Vertices of connected parts that hold no handle (kept at rest)."""
        from scipy.sparse.csgraph import connected_components

        n = len(self.rest)
        graph = sp.csr_matrix((np.ones(len(self.cells.i)), (self.cells.i, self.cells.j)), shape=(n, n))
        n_comp, labels = connected_components(graph, directed=False)
        has = np.zeros(n_comp, dtype=bool)
        has[labels[self.fixed_ids]] = True
        has[labels[self.moved_ids]] = True
        if self.n_points:
            has[labels[self._B.nonzero()[1]]] = True
        if has.all():
            return np.zeros(0, dtype=np.int64)
        loose = np.flatnonzero(~has[labels])
        # a vertex with no edge (used by no face: a scan's stray vertex) is no part of the surface;
        # it stays where it is without a word
        lone = np.bincount(np.concatenate([self.cells.i, self.cells.j]), minlength=n) == 0
        parts = ~has & (np.bincount(labels, weights=~lone, minlength=n_comp) > 0)
        if parts.any():
            warnings.warn(UnconstrainedPartWarning(
                f"{int(parts.sum())} connected part(s) of the shape ({int(parts[labels].sum())} vertices) hold no "
                "handle; they are kept where they are. Add a fixed or moved vertex on each part that should move."))
        return loose

    def _build_point_matrix(self, face, bary) -> sp.csr_matrix:
        """``(h, n)``: row p holds the barycentric weights of handle point p on its face's corners."""
        face = np.asarray(face, dtype=np.int64)
        bary = np.asarray(bary, dtype=np.float64)
        if self.faces is None:
            raise ShapeError("surface-point handles need a mesh (faces); on a point cloud use vertex handles.")
        m = len(self.faces)
        if face.ndim != 1 or bary.shape != (len(face), 3):
            raise ShapeError(f"handle points need face (h,) and bary (h, 3), got {face.shape} and {bary.shape}.")
        if len(face) and (face.min() < 0 or face.max() >= m):
            raise ShapeError(f"handle points: face id {int(face[(face < 0) | (face >= m)][0])} is out of range "
                             f"(the mesh has {m} faces).")
        h = len(face)
        self.n_points = h
        return sp.csr_matrix((bary.ravel(), (np.repeat(np.arange(h), 3), self.faces[face].ravel())),
                             shape=(h, len(self.rest)))

    def _system_matrix(self) -> sp.csr_matrix:
        if self.settings.energy == "arap":
            return self.ops.Q
        L = self.ops.Q
        mass = self._vertex_mass()
        return (L @ sp.diags(1.0 / mass) @ L).tocsr()

    def _vertex_mass(self) -> np.ndarray:
        n = len(self.rest)
        if self.faces is None:
            return np.full(n, 1.0)
        v = self.rest[self.faces]
        area = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
        mass = np.bincount(self.faces.ravel(), weights=np.repeat(area / 3.0, 3), minlength=n)
        return np.maximum(mass, 1e-12 * max(float(mass.mean()), 1e-300))

    # ------------------------------------------------------------------ solving
    def _handle_positions(self, moved_positions) -> np.ndarray:
        P = np.asarray(moved_positions, dtype=np.float64).reshape(-1, 3) if np.size(moved_positions) else \
            np.zeros((0, 3))
        if len(P) != len(self.moved_ids):
            raise ShapeError(f"{len(P)} positions given for {len(self.moved_ids)} moved vertices.")
        if not np.isfinite(P).all():
            raise ShapeError("moved positions contain NaN or infinite coordinates.")
        return np.concatenate([self.rest[self.fixed_ids], self.rest[self.free_fixed], P])

    def _point_targets(self, point_positions) -> np.ndarray | None:
        if not self.n_points:
            return None
        T = np.asarray(point_positions, dtype=np.float64).reshape(-1, 3)
        if len(T) != self.n_points:
            raise ShapeError(f"{len(T)} positions given for {self.n_points} handle points.")
        return T

    def _iterate_with_torch(self, device: str) -> None:
        """Run the iterations with torch tensors on ``device`` (what ``device="cuda"`` does; on
        ``"cpu"`` the same code path, which the tests compare with NumPy's)."""
        self._torch_device = device
        self._on = _Arrays.on(self, device)
        if self.factor is not None and device == "cpu":
            self.factor = _HostFactor(self.factor)
        self._x = self._R = None

    def _to(self, a):
        """A NumPy array where the iterations run."""
        if self._torch_device is None or a is None:
            return a
        import torch

        return torch.as_tensor(np.asarray(a, dtype=np.float64), device=self._torch_device)

    @staticmethod
    def _host(a) -> np.ndarray:
        return a if isinstance(a, np.ndarray) else a.cpu().numpy()

    def _global(self, rhs, xc, coupling=None):
        """The global step: free vertices from ``Q_ff x_f = rhs_f - Q_fc x_c`` (``coupling`` is
        ``Q_fc x_c``, the same for every iteration of one solve)."""
        a = self._on
        x = _xp(a.rest).empty_like(a.rest)
        x[a.constrained] = xc
        if len(self.free):
            coupling = a.Qfc @ xc if coupling is None else coupling
            x[a.free] = self.factor.solve(rhs[a.free] - coupling)
        return x

    def solve(self, moved_positions=(), *, point_positions=None, iterations: int | None = None,
              warm_start: bool = True) -> ArapResult:
        """Deform with the moved vertices at ``moved_positions (len(moved_ids), 3)`` (and the
        surface points at ``point_positions``); the fixed ones stay at rest.

        ``warm_start``: start from the previous solution and its rotations (the next frame of a
        drag); otherwise from the rest shape (rotations = identity). ``iterations`` overrides
        ``settings.iterations``.
        """
        t0 = time.perf_counter()
        a = self._on
        xc = self._to(self._handle_positions(moved_positions))
        T = self._point_targets(point_positions)
        point_rhs = self._to(self._pw * (self._B.T @ T)) if T is not None else 0.0
        if self.settings.energy == "bilaplacian":
            rhs = self._Q @ self.rest - (self._pw * (self._B.T @ (self._B @ self.rest)) if T is not None else 0.0)
            x = self._host(self._global(self._to(rhs) + point_rhs, xc))
            Ld = self.ops.Q @ (x - self.rest)
            e = float((Ld * Ld / self._vertex_mass()[:, None]).sum())  # d^T L M^-1 L d
            self._x = x
            return ArapResult(x, np.array([e]), 1, time.perf_counter() - t0)

        iters = self.settings.iterations if iterations is None else int(iterations)
        if iters < 1:
            raise SettingsError(f"iterations must be >= 1, got {iters}.")
        warm = warm_start and self._R is not None
        R = self._R if warm else self._to(identity_rotations(len(self.rest)))
        T = self._to(T)
        energies = []
        x = None
        coupling = a.Qfc @ xc
        for _ in range(iters):
            x = self._global(rotation_rhs(a.ops, R) + point_rhs, xc, coupling)
            A = covariances(a.ops, x)
            R = rotations_newton(A, R, steps=self.settings.newton_steps) if (warm or energies) else rotations_svd(A)
            e = arap_energy_value(a.ops, x, A, R)
            if T is not None:
                e += self._pw * float(((a.B @ x - T) ** 2).sum())
            energies.append(e)
            if self.settings.tolerance and len(energies) > 1 and \
                    energies[-2] - energies[-1] <= self.settings.tolerance * abs(energies[-2]):
                break
        self._x, self._R = x, R
        return ArapResult(self._host(x), np.asarray(energies), len(energies), time.perf_counter() - t0)

    @property
    def backend(self) -> str:
        """The sparse Cholesky used (``"cholespy"`` or ``"scipy"``)."""
        return getattr(self.factor, "backend", "none")


def arap_energy(rest, deformed, faces=None, *, knn: int = 8) -> float:
    """The ARAP energy of ``deformed`` relative to ``rest`` (exact best rotations per cell):
    0 for a rigid motion; same units as squared lengths."""
    rest = np.asarray(rest, dtype=np.float64)
    x = np.asarray(deformed, dtype=np.float64)
    ops = arap_operators(rest, cell_energy(rest, None if faces is None else np.asarray(faces), knn))
    A = covariances(ops, x)
    return arap_energy_value(ops, x, A, rotations_svd(A))


def arap_deform(vertices, faces, fixed_ids, moved_ids, moved_positions, *,
                settings: ArapSettings | None = None) -> ArapResult:
    """One-call ARAP deformation (factor, then solve from the rest shape)."""
    d = ArapDeformer(vertices, faces, fixed_ids, moved_ids, settings=settings)
    return d.solve(moved_positions, warm_start=False)


def _point_rotations(d: ArapDeformer, x: np.ndarray) -> np.ndarray:
    """``(3, 3, n)``: each point's best rotation from the rest shape to ``x``, fitted on its cell
    and its neighbours' (a cell alone may be flat or a line, which leaves a turn undetermined)."""
    import scipy.sparse as sp

    n = len(x)
    c = d.cells
    ring = sp.coo_matrix((np.ones(2 * len(c.i)), (np.concatenate([c.i, c.j]), np.concatenate([c.j, c.i]))),
                         shape=(n, n)).tocsr()
    ring = ((ring + sp.identity(n, format="csr")) > 0).astype(np.float64)
    A = covariances(d.ops, x).reshape(9, n)
    return rotations_svd(np.ascontiguousarray((ring @ A.T).T.reshape(3, 3, n)))


def deform_shape(shape, fixed_ids=(), moved_ids=(), moved_positions=(), *, settings: ArapSettings | None = None,
                 iterations: int | None = None, device: str = "cpu"):
    """ARAP-deform a :class:`~shapecorr.core.Shape` (mesh or point cloud) in its own units.

    Returns ``(deformed, result)``: a copy of ``shape`` with the new vertex positions (same
    vertex order, faces, UVs and texture) and the :class:`ArapResult`. A point cloud's file
    normals (:attr:`Shape.point_normals`) are turned by each point's best rotation. ``device``:
    where the iterations run (see :class:`ArapDeformer`).
    """
    d = ArapDeformer(shape.vertices, shape.faces, fixed_ids, moved_ids, settings=settings, device=device)
    res = d.solve(moved_positions, iterations=iterations, warm_start=False)
    normals = None
    if shape.point_normals is not None:
        normals = np.einsum("abn,nb->na", _point_rotations(d, res.vertices), shape.point_normals)
    return shape.copy(vertices=res.vertices, point_normals=normals), res
