"""Gaussians bound to the triangles of a mesh, and how they follow a deformation of it.

Each Gaussian lives on one triangle (Gao et al., "Mesh-based Gaussian Splatting for Real-time
Large-scale Deformation"): a face id, barycentric coordinates, an offset along the normal, and a
rotation and log-scales expressed in the triangle's local frame (first edge, in-plane
perpendicular, normal), plus SH colour and opacity. The world Gaussians are computed from the
mesh's vertex positions, so moving the vertices moves the splats:

- position: barycentric combination of the deformed corners, plus the offset along the deformed
  normal (scaled like the normal column of the deformation gradient);
- shape: the rest covariance is carried by the triangle's deformation gradient ``F = R S``
  (Sumner & Popovic's 3x3 gradient with the scaled normal as third column): ``R S' Sigma S' R^T``,
  where the stretch ``S'`` has its eigenvalues clamped to ``[1/max_stretch, max_stretch]``.
  The rotation follows the triangle exactly; the scales follow its stretch (a Gaussian on a
  stretched triangle widens with it, no holes), and a sliver triangle whose gradient is
  ill-conditioned cannot turn its Gaussians into long needles. Degenerate triangles (zero area
  at rest or deformed) move rigidly with their frame.

NumPy at the boundary (:meth:`SplatBinding.follow`); the same computation in torch
(:func:`world_gaussians`) is what fitting differentiates and what the rasterizer draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import torch

from ..core.errors import SettingsError, ShapeMismatchError
from .raster import check_filter, quat_to_rotmat
from .sh import n_coeffs

MAX_STRETCH = 4.0  # clamp of the deformation gradient's stretch (see the module docstring)


class WorldGaussians(NamedTuple):
    """World-space Gaussians (NumPy): what a rasterizer or a 3DGS PLY needs.

    The SH colours are those fitted in the rest pose; a renderer evaluates them along the view
    direction turned back by ``rotations`` (the triangle's rotation), so view-dependent colour
    turns with the surface. (The 3DGS PLY of a deformed pose stores them turned by ``rotations``.)"""

    means: np.ndarray  # (n, 3)
    quats: np.ndarray | None  # (n, 4) w, x, y, z (None from ``follow(quats=False)``)
    scales: np.ndarray | None  # (n, 3) linear (likewise)
    covariances: np.ndarray  # (n, 3, 3)
    opacities: np.ndarray  # (n,) in [0, 1]
    sh: np.ndarray  # (n, K, 3), in the rest frame of the Gaussian's triangle
    rotations: np.ndarray | None = None  # (n, 3, 3) rest-to-posed rotation of each Gaussian's triangle


@dataclass(frozen=True)
class SplatBinding:
    """Gaussians bound to the triangles of a mesh (``rest_vertices``, ``faces``).

    Per Gaussian: ``face (n,)``, ``bary (n, 3)`` (non-negative, rows sum to 1), ``offset (n,)``
    along the unit normal (rest units), ``quat (n, 4)`` w,x,y,z and ``log_scale (n, 3)`` in the
    triangle frame, ``sh (n, (sh_degree+1)^2, 3)``, ``opacity_logit (n,)``. ``pose_vertices``
    (optional) is a current deformed pose of the mesh (what ``splat deform`` writes).
    ``rasterize_mode`` and ``eps2d``: the rasterizer's 2D filter the Gaussians were fitted with and
    are drawn with (:func:`shapecorr.splat.raster.project`): what
    :func:`~shapecorr.splat.fit_splats` uses (``"antialiased"``, 0.1), or gsplat's defaults
    (``"classic"``, 0.3: files written before the filter was recorded).

    *Carrier mesh* (after mesh-guided densification, :func:`shapecorr.splat.split_faces`): the
    Gaussians may be bound to a refinement of the mesh whose extra vertices are edge midpoints,
    ``midpoints (k, 2)`` (carrier vertex ``n + i`` is the midpoint of vertices ``midpoints[i]``,
    both of index ``< n + i``), with triangles ``carrier_faces (m', 3)``; ``face`` then indexes
    ``carrier_faces``. The mesh a user deforms keeps the original ``faces`` and ``n`` vertices:
    its pose gives the carrier's by the midpoints (:meth:`carrier`).
    """

    rest_vertices: np.ndarray
    faces: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    offset: np.ndarray
    quat: np.ndarray
    log_scale: np.ndarray
    sh: np.ndarray
    opacity_logit: np.ndarray
    sh_degree: int = 3
    pose_vertices: np.ndarray | None = field(default=None)
    midpoints: np.ndarray | None = field(default=None)
    carrier_faces: np.ndarray | None = field(default=None)
    # the rasterizer's 2D filter the splats were fitted with, so drawn with (gsplat's rasterize_mode, eps2d)
    rasterize_mode: str = "classic"
    eps2d: float = 0.3

    def __post_init__(self):
        check_filter(self.rasterize_mode, self.eps2d)
        self._check_carrier()
        n = len(self.face)
        checks = {"bary": (n, 3), "offset": (n,), "quat": (n, 4), "log_scale": (n, 3),
                  "sh": (n, n_coeffs(self.sh_degree), 3), "opacity_logit": (n,)}
        for name, shape in checks.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise SettingsError(f"SplatBinding: {name} has shape {got}, expected {shape}.")
        if not 0 <= int(self.sh_degree) <= 3:
            raise SettingsError(f"SplatBinding: sh_degree must be 0..3, got {self.sh_degree}.")
        nf = len(self.bound_faces)
        if n and (int(np.min(self.face)) < 0 or int(np.max(self.face)) >= nf):
            raise SettingsError(f"SplatBinding: face ids must be in [0, {nf}), got {np.min(self.face)}.."
                                f"{np.max(self.face)}.")
        if self.pose_vertices is not None and np.shape(self.pose_vertices) != np.shape(self.rest_vertices):
            raise ShapeMismatchError(f"SplatBinding: pose_vertices {np.shape(self.pose_vertices)} do not match the "
                                     f"rest mesh {np.shape(self.rest_vertices)}.")

    def _check_carrier(self) -> None:
        if (self.midpoints is None) != (self.carrier_faces is None):
            raise SettingsError("SplatBinding: midpoints and carrier_faces go together (both or neither).")
        if self.midpoints is None:
            return
        n, mid = len(self.rest_vertices), np.asarray(self.midpoints)
        if mid.ndim != 2 or mid.shape[1] != 2 or (len(mid) and (mid.min() < 0 or
                                                               (mid.max(1) >= n + np.arange(len(mid))).any())):
            raise SettingsError("SplatBinding: midpoints must be (k, 2) vertex pairs, each of index below the "
                                "midpoint's own (n + i).")
        cf = np.asarray(self.carrier_faces)
        if cf.ndim != 2 or cf.shape[1] != 3 or (len(cf) and (cf.min() < 0 or cf.max() >= n + len(mid))):
            raise SettingsError(f"SplatBinding: carrier_faces must be (m, 3) ids of the {n + len(mid)} carrier "
                                "vertices.")
        # the expansion of a pose to the carrier: a sparse (n + k, n) matrix of dyadic weights
        object.__setattr__(self, "_expand", midpoint_matrix(n, mid))

    @property
    def n_gaussians(self) -> int:
        return len(self.face)

    @property
    def bound_faces(self) -> np.ndarray:
        """The triangles the Gaussians are bound to (``face`` indexes these): ``carrier_faces``
        after face splitting, else ``faces``."""
        return self.faces if self.carrier_faces is None else self.carrier_faces

    def carrier(self, vertices=None) -> np.ndarray:
        """The carrier mesh's vertices ``(n + k, 3)`` for a pose ``vertices (n, 3)`` of the mesh
        (default: the rest pose); the mesh's own vertices when no face was split."""
        v = self.rest_vertices if vertices is None else vertices
        v = np.asarray(v, dtype=np.float64)
        return v if self.midpoints is None else self._expand @ v

    @property
    def vertices(self) -> np.ndarray:
        """The current pose: ``pose_vertices`` if set, else the rest pose."""
        return self.rest_vertices if self.pose_vertices is None else self.pose_vertices

    def posed(self, vertices) -> SplatBinding:
        """The same Gaussians with the mesh in the pose ``vertices`` (same vertex order)."""
        v = check_pose(vertices, self.rest_vertices)
        return replace(self, pose_vertices=v)

    def follow(self, vertices=None, *, quats: bool = True) -> WorldGaussians:
        """World Gaussians for the mesh's vertices at ``vertices (n_vertices, 3)`` (default: the
        current pose). ``quats=False`` leaves ``quats`` and ``scales`` out (``None``): the
        covariances are what a renderer on CPU needs, and their eigen-decomposition is half the
        cost here."""
        v = self.vertices if vertices is None else check_pose(vertices, self.rest_vertices)
        p, rest, faces, rest_cov = self._rest_state()
        with torch.no_grad():
            posed = torch.tensor(self.carrier(v), dtype=torch.float64)
            means, cov, R = posed_gaussians(p, rest_cov, rest, faces, posed)
            q, scales = covariance_to_quat_scale(cov) if quats else (None, None)
        op = 1.0 / (1.0 + np.exp(-np.asarray(self.opacity_logit, dtype=np.float64)))
        return WorldGaussians(means.numpy(), None if q is None else q.numpy(), None if scales is None else scales.numpy(),
                              cov.numpy(), op, np.asarray(self.sh, dtype=np.float64), R.numpy())


    def _rest_state(self):
        """What :meth:`follow` needs that no pose changes (float64, computed once per binding):
        the parameters, the carrier at rest, its faces and the rest covariances."""
        state = self.__dict__.get("_rest")
        if state is None:
            with torch.no_grad():
                p = params_to_torch(self, dtype=torch.float64)
                rest = torch.tensor(self.carrier(), dtype=torch.float64)
                faces = torch.tensor(self.bound_faces, dtype=torch.long)
                state = (p, rest, faces, rest_covariances(p, triangle_frames(rest, faces)[0]))
            object.__setattr__(self, "_rest", state)
        return state


def check_pose(vertices, rest_vertices) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    if v.shape != np.shape(rest_vertices):
        raise ShapeMismatchError(f"the deformed vertices have shape {v.shape}, but the splats are bound to a mesh "
                                 f"with {len(rest_vertices)} vertices: give the same mesh, deformed (same vertex "
                                 "order and faces).")
    if not np.isfinite(v).all():
        raise ShapeMismatchError("the deformed vertices contain NaN or infinite coordinates.")
    return v


class BindingParams(NamedTuple):
    """The per-Gaussian parameters as torch tensors (what fitting optimises)."""

    face: torch.Tensor  # (n,) long
    bary_logits: torch.Tensor  # (n, 3): bary = softmax(bary_logits)
    offset: torch.Tensor  # (n,)
    quat: torch.Tensor  # (n, 4)
    log_scale: torch.Tensor  # (n, 3)
    sh: torch.Tensor  # (n, K, 3)
    opacity_logit: torch.Tensor  # (n,)


def params_to_torch(b: SplatBinding, dtype=torch.float32, device="cpu") -> BindingParams:
    kw = {"dtype": dtype, "device": device}
    bary = np.clip(np.asarray(b.bary, dtype=np.float64), 1e-6, None)
    return BindingParams(torch.tensor(b.face, dtype=torch.long, device=device), torch.tensor(np.log(bary), **kw),
                         torch.tensor(b.offset, **kw), torch.tensor(b.quat, **kw), torch.tensor(b.log_scale, **kw),
                         torch.tensor(b.sh, **kw), torch.tensor(b.opacity_logit, **kw))


def midpoint_matrix(n: int, midpoints: np.ndarray):
    """Sparse ``(n + k, n)``: the identity on the mesh's vertices, then each midpoint's weights
    (half of each parent's row; parents come first). Built one generation of midpoints at a time."""
    import scipy.sparse as sp

    mid = np.asarray(midpoints, dtype=np.int64).reshape(-1, 2)
    k = len(mid)
    level = np.zeros(n + k, dtype=np.int64)
    for i, (a, b) in enumerate(mid.tolist()):
        level[n + i] = 1 + max(level[a], level[b])
    W = sp.vstack([sp.identity(n, format="csr"), sp.csr_matrix((k, n))]).tocsr()
    for gen in range(1, int(level.max(initial=0)) + 1):
        idx = np.flatnonzero(level == gen)  # carrier ids of this generation
        parents = mid[idx - n]
        P = sp.csr_matrix((np.full(2 * len(idx), 0.5), (np.repeat(np.arange(len(idx)), 2), parents.ravel())),
                          shape=(len(idx), n + k))
        put = sp.csr_matrix((np.ones(len(idx)), (idx, np.arange(len(idx)))), shape=(n + k, len(idx)))
        W = (W + put @ (P @ W)).tocsr()
    return W


def params_to_binding(p: BindingParams, rest_vertices, faces, sh_degree: int, pose_vertices=None, *,
                      midpoints=None, carrier_faces=None, rasterize_mode: str = "classic",
                      eps2d: float = 0.3) -> SplatBinding:
    def a(t):
        return t.detach().cpu().numpy().astype(np.float32)

    q = p.quat.detach()
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return SplatBinding(np.asarray(rest_vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64),
                        p.face.cpu().numpy().astype(np.int64), a(torch.softmax(p.bary_logits.detach(), 1)),
                        a(p.offset), a(q), a(p.log_scale), a(p.sh), a(p.opacity_logit), int(sh_degree),
                        pose_vertices, midpoints, carrier_faces, rasterize_mode, float(eps2d))


def triangle_frames(vertices: torch.Tensor, faces: torch.Tensor):
    """Per face: the orthonormal frame ``(m, 3, 3)`` (columns: first edge, in-plane
    perpendicular, unit normal), the normal scaled by ``sqrt(2 area)`` and the area."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    e1, e2 = b - a, c - a
    n = torch.linalg.cross(e1, e2)
    twice_area = n.norm(dim=1)
    n_hat = n / twice_area.clamp_min(1e-30)[:, None]
    t1 = e1 / e1.norm(dim=1).clamp_min(1e-30)[:, None]
    t2 = torch.linalg.cross(n_hat, t1)
    frame = torch.stack([t1, t2, n_hat], dim=2)
    return frame, n_hat * twice_area.sqrt()[:, None], 0.5 * twice_area


def rest_covariances(p: BindingParams, frames: torch.Tensor) -> torch.Tensor:
    """Rest covariances ``(n, 3, 3)``: the local rotation and scales turned into world axes by
    the face frame."""
    M = frames[p.face] @ quat_to_rotmat(p.quat) * torch.exp(p.log_scale)[:, None, :]
    return M @ M.transpose(1, 2)


def rest_means(p: BindingParams, vertices: torch.Tensor, faces: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    bary = torch.softmax(p.bary_logits, dim=1)
    corners = vertices[faces[p.face]]  # (n, 3, 3)
    return (bary[:, :, None] * corners).sum(1) + p.offset[:, None] * normals[p.face]


def deformation_gradients(rest: torch.Tensor, posed: torch.Tensor, faces: torch.Tensor,
                          max_stretch: float = MAX_STRETCH):
    """Per face ``(R, S)``: the rotation and clamped stretch of the deformation gradient from the
    rest triangle to the posed one (3x3, with the ``sqrt(2 area)``-scaled normal as third
    column), and the normal-offset scale ``sqrt(area ratio)``."""
    fr0, nrm0, area0 = triangle_frames(rest, faces)
    fr1, nrm1, area1 = triangle_frames(posed, faces)

    def edges(v, nrm):
        return torch.stack([v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]], nrm], dim=2)

    D0, D1 = edges(rest, nrm0), edges(posed, nrm1)
    scale = float(torch.median(area0)) if len(area0) else 1.0
    ok = (area0 > 1e-10 * scale) & (area1 > 1e-10 * scale)
    eye = torch.eye(3, dtype=rest.dtype).expand_as(D0)
    F = D1 @ torch.linalg.inv(torch.where(ok[:, None, None], D0, eye))
    U, sig, Vh = torch.linalg.svd(F)
    R = U @ Vh
    flip = torch.det(R) < 0  # an inverted triangle keeps a proper rotation
    if flip.any():
        U = U.clone()
        U[flip, :, 2] *= -1
        R = U @ Vh
    S = Vh.transpose(1, 2) @ (sig.clamp(1.0 / max_stretch, max_stretch)[:, :, None] * Vh)
    # degenerate triangles: rigid, by their frames
    R = torch.where(ok[:, None, None], R, fr1 @ fr0.transpose(1, 2))
    S = torch.where(ok[:, None, None], S, eye)
    normal_scale = torch.where(ok, torch.sqrt(area1 / area0.clamp_min(1e-30)), torch.ones_like(area0))
    return R, S, normal_scale.clamp(1.0 / max_stretch, max_stretch), nrm1 / nrm1.norm(dim=1, keepdim=True).clamp_min(1e-30)


def world_gaussians(p: BindingParams, rest_vertices: torch.Tensor, faces: torch.Tensor,
                    posed_vertices: torch.Tensor | None = None):
    """World ``means (n, 3)`` and ``covariances (n, 3, 3)`` of the bound Gaussians with the
    mesh at ``posed_vertices`` (default: rest)."""
    frames, _nrm, _ = triangle_frames(rest_vertices, faces)
    cov = rest_covariances(p, frames)
    if posed_vertices is None:
        return rest_means(p, rest_vertices, faces, frames[:, :, 2]), cov
    means, cov, _ = posed_gaussians(p, cov, rest_vertices, faces, posed_vertices)
    return means, cov


def posed_gaussians(p: BindingParams, rest_cov: torch.Tensor, rest_vertices: torch.Tensor, faces: torch.Tensor,
                    posed_vertices: torch.Tensor):
    """World ``means (n, 3)``, ``covariances (n, 3, 3)`` and the rotations ``(n, 3, 3)`` of
    their triangles, from the rest covariances ``rest_cov`` and the mesh at ``posed_vertices``."""
    R, S, normal_scale, n_hat = deformation_gradients(rest_vertices, posed_vertices, faces)
    A = R[p.face] @ S[p.face]
    bary = torch.softmax(p.bary_logits, dim=1)
    means = (bary[:, :, None] * posed_vertices[faces[p.face]]).sum(1) + \
        (p.offset * normal_scale[p.face])[:, None] * n_hat[p.face]
    return means, A @ rest_cov @ A.transpose(1, 2), R[p.face]


def rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``(n, 4)`` w, x, y, z (w >= 0) of rotation matrices ``(n, 3, 3)``."""
    m = R
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cand = torch.stack([
        torch.stack([1 + tr, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], 1),
        torch.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], m[:, 0, 1] + m[:, 1, 0],
                     m[:, 0, 2] + m[:, 2, 0]], 1),
        torch.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2],
                     m[:, 1, 2] + m[:, 2, 1]], 1),
        torch.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1],
                     1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]], 1),
    ], 1)  # (n, 4 candidates, 4): candidate k is 4 q_k q
    diag = torch.stack([1 + tr, 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2],
                        1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]], 1)
    best = diag.argmax(1)  # the best-conditioned candidate
    q = cand[torch.arange(len(m)), best]
    q = q / q.norm(dim=1, keepdim=True)
    return torch.where(q[:, :1] < 0, -q, q)


def covariance_to_quat_scale(cov: torch.Tensor):
    """Quaternions ``(n, 4)`` and linear scales ``(n, 3)`` with ``R diag(s^2) R^T = cov``."""
    evals, evecs = torch.linalg.eigh(cov)
    flip = torch.det(evecs) < 0
    evecs = torch.where(flip[:, None, None], evecs * torch.tensor([1.0, 1.0, -1.0], dtype=cov.dtype), evecs)
    return rotmat_to_quat(evecs), evals.clamp_min(0).sqrt()
