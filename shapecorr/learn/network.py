"""The feature network, without torch: its configuration, the operators it reads from a shape,
the names and shapes of its weights, and its forward pass in NumPy/SciPy (inference).

The network is DiffusionNet-style (Sharp et al., "DiffusionNet: Discretization Agnostic
Learning on Surfaces", 2022), written for shapecorr. A first linear layer lifts the input
(WKS energies) to ``width`` channels; each of ``n_blocks`` blocks then mixes three per-vertex
signals through a small MLP, with a residual connection:

- the input ``x``;
- ``x`` diffused by a learned heat time ``t`` per channel, spectrally in the shape's
  eigenbasis: ``Phi exp(-Lambda t) Phi^T M x``;
- ``tanh(Re(conj(g) (A g)))`` per channel, with ``g = Gx xd + i Gy xd`` the complex tangent
  gradient of the diffused channels and ``A = Re + i Im`` a learned complex linear map. These
  products do not depend on the choice of tangent frame, but their ``Im`` part is the sine of
  the angle between gradients, which changes sign under a reflection: the network can tell the
  left of a body from its right although its input (WKS) cannot.

A last linear layer gives ``out_dim`` features per vertex. The torch implementation used for
training and on CUDA (:mod:`shapecorr.learn.diffusionnet`) computes exactly the same function
with the same weight names (its ``state_dict``); this module is what the matcher runs on the
CPU, so that matching never imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class FeatureNetConfig:
    in_dim: int = 64  # WKS energies
    width: int = 128
    n_blocks: int = 4
    out_dim: int = 128
    k_input: int = 100  # eigenpairs used for the WKS input
    k_diffusion: int = 100  # eigenpairs used for the spectral diffusion

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SurfaceOperators:
    """What one forward pass needs from a shape, as NumPy/SciPy arrays.

    ``mass (n,)`` lumped vertex areas, ``evals (k,)`` and ``evecs (n, k)`` the first ``k``
    eigenpairs (``k = k_diffusion``), ``grad_x, grad_y (n, n)`` sparse tangent-gradient
    matrices (:func:`shapecorr.learn.gradient_operators`), ``inputs (n, in_dim)`` the input
    descriptors. Built by :func:`shapecorr.learn.surface_operators`.
    """

    mass: np.ndarray
    evals: np.ndarray
    evecs: np.ndarray
    grad_x: sp.csr_matrix
    grad_y: sp.csr_matrix
    inputs: np.ndarray

    @property
    def n_vertices(self) -> int:
        return len(self.mass)


def weight_shapes(config: FeatureNetConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight of the network (the torch ``state_dict`` names; a linear
    layer's ``weight`` is ``(out, in)``)."""
    c = config
    shapes = {"first.weight": (c.width, c.in_dim), "first.bias": (c.width,)}
    for i in range(c.n_blocks):
        p = f"blocks.{i}."
        shapes.update({
            p + "diffusion.time": (c.width,),
            p + "gradients.re.weight": (c.width, c.width),
            p + "gradients.im.weight": (c.width, c.width),
            p + "mlp.0.weight": (c.width, 3 * c.width), p + "mlp.0.bias": (c.width,),
            p + "mlp.2.weight": (c.width, c.width), p + "mlp.2.bias": (c.width,),
            p + "mlp.4.weight": (c.width, c.width), p + "mlp.4.bias": (c.width,),
        })
    shapes.update({"last.weight": (c.out_dim, c.width), "last.bias": (c.out_dim,)})
    return shapes


def check_weights(config: FeatureNetConfig, weights: dict) -> list[str]:
    """The problems (missing, unexpected or wrongly shaped weights) of ``weights`` for
    ``config``; an empty list when they fit."""
    expected = weight_shapes(config)
    problems = [f"missing {k}" for k in expected if k not in weights]
    problems += [f"unexpected {k}" for k in weights if k not in expected]
    problems += [f"{k} is {tuple(np.shape(weights[k]))}, expected {s}" for k, s in expected.items()
                 if k in weights and tuple(np.shape(weights[k])) != s]
    return problems


class NumpyFeatureNet:
    """The network's forward pass in NumPy/SciPy: per-vertex features ``(n, out_dim)`` from a
    shape's :class:`SurfaceOperators`.

    ``dtype`` is that of the dense layers (float32 like the torch model by default; float64 for
    checks). The spectral diffusion and the tangent gradients always run in float64: they sum
    over many vertices (the gradients as differences of nearby values), and in float32 their
    round-off alone moves the unit-length features of a 5000-vertex shape by up to 7e-5, against
    3e-6 for the float32 dense layers with them in float64, for a few percent of the time.
    """

    def __init__(self, config: FeatureNetConfig, weights: dict[str, np.ndarray]):
        problems = check_weights(config, weights)
        if problems:
            raise ValueError(f"weights do not fit {config}: {'; '.join(problems[:5])}.")
        self.config = config
        self.weights = {k: np.asarray(weights[k], dtype=np.float32) for k in weight_shapes(config)}

    def state_dict(self) -> dict[str, np.ndarray]:
        return dict(self.weights)

    def __call__(self, ops: SurfaceOperators, dtype=np.float32) -> np.ndarray:
        w = {k: v.astype(dtype, copy=False) for k, v in self.weights.items()}
        evecs = np.asarray(ops.evecs, dtype=np.float64)
        # the projection onto the eigenbasis, Phi^T M, as one contiguous (k, n) matrix
        proj = np.ascontiguousarray((evecs * np.asarray(ops.mass, dtype=np.float64)[:, None]).T)
        evals = np.asarray(ops.evals, dtype=np.float64)
        gx, gy = ops.grad_x.astype(np.float64), ops.grad_y.astype(np.float64)
        x = _linear(np.asarray(ops.inputs, dtype=dtype), w["first.weight"], w["first.bias"])
        for i in range(self.config.n_blocks):
            p = f"blocks.{i}."
            time = np.abs(self.weights[p + "diffusion.time"].astype(np.float64))
            # (an explicit cast: a float64 @ float32 product would not use BLAS, 10x slower)
            xd64 = evecs @ ((proj @ x.astype(np.float64)) * np.exp(-evals[:, None] * time[None, :]))  # (n, width)
            gxd, gyd = (gx @ xd64).astype(dtype), (gy @ xd64).astype(dtype)
            xd = xd64.astype(dtype, copy=False)
            re, im = w[p + "gradients.re.weight"], w[p + "gradients.im.weight"]
            bx = gxd @ re.T - gyd @ im.T
            by = gyd @ re.T + gxd @ im.T
            products = np.tanh(gxd * bx + gyd * by)
            h = _relu(_linear(np.concatenate([x, xd, products], axis=1), w[p + "mlp.0.weight"], w[p + "mlp.0.bias"]))
            h = _relu(_linear(h, w[p + "mlp.2.weight"], w[p + "mlp.2.bias"]))
            x = x + _linear(h, w[p + "mlp.4.weight"], w[p + "mlp.4.bias"])
        return _linear(x, w["last.weight"], w["last.bias"])


def _linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out = x @ weight.T
    out += bias
    return out


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def unit_rows(f: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Each row divided by its Euclidean norm (at least ``eps``), as torch's ``normalize``."""
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), eps)
