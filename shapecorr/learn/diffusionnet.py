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


class SpectralDiffusion(nn.Module):
    """Heat diffusion of each channel for a learned time, in the truncated eigenbasis."""

    def __init__(self, width: int):
        super().__init__()
        self.time = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor, ops: TorchOperators) -> torch.Tensor:
        t = self.time.abs()
        spec = ops.evecs.T @ (ops.mass[:, None] * x)
        spec = spec * torch.exp(-ops.evals[:, None] * t[None, :])
        return ops.evecs @ spec


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
