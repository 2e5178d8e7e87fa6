"""Score-based diffusion over ``|C|`` images: preconditioning, training loss, samplers.

The formulation is EDM's (Karras et al. 2022, "Elucidating the design space of diffusion-based
generative models"), written here from the paper: data ``y`` plus Gaussian noise of standard
deviation ``sigma``; a denoiser ``D(y + sigma n; sigma) ~ E[y | y + sigma n]`` is trained with
the weighted squared error; the score of the noised distribution is ``(D(x; sigma) - x) /
sigma^2``; samples follow the probability-flow ODE ``dx/dsigma = (x - D(x; sigma)) / sigma``
from pure noise down to ``sigma_min`` (Heun's method, deterministic given the seed).

Our data are centred on the per-pixel mean image of the training maps (``mean``) and
``sigma_data`` is their standard deviation; both are stored with the model.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core import SettingsError
from .model import PriorNetConfig, PriorUNet

MODEL_FORMAT = "shapecorr-fmap-prior-1"


@dataclass(frozen=True)
class DiffusionSettings:
    """Noise levels of training and sampling, relative to the data's ``sigma_data``."""

    p_mean_offset: float = -0.5  # training: ln sigma ~ N(ln sigma_data + offset, p_std^2)
    p_std: float = 1.2
    sigma_min_rel: float = 0.01  # sampling from sigma_max = 20 sigma_data down to 0.01 sigma_data
    sigma_max_rel: float = 20.0
    rho: float = 7.0  # Karras schedule exponent

    def __post_init__(self):
        if not (0 < self.sigma_min_rel < self.sigma_max_rel) or self.p_std <= 0 or self.rho <= 0:
            raise SettingsError(f"diffusion settings {self}: need 0 < sigma_min_rel < sigma_max_rel, p_std > 0, rho > 0.")


class Denoiser(nn.Module):
    """``D(x; sigma)`` on ``|C|`` images ``(b, k, k)``: EDM preconditioning around the mean image."""

    def __init__(self, config: PriorNetConfig, mean: torch.Tensor | None = None, sigma_data: float = 0.1,
                 diffusion: DiffusionSettings = DiffusionSettings()):
        super().__init__()
        self.config, self.diffusion = config, diffusion
        self.net = PriorUNet(config)
        self.register_buffer("mean", torch.zeros(config.k, config.k) if mean is None else
                             torch.as_tensor(mean, dtype=torch.float32).reshape(config.k, config.k).clone())
        self.register_buffer("sigma_data", torch.tensor(float(sigma_data)))

    @property
    def k(self) -> int:
        return self.config.k

    @property
    def sigma_min(self) -> float:
        return float(self.sigma_data) * self.diffusion.sigma_min_rel

    @property
    def sigma_max(self) -> float:
        return float(self.sigma_data) * self.diffusion.sigma_max_rel

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        x = torch.as_tensor(x)
        squeeze = x.ndim == 2
        if squeeze:
            x = x[None]
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(x.shape[0])
        sd = self.sigma_data.to(x.dtype)
        s2 = sigma[:, None, None] ** 2
        c_skip = sd ** 2 / (s2 + sd ** 2)
        c_out = sigma[:, None, None] * sd / torch.sqrt(s2 + sd ** 2)
        c_in = 1.0 / torch.sqrt(s2 + sd ** 2)
        y = x - self.mean.to(x.dtype)
        f = self.net((c_in * y)[:, None], torch.log(sigma) / 4.0)[:, 0]
        out = self.mean.to(x.dtype) + c_skip * y + c_out * f
        return out[0] if squeeze else out

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """EDM's ``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2``: every noise
        level contributes a unit-scale error."""
        sd = self.sigma_data.to(sigma.dtype)
        return (sigma ** 2 + sd ** 2) / (sigma * sd) ** 2


