"""A DiffusionNet-style surface network (Sharp et al., "DiffusionNet: Discretization Agnostic
Learning on Surfaces", 2022), written for shapecorr.

Each block mixes three per-vertex signals through a small MLP, with a residual connection:
the input, the input diffused by a learned heat time per channel (spectrally, in the shape's
eigenbasis), and rotation-invariant products of the diffused channels' tangent gradients. The
last ones carry the sine of the angle between gradients, which changes sign under a
reflection, so the network can tell the left of a body from its right although its input
(WKS) cannot.

Everything a forward pass needs from a shape is in :class:`SurfaceOperators`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


@dataclass
class FeatureNetConfig:
    in_dim: int = 64  # WKS energies
    width: int = 128
    n_blocks: int = 4
    out_dim: int = 128
    k_input: int = 100  # eigenpairs used for the WKS input
    k_diffusion: int = 100  # eigenpairs used for the spectral diffusion

    def to_dict(self) -> dict:
        return asdict(self)


def _sparse(m: sp.spmatrix, device) -> torch.Tensor:
    m = m.tocoo()
    idx = torch.from_numpy(np.vstack([m.row, m.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(m.data.astype(np.float32)), m.shape, check_invariants=False,
                                   device=device).coalesce()


@dataclass
class SurfaceOperators:
    """Torch tensors of one shape: mass ``(n,)``, eigenpairs, gradient matrices, input."""

    mass: torch.Tensor
    evals: torch.Tensor
    evecs: torch.Tensor
    grad_x: torch.Tensor
    grad_y: torch.Tensor
    inputs: torch.Tensor

    @classmethod
    def build(cls, mass, evals, evecs, grad_x, grad_y, inputs, device="cpu") -> "SurfaceOperators":
        f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)  # noqa: E731
        return cls(f(mass), f(evals), f(evecs), _sparse(grad_x, device), _sparse(grad_y, device), f(inputs))


class SpectralDiffusion(nn.Module):
    """Heat diffusion of each channel for a learned time, in the truncated eigenbasis."""

    def __init__(self, width: int):
        super().__init__()
        self.time = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor, ops: SurfaceOperators) -> torch.Tensor:
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

    def forward(self, x: torch.Tensor, ops: SurfaceOperators) -> torch.Tensor:
        xd = self.diffusion(x, ops)
        gx = torch.sparse.mm(ops.grad_x, xd)
        gy = torch.sparse.mm(ops.grad_y, xd)
        return x + self.mlp(torch.cat([x, xd, self.gradients(gx, gy)], dim=1))


class FeatureNet(nn.Module):
    """Per-vertex features ``(n, out_dim)`` from a shape's :class:`SurfaceOperators`."""

    def __init__(self, config: FeatureNetConfig | None = None):
        super().__init__()
        self.config = config or FeatureNetConfig()
        c = self.config
        self.first = nn.Linear(c.in_dim, c.width)
        self.blocks = nn.ModuleList([DiffusionBlock(c.width) for _ in range(c.n_blocks)])
        self.last = nn.Linear(c.width, c.out_dim)

    def forward(self, ops: SurfaceOperators) -> torch.Tensor:
        x = self.first(ops.inputs)
        for block in self.blocks:
            x = block(x, ops)
        return self.last(x)
