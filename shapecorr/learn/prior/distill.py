"""What the deep functional-map layer and loss need from the prior, distilled from the diffusion
model (DiffuMatch's idea: the axiomatic regularizers are replaced by ones learned from good maps).

* :func:`prior_entry_mask` -- a per-entry penalty ``D (k, k)`` for the closed-form map layer
  (:func:`shapecorr.learn.fmap_layer.solve_fmap`), in place of the Laplacian-commutativity
  (resolvent) mask. The layer's penalty ``sum_ij D_ij C_ij^2`` is the negative log of a
  zero-mean Gaussian with variances ``1 / D_ij``; the Gaussian closest to the prior (in the
  moment-matching sense) has the prior's second moments ``v_ij = E[C_ij^2] = E[|C|_ij^2]``,
  estimated from maps sampled from the diffusion model. Per row ``i`` (one eigenfunction of the
  target), ``D_ij = r_i / (v_ij + eps r_i)`` minus the row's smallest value, with ``r_i`` the
  row's largest second moment: the entry real maps use most in each row (on the diagonal
  funnel, or in a block where eigenfunctions of close eigenvalues mix) is free, as the diagonal
  of the resolvent mask is, and entries real maps leave empty are penalized by up to about
  ``1 / eps``. Normalizing per row keeps the high frequencies, whose energy spreads over more
  entries, from being shrunk. Unlike the resolvent mask it does not depend on the pair's
  eigenvalues: it is what the maps of the prior's training collection look like, in the
  eigenfunctions' order. (On FAUST_r tr_reg_080 -> 085 with the supervised model's features,
  the layer's 30 x 30 map is 0.104 from the ground truth's (relative Frobenius) with this mask
  at ``lam = 0.03``, 0.103 with the resolvent mask at its ``lam = 100``, 0.266 unregularized.)
* :func:`prior_penalty` -- the score-distillation energy of a map (:meth:`FmapPrior.energy` with
  ``mode="sds"``) at a few small noise levels: its gradient pulls ``|C|`` toward what the
  denoiser would denoise it to, at the cost of one batched forward pass, and it is the term
  that takes the place of orthogonality and Laplacian commutativity in the self-supervised loss.

Both look only at the leading ``k x k`` block (``k`` the prior's size) and are sign-free.
"""

from __future__ import annotations

import functools
import math

import torch

from ...core import SettingsError
from .guidance import FmapPrior, load_prior

#: floor of the second moments, relative to each row's largest (the mask's largest value is about 1 / MASK_EPS)
MASK_EPS = 1e-3
#: the layer's relative regularization weight with the prior's mask (see the module docstring)
PRIOR_LAM = 0.03
#: maps sampled to estimate the second moments, and the sampler's steps
MASK_SAMPLES = 24
MASK_STEPS = 10
#: noise levels of the penalty, relative to the prior's sigma_data: small ones, where the
#: denoiser's correction is the score of the data near the map (large levels see only the mean)
PENALTY_LEVELS = (0.1, 0.2, 0.35, 0.5)


@functools.lru_cache(maxsize=8)
def _second_moments(prior: FmapPrior, n: int, steps: int, seed: int) -> torch.Tensor:
    x = torch.as_tensor(prior.sample(n, steps=steps, seed=seed))
    return (x.double() ** 2).mean(0)


def prior_entry_mask(prior: FmapPrior | str | None = None, k: int | None = None, *, eps: float = MASK_EPS,
                     n_samples: int = MASK_SAMPLES, steps: int = MASK_STEPS, seed: int = 0) -> torch.Tensor:
    """The per-entry penalty ``D (k, k)`` (float64, CPU) distilled from the prior (module
    docstring); ``k`` (default: the prior's) may be at most the prior's size. Deterministic
    given ``seed``; computed once per prior and settings in a process."""
    prior = load_prior(prior)
    k = prior.k if k is None else int(k)
    if not 1 <= k <= prior.k:
        raise SettingsError(f"the prior {prior.name} models {prior.k} x {prior.k} maps; its entry mask cannot cover a "
                            f"{k} x {k} map. Use a functional map of at most {prior.k} (e.g. k_init / k_loss = "
                            f"{prior.k}) with the prior regularizer, or the axiomatic one.")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise SettingsError(f"prior_entry_mask: eps must be a finite number > 0, got {eps!r}.")
    v = _second_moments(prior, int(n_samples), int(steps), int(seed))[:k, :k]
    r = v.max(dim=1, keepdim=True).values
    D = r / (v + eps * r)
    return D - D.min(dim=1, keepdim=True).values


def prior_penalty(C: torch.Tensor, prior: FmapPrior | str | None = None, *,
                  levels: tuple[float, ...] = PENALTY_LEVELS, seed: int = 0) -> torch.Tensor:
    """Score-distillation penalty of maps ``C (k2, k1)`` or ``(b, k2, k1)``, summed over the
    batch: the prior's weighted denoising error of ``|C|`` at the small noise levels
    ``levels x sigma_data``, fixed noises (``seed``), the denoiser's output held constant, so the
    gradient is ``sum_l lambda_l (x - D(x + sigma_l n_l))`` carried to ``C`` (one forward pass of
    ``len(levels)`` images per map, no backward pass through the network)."""
    prior = load_prior(prior, str(C.device) if isinstance(C, torch.Tensor) else "cpu")
    x = prior.image(C)
    b, k = x.shape[0], prior.k
    sd = float(prior.denoiser.sigma_data)
    sig = torch.tensor([float(l) * sd for l in levels], dtype=x.dtype, device=x.device)
    g = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(len(levels), k, k, generator=g).to(x.device, x.dtype)
    xs = x[:, None].expand(b, len(levels), k, k).reshape(-1, k, k)
    s = sig.repeat(b)
    with torch.no_grad():
        target = prior.denoiser(xs + s[:, None, None] * noise.repeat(b, 1, 1), s)
    w = prior.denoiser.loss_weight(s)[:, None, None]
    return (w * (xs - target) ** 2).mean(dim=(1, 2)).sum() / len(levels)