def denoising_loss(denoiser: Denoiser, x0: torch.Tensor, generator: torch.Generator | None = None,
                   *, sigma: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Per-map weighted denoising error ``lambda(sigma) mean_ij (D(x0 + sigma n; sigma) - x0)^2``
    (``(b,)``), noise levels drawn from the training distribution unless given."""
    b = x0.shape[0]
    d = denoiser.diffusion
    if sigma is None:
        z = torch.randn(b, generator=generator, dtype=x0.dtype, device=x0.device)
        sigma = torch.exp(math.log(float(denoiser.sigma_data)) + d.p_mean_offset + d.p_std * z)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    sigma = torch.as_tensor(sigma, dtype=x0.dtype, device=x0.device).reshape(-1).expand(b)
    out = denoiser(x0 + sigma[:, None, None] * noise, sigma)
    return denoiser.loss_weight(sigma) * ((out - x0) ** 2).mean(dim=(1, 2))


def karras_sigmas(sigma_max: float, sigma_min: float, steps: int, rho: float = 7.0) -> torch.Tensor:
    """``steps`` noise levels from ``sigma_max`` down to ``sigma_min`` (Karras schedule), then 0."""
    if steps < 1:
        raise SettingsError(f"sampling steps = {steps}: use at least 1.")
    if steps == 1:
        s = torch.tensor([float(sigma_max)], dtype=torch.float64)
    else:
        i = torch.arange(steps, dtype=torch.float64) / (steps - 1)
        s = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)])


@torch.no_grad()
def ode_denoise(denoiser: Denoiser, x: torch.Tensor, sigma_start: float, steps: int) -> torch.Tensor:
    """Follow the probability-flow ODE from ``x`` (taken as noised at ``sigma_start``) to the data:
    ``steps`` Heun steps on the Karras schedule down to ``sigma_min``, the last one to 0."""
    sigmas = karras_sigmas(float(sigma_start), min(denoiser.sigma_min, float(sigma_start) / 2), steps,
                           denoiser.diffusion.rho).to(x.dtype)
    for s, s_next in itertools.pairwise(sigmas):
        d = (x - denoiser(x, s)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:  # Heun's correction
            d2 = (x_next - denoiser(x_next, s_next)) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d2)
        x = x_next
    return x


@torch.no_grad()
def sample(denoiser: Denoiser, n: int, *, steps: int = 24, seed: int = 0) -> torch.Tensor:
    """``n`` maps ``|C|`` ``(n, k, k)`` drawn from the prior (deterministic given ``seed``)."""
    g = torch.Generator().manual_seed(int(seed))
    k = denoiser.k
    x = denoiser.mean + denoiser.sigma_max * torch.randn(n, k, k, generator=g)
    return ode_denoise(denoiser, x.to(denoiser.mean.dtype), denoiser.sigma_max, steps)


# ------------------------------------------------------------------------------- files
def save_denoiser(denoiser: Denoiser, path, meta: dict | None = None) -> Path:
    """Write ``path`` (``.pt``): weights, configuration, the data statistics and ``meta``."""
    path = Path(path)
    payload = {"format": MODEL_FORMAT, "config": json.dumps(denoiser.config.to_dict()),
               "diffusion": json.dumps(asdict(denoiser.diffusion)), "meta": json.dumps(meta or {}),
               "state_dict": {k: v.detach().cpu().clone() for k, v in denoiser.state_dict().items()}}
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_denoiser(path, device: str = "cpu") -> tuple[Denoiser, dict]:
    """Read a model written by :func:`save_denoiser` (``weights_only``: loading runs no code)."""
    from .errors import PriorModelError

    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        if payload.get("format") != MODEL_FORMAT:
            raise PriorModelError(f"{path}: not a functional-map prior (format {payload.get('format')!r}, expected "
                                  f"{MODEL_FORMAT}).")
        config = PriorNetConfig.from_dict(json.loads(payload["config"]))
        diffusion = DiffusionSettings(**json.loads(payload["diffusion"]))
        den = Denoiser(config, diffusion=diffusion)
        den.load_state_dict(payload["state_dict"])
    except PriorModelError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PriorModelError(f"{path}: cannot read this prior model ({type(exc).__name__}: {exc}); retrain it "
                              "with `shapecorr prior train` or use the bundled one.") from exc
    den.to(device).eval()
    return den, json.loads(payload["meta"])


def data_statistics(images: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-pixel mean image and the standard deviation around it of ``images (n, k, k)``."""
    images = np.asarray(images, dtype=np.float64)
    mean = images.mean(0)
    return mean.astype(np.float32), float(max(np.sqrt(((images - mean) ** 2).mean()), 1e-6))
