"""The feature network in torch, for training and for CUDA devices.

The architecture is described in :mod:`shapecorr.learn.network`, whose NumPy forward pass
computes the same function from the same weights (this module's ``state_dict`` names); the
matcher runs that one on the CPU, so importing this module (and torch) is needed only to
train or to run on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .network import FeatureNetConfig, SurfaceOperators


def _sparse(m: sp.spmatrix, device, dtype) -> torch.Tensor:
    m = m.tocoo()
    idx = torch.from_numpy(np.vstack([m.row, m.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.as_tensor(m.data, dtype=dtype), m.shape, check_invariants=False,
                                   device=device).coalesce()


@dataclass
class TorchOperators:
    """:class:`SurfaceOperators` as torch tensors on one device (sparse gradients), float32 unless
    asked (float64 serves to check the NumPy forward pass)."""

    mass: torch.Tensor
    evals: torch.Tensor
    evecs: torch.Tensor
    grad_x: torch.Tensor
    grad_y: torch.Tensor
    inputs: torch.Tensor

    @classmethod
    def from_numpy(cls, ops: SurfaceOperators, device="cpu", dtype=torch.float32) -> TorchOperators:
        f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)
        return cls(f(ops.mass), f(ops.evals), f(ops.evecs), _sparse(ops.grad_x, device, dtype),
                   _sparse(ops.grad_y, device, dtype), f(ops.inputs))


#: the range of the diffusion times a new network starts with (unit-area shapes): channel ``i``
#: of a block starts at ``T_MIN (T_MAX / T_MIN)^(i / (width - 1))``. On a unit-area surface the
#: k-th eigenvalue is about ``4 pi k``: 1e-4 barely touches the 100th eigenfunction, 1e-1 keeps
#: only the first few, so every scale from the local to the global one is present from the start.
T_MIN, T_MAX = 1e-4, 1e-1
#: the smallest time a file's time is read as (its log must be finite): ``exp(-lambda 1e-30)``
#: is 1 in float32 and float64 for every eigenvalue of a unit-area shape, so a file's time 0
#: (the first models, see :class:`SpectralDiffusion`) gives exactly the same features.
T_FLOOR = 1e-30


class SpectralDiffusion(nn.Module):
    """Heat diffusion of each channel for a learned time, in the truncated eigenbasis.

    The times are learned as their logarithms (``log_time``): always positive, with steps
    relative to their size, so a channel at 1e-4 and one at 1e-1 both move at their own scale.
    The first networks learned ``t`` itself through ``|t|`` from ``t = 0``, where the gradient
    of ``|t|`` is 0: none of their times ever moved (all 0 in ``faust_r_wks`` until its
    retraining). The weights keep the time itself under the name ``diffusion.time`` (the files'
    layout and the NumPy network, which diffuses for ``|time|``, are unchanged), converted by
    :meth:`_save_to_state_dict` / :meth:`_load_from_state_dict`.
    """

    def __init__(self, width: int):
        super().__init__()
        self.log_time = nn.Parameter(torch.empty(width))
        self.reset_times()

    def reset_times(self, low: float = T_MIN, high: float = T_MAX) -> None:
        """Times spread log-uniformly from ``low`` to ``high`` (a new network's: :data:`T_MIN`
        to :data:`T_MAX`)."""
        w = self.log_time.numel()
        start = np.geomspace(low, high, w) if w > 1 else np.full(w, low)
        self.set_time(torch.from_numpy(start))

    @property
    def time(self) -> torch.Tensor:
        """The diffusion times ``(width,)`` (a computed tensor: assign with :meth:`set_time`)."""
        return self.log_time.exp()

    def set_time(self, time) -> None:
        """Set the diffusion times (``|time|``, at least :data:`T_FLOOR`)."""
        t = torch.as_tensor(time, dtype=self.log_time.dtype, device=self.log_time.device)
        with torch.no_grad():
            self.log_time.copy_(t.abs().clamp_min(T_FLOOR).log().expand_as(self.log_time))

    def forward(self, x: torch.Tensor, ops: TorchOperators) -> torch.Tensor:
        t = self.log_time.exp()
        spec = ops.evecs.T @ (ops.mass[:, None] * x)
        spec = spec * torch.exp(-ops.evals[:, None] * t[None, :])
        return ops.evecs @ spec

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        t = self.log_time.exp()
        destination[prefix + "time"] = t if keep_vars else t.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        key = prefix + "time"
        if key not in state_dict:
            missing_keys.append(key)
            return
        t = state_dict[key]
        if tuple(t.shape) != tuple(self.log_time.shape):
            error_msgs.append(f"size mismatch for {key}: copying a param with shape {tuple(t.shape)}, "
                              f"the current model has {tuple(self.log_time.shape)}.")
            return
        self.set_time(t)
        if strict:
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix) and k != key
                                   and "." not in k[len(prefix):])


class GradientProducts(nn.Module):
    """``tanh(Re(conj(g) * (A g)))`` per channel with g the complex tangent gradient and A a
    learned complex linear map: invariant to the choice of tangent frame, not to reflection."""

    def __init__(self, width: int):
        super().__init__()
        self.re = nn.Linear(width, width, bias=False)
        self.im = nn.Linear(width, width, bias=False)

    def forward(self, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        bx = self.re(gx) - self.im(gy)
        by = self.re(gy) + self.im(gx)
        return torch.tanh(gx * bx + gy * by)


class DiffusionBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.diffusion = SpectralDiffusion(width)
        self.gradients = GradientProducts(width)
        self.mlp = nn.Sequential(nn.Linear(3 * width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width))

    def forward(self, x: torch.Tensor, ops: TorchOperators) -> torch.Tensor:
        xd = self.diffusion(x, ops)
        gx = torch.sparse.mm(ops.grad_x, xd)
        gy = torch.sparse.mm(ops.grad_y, xd)
        return x + self.mlp(torch.cat([x, xd, self.gradients(gx, gy)], dim=1))


class FeatureNet(nn.Module):
    """Per-vertex features ``(n, out_dim)`` from a shape's :class:`TorchOperators`."""

    def __init__(self, config: FeatureNetConfig | None = None):
        super().__init__()
        self.config = config or FeatureNetConfig()
        c = self.config
        self.first = nn.Linear(c.in_dim, c.width)
        self.blocks = nn.ModuleList([DiffusionBlock(c.width) for _ in range(c.n_blocks)])
        self.last = nn.Linear(c.width, c.out_dim)

    @classmethod
    def from_weights(cls, config: FeatureNetConfig, weights: dict[str, np.ndarray]) -> FeatureNet:
        """A network with these weights (NumPy arrays named as in :meth:`state_dict`)."""
        net = cls(config)
        net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()})
        return net

    def forward(self, ops: TorchOperators) -> torch.Tensor:
        x = self.first(ops.inputs)
        for block in self.blocks:
            x = block(x, ops)
        return self.last(x)
