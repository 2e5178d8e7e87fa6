"""Training of the prior's denoiser on ``|C|`` images: seeded, with checkpoints and a log.

The loop is the library's; ``shapecorr prior train`` and the tests call :func:`train_prior`.
Adam with a cosine learning-rate decay, an exponential moving average of the weights (the EMA
weights are the model that is saved and sampled: they give smoother, better samples), and a
fixed validation set of noise levels and noises so that the validation loss of successive
checkpoints is comparable.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...core import SettingsError
from .diffusion import Denoiser, DiffusionSettings, data_statistics, denoising_loss
from .model import PriorNetConfig


@dataclass(frozen=True)
class PriorTrainSettings:
    steps: int = 3000
    batch: int = 32
    lr: float = 2e-3
    warmup: int = 100
    ema: float = 0.999
    seed: int = 0
    val_fraction: float = 0.05  # maps held out of training to measure the validation loss
    val_every: int = 250

    def __post_init__(self):
        if self.steps < 1 or self.batch < 1 or self.lr <= 0 or not 0 <= self.ema < 1:
            raise SettingsError(f"prior training settings {self}: need steps >= 1, batch >= 1, lr > 0, 0 <= ema < 1.")
        if not 0 <= self.val_fraction < 1 or self.val_every < 1:
            raise SettingsError(f"prior training: val_fraction must be in [0, 1) and val_every >= 1 (got "
                                f"{self.val_fraction}, {self.val_every}).")


@dataclass
class TrainState:
    """Everything a checkpoint holds to resume exactly where training stopped."""

    step: int
    denoiser: Denoiser
    ema: Denoiser
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    train_idx: np.ndarray
    val_idx: np.ndarray


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` maps into training and validation indices."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(np.rint(val_fraction * n)) if n > 1 else 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def new_state(images: np.ndarray, settings: PriorTrainSettings, config: PriorNetConfig,
              diffusion: DiffusionSettings | None = None) -> TrainState:
    """A fresh model whose data statistics come from the training maps (seeded)."""
    diffusion = diffusion or DiffusionSettings()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[1:] != (config.k, config.k):
        raise SettingsError(f"prior training needs maps of {config.k} x {config.k}; got an array of shape "
                            f"{images.shape}.")
    train_idx, val_idx = split(len(images), settings.val_fraction, settings.seed)
    mean, sd = data_statistics(images[train_idx])
    torch.manual_seed(settings.seed)
    den = Denoiser(config, torch.from_numpy(mean), sd, diffusion)
    ema = copy.deepcopy(den).requires_grad_(False)
    opt = torch.optim.Adam(den.parameters(), lr=settings.lr)
    return TrainState(0, den, ema, opt, torch.Generator().manual_seed(settings.seed), train_idx, val_idx)


def learning_rate(settings: PriorTrainSettings, step: int) -> float:
    warm = min(1.0, (step + 1) / max(settings.warmup, 1))
    return settings.lr * warm * 0.5 * (1 + math.cos(math.pi * min(step / settings.steps, 1.0)))


@torch.no_grad()
def validation_loss(den: Denoiser, images: torch.Tensor, seed: int = 1234, repeats: int = 4) -> float:
    """Mean weighted denoising error on ``images`` with fixed noise levels and noises."""
    if len(images) == 0:
        return float("nan")
    g = torch.Generator().manual_seed(seed)
    d = den.diffusion
    total = 0.0
    for _ in range(repeats):
        z = torch.randn(len(images), generator=g)
        sigma = torch.exp(math.log(float(den.sigma_data)) + d.p_mean_offset + d.p_std * z)
        noise = torch.randn(images.shape, generator=g)
        total += float(denoising_loss(den, images, sigma=sigma, noise=noise).mean())
    return total / repeats


def train_prior(images: np.ndarray, settings: PriorTrainSettings, config: PriorNetConfig | None = None, *,
                state: TrainState | None = None,
                on_step: Callable[[int, float], None] | None = None,
                on_eval: Callable[[TrainState, dict], None] | None = None,
                stop: Callable[[], bool] | None = None, max_val: int = 128) -> TrainState:
    """Train (or, given ``state``, resume training) the denoiser on ``images (n, k, k)`` = ``|C|``.

    ``on_step(step, loss)`` after every step; ``on_eval(state, row)`` every ``val_every`` steps and
    at the end, with ``row = {step, train_loss, val_loss, lr, seconds}`` (the train loss averaged
    since the last evaluation) -- the CLI writes its log and checkpoints there. ``stop()``, asked
    after every step, ends training early (with a last evaluation; e.g. a wall-clock budget).
    The validation loss uses the first ``max_val`` validation maps.
    """
    images = np.asarray(images, dtype=np.float32)
    config = config or PriorNetConfig()
    state = state or new_state(images, settings, config)
    data = torch.from_numpy(images)
    train, val = data[state.train_idx], data[state.val_idx[:max_val]]
    if len(train) == 0:
        raise SettingsError("prior training: no training maps (the data set is empty).")
    den, ema, opt, g = state.denoiser, state.ema, state.optimizer, state.generator
    den.train()
    running, count, t0 = 0.0, 0, time.perf_counter()
    while state.step < settings.steps:
        step = state.step
        lr = learning_rate(settings, step)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = train[torch.randint(len(train), (settings.batch,), generator=g)]
        loss = denoising_loss(den, batch, g).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(den.parameters(), 1.0)
        opt.step()
        decay = min(settings.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), den.parameters()):
                pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
        state.step += 1
        running += float(loss.detach())
        count += 1
        if on_step:
            on_step(state.step, float(loss.detach()))
        stopping = bool(stop and stop())
        if state.step % settings.val_every == 0 or state.step == settings.steps or (stopping and count):
            row = {"step": state.step, "train_loss": running / count, "val_loss": validation_loss(ema, val),
                   "lr": lr, "seconds": round(time.perf_counter() - t0, 2)}
            running, count = 0.0, 0
            if on_eval:
                on_eval(state, row)
        if stopping:
            break
    ema.eval()
    return state


def checkpoint_payload(state: TrainState, settings: PriorTrainSettings) -> dict:
    """What a resumable checkpoint holds (tensors and plain values only)."""
    return {"step": state.step, "denoiser": state.denoiser.state_dict(), "ema": state.ema.state_dict(),
            "optimizer": state.optimizer.state_dict(), "generator": state.generator.get_state(),
            "train_idx": torch.from_numpy(state.train_idx), "val_idx": torch.from_numpy(state.val_idx),
            "settings": asdict(settings), "config": state.denoiser.config.to_dict(),
            "diffusion": asdict(state.denoiser.diffusion)}


def restore_state(payload: dict, settings: PriorTrainSettings) -> TrainState:
    """The :class:`TrainState` of a checkpoint written from :func:`checkpoint_payload`."""
    config = PriorNetConfig.from_dict(payload["config"])
    den = Denoiser(config, diffusion=DiffusionSettings(**payload["diffusion"]))
    den.load_state_dict(payload["denoiser"])
    ema = copy.deepcopy(den).requires_grad_(False)
    ema.load_state_dict(payload["ema"])
    opt = torch.optim.Adam(den.parameters(), lr=settings.lr)
    opt.load_state_dict(payload["optimizer"])
    g = torch.Generator()
    g.set_state(payload["generator"])
    return TrainState(int(payload["step"]), den, ema, opt, g, payload["train_idx"].numpy(), payload["val_idx"].numpy())
