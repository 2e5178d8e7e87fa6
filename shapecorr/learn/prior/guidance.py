"""Uses of the trained prior: an energy and a score for a functional map (torch, differentiable),
and refinement of a map toward the prior before ZoomOut.

All of them look at the sign-free image ``|C|`` of the map's leading ``k x k`` block (``k`` the
prior's size, 30 for the bundled one; see :mod:`.data` for why the signs are dropped) and give
the signs back from the map they were given.

* :func:`prior_energy` -- a scalar per map, low for maps like the training maps: the weighted
  denoising error of the prior at fixed noise levels and fixed noises (a Monte-Carlo estimate of
  the diffusion's bound on ``-log p``, up to constants). Differentiable in ``C``: ``mode="full"``
  back-propagates through the denoiser; ``mode="sds"`` treats the denoiser's output as a
  constant, so the gradient is the score-distillation gradient ``-lambda (D(x + sigma n) - x)``
  (pull ``|C|`` toward what the prior would denoise it to) at the cost of one forward pass.
  This is the regularizer a functional-map layer or a self-supervised loss can use in place of
  Laplacian commutativity and orthogonality.
* :func:`prior_score` -- ``grad log p_sigma`` at ``|C|`` carried to ``C`` (chain rule through the
  absolute value).
* :func:`refine_toward_prior` -- the input's noise level is estimated (:func:`estimate_noise_level`),
  the probability-flow ODE is followed from there to the data in a few steps, and the result is
  given the input's signs.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from ...core import SettingsError
from .diffusion import Denoiser, load_denoiser, ode_denoise, sample
from .errors import PriorModelError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_PRIOR = "prior_k30"
SMOOTH_ABS_EPS = 1e-3


class FmapPrior:
    """A trained prior over functional maps: its denoiser and what it was trained on (``meta``)."""

    def __init__(self, denoiser: Denoiser, meta: dict | None = None, name: str = "prior"):
        self.denoiser = denoiser.eval().requires_grad_(False)
        self.meta = meta or {}
        self.name = name

    @property
    def k(self) -> int:
        return self.denoiser.k

    @property
    def device(self) -> torch.device:
        return self.denoiser.mean.device

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_PRIOR, device: str = "cpu") -> FmapPrior:
        """A bundled prior by name (``shapecorr/learn/prior/weights/NAME.pt``) or a ``.pt`` file."""
        path = resolve_prior(name_or_path)
        den, meta = load_denoiser(path, device)
        return cls(den, meta, path.stem)

    # ------------------------------------------------------------------ images
    def image(self, C: torch.Tensor) -> torch.Tensor:
        """Smooth ``|C|`` of the leading ``k x k`` block, ``(b, k, k)`` (differentiable everywhere)."""
        C = _batch(C)
        self._check_size(C)
        block = C[:, : self.k, : self.k].to(self.device, torch.float32)
        return torch.sqrt(block * block + SMOOTH_ABS_EPS ** 2) - SMOOTH_ABS_EPS

    def _check_size(self, C: torch.Tensor) -> None:
        if C.shape[-1] < self.k or C.shape[-2] < self.k:
            raise SettingsError(f"the prior {self.name} models {self.k} x {self.k} functional maps; this map is "
                                f"{C.shape[-2]} x {C.shape[-1]}. Give a map of at least {self.k} x {self.k} (its "
                                "leading block is used).")

    def levels(self, n_levels: int) -> torch.Tensor:
        """``n_levels`` fixed noise levels: quantiles of the training distribution of ``sigma``."""
        d = self.denoiser.diffusion
        q = (torch.arange(n_levels, dtype=torch.float64) + 0.5) / n_levels
        z = math.sqrt(2.0) * torch.erfinv(2 * q - 1)
        return torch.exp(math.log(float(self.denoiser.sigma_data)) + d.p_mean_offset + d.p_std * z).float()

    # ------------------------------------------------------------------ energy, score
    def energy(self, C: torch.Tensor, *, n_levels: int = 8, seed: int = 0, mode: str = "full") -> torch.Tensor:
        """Prior energy of ``C`` (``(k2, k1)`` -> scalar, ``(b, k2, k1)`` -> ``(b,)``); see the module."""
        if mode not in ("full", "sds"):
            raise SettingsError(f"prior energy mode {mode!r}: use 'full' or 'sds'.")
        single = torch.as_tensor(C).ndim == 2
        x = self.image(C)
        b, k = x.shape[0], self.k
        sig = self.levels(n_levels).to(self.device)
        g = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(n_levels, k, k, generator=g).to(self.device)
        xs = x[:, None].expand(b, n_levels, k, k).reshape(b * n_levels, k, k)
        s = sig.repeat(b)
        ctx = torch.no_grad() if mode == "sds" else _enable_grad_if(x.requires_grad)
        with ctx:
            den = self.denoiser(xs + s[:, None, None] * noise.repeat(b, 1, 1), s)
        err = (self.denoiser.loss_weight(s)[:, None, None] * (den - xs) ** 2).mean(dim=(1, 2))
        e = err.reshape(b, n_levels).mean(1)
        return e[0] if single else e

    def score(self, C: torch.Tensor, sigma: float) -> torch.Tensor:
        """``grad_C log p_sigma(|C|)`` (same shape as ``C``; zero outside the leading block)."""
        Ct = torch.as_tensor(C)
        single = Ct.ndim == 2
        Cb = _batch(Ct).detach().to(self.device, torch.float32)
        x = self.image(Cb)
        with torch.no_grad():
            s_img = (self.denoiser(x, float(sigma)) - x) / float(sigma) ** 2
        block = Cb[:, : self.k, : self.k]
        out = torch.zeros_like(Cb)
        out[:, : self.k, : self.k] = s_img * block / torch.sqrt(block * block + SMOOTH_ABS_EPS ** 2)
        return out[0] if single else out

    # ------------------------------------------------------------------ sampling, refinement
    def sample(self, n: int, *, steps: int = 24, seed: int = 0) -> np.ndarray:
        """``n`` images ``|C|`` ``(n, k, k)`` drawn from the prior (deterministic given ``seed``)."""
        return sample(self.denoiser, int(n), steps=steps, seed=seed).clamp_min(0).cpu().numpy()

    @torch.no_grad()
    def estimate_noise_level(self, C, n_grid: int = 24, ratio: float = 0.5) -> float:
        """The noise level at which ``|C|`` looks like a noised training map.

        The denoiser's correction at level ``sigma`` is ``r(sigma) = RMS(D(x; sigma) - x)``. At levels
        above the input's noise it expects more noise than there is and corrects by much less than
        ``sigma``; around the input's noise level it removes a large part of it (``r / sigma`` peaks
        there); a clean map is corrected little at every level. Scanning a log grid from
        ``sigma_max`` down, the estimate is where ``r(sigma) / sigma`` first reaches ``ratio``
        (log-interpolated). ``ratio = 0.5`` because even at the right level the correction stays
        below ``sigma``: noise along the maps' manifold cannot be told from the map, and ``|C|``
        folds the noise of small entries (for the bundled prior, a ground-truth map plus Gaussian
        noise of 0.1 peaks at ``r / sigma = 0.84``, the clean map at 0.37). A map that never
        reaches ``ratio`` gets the smallest level (almost no change)."""
        x = self.image(torch.as_tensor(np.asarray(C, dtype=np.float32)))
        den = self.denoiser
        grid = torch.exp(torch.linspace(math.log(den.sigma_min), math.log(den.sigma_max), n_grid))
        xs = x.expand(n_grid, -1, -1)
        r = torch.sqrt(((den(xs, grid) - xs) ** 2).mean(dim=(1, 2)))
        rel = (r / grid).cpu().numpy()
        above = np.flatnonzero(rel >= ratio)
        if len(above) == 0:
            return float(grid[0])
        i = int(above[-1])
        if i == n_grid - 1:
            return float(grid[-1])
        # log-linear interpolation of the crossing between grid[i] (rel >= ratio) and grid[i+1] (< ratio)
        l0, l1 = math.log(float(grid[i])), math.log(float(grid[i + 1]))
        t = (rel[i] - ratio) / max(rel[i] - rel[i + 1], 1e-12)
        return float(math.exp(l0 + t * (l1 - l0)))

    @torch.no_grad()
    def refine(self, C, *, sigma: float | str = "auto", steps: int = 6, scale: float = 1.0,
               descriptors: tuple[np.ndarray, np.ndarray] | None = None, mu: float = 1.0,
               match_scale: bool = False) -> np.ndarray:
        """``C`` moved toward the prior; see :func:`refine_toward_prior`."""
        C = np.array(C, dtype=np.float64)
        if C.ndim != 2:
            raise SettingsError(f"refine_toward_prior takes one functional map (k2, k1); got shape {C.shape}.")
        self._check_size(torch.from_numpy(C))
        if match_scale:
            C = scaled_to_orthogonal(C, self.k)
        if sigma == "auto":
            sigma = self.estimate_noise_level(C)
        sigma = float(sigma) * float(scale)
        if not sigma > 0:
            raise SettingsError(f"refine_toward_prior: sigma must be positive or 'auto' (got {sigma}).")
        k = self.k
        x = self.image(torch.from_numpy(C))
        x = ode_denoise(self.denoiser, x, sigma, steps).clamp_min(0)[0].cpu().numpy().astype(np.float64)
        signs = np.where(C[:k, :k] < 0, -1.0, 1.0)
        out = C.copy()
        out[:k, :k] = signs * x
        if descriptors is not None:
            out = _descriptor_projection(out, descriptors, mu)
        return out


def scaled_to_orthogonal(C: np.ndarray, k: int) -> np.ndarray:
    """``C`` scaled so that its leading ``k x k`` block has the Frobenius norm of an orthogonal
    map (``sqrt(k)``), the scale of ground-truth maps between near-isometric shapes. Solvers with
    regularizers shrink their maps (the axiomatic initial maps of FAUST_r have rows of norm about
    0.26 instead of 1); the prior would read the shrinkage as noise."""
    norm = float(np.linalg.norm(C[:k, :k]))
    return C if norm == 0 else C * (np.sqrt(k) / norm)


def _descriptor_projection(C_prior: np.ndarray, descriptors: tuple[np.ndarray, np.ndarray], mu: float) -> np.ndarray:
    """``argmin_C ||C A - B||^2 + mu ||C - C_prior||^2``: the map nearest the prior's that keeps
    the descriptors ``A (k1, p)`` of shape 1 mapped to ``B (k2, p)`` of shape 2 (closed form)."""
    A, B = (np.asarray(d, dtype=np.float64) for d in descriptors)
    k2, k1 = C_prior.shape
    A, B = A[:k1], B[:k2]
    lhs = A @ A.T + mu * np.eye(k1)
    rhs = B @ A.T + mu * C_prior
    return np.linalg.solve(lhs.T, rhs.T).T


class _enable_grad_if:
    """``torch.enable_grad()`` when the input needs a gradient, else ``no_grad`` (cheaper)."""

    def __init__(self, flag: bool):
        self.ctx = torch.enable_grad() if flag else torch.no_grad()

    def __enter__(self):
        return self.ctx.__enter__()

    def __exit__(self, *exc):
        return self.ctx.__exit__(*exc)


def _batch(C) -> torch.Tensor:
    C = C if isinstance(C, torch.Tensor) else torch.as_tensor(np.asarray(C, dtype=np.float32))
    if C.ndim == 2:
        return C[None]
    if C.ndim == 3:
        return C
    raise SettingsError(f"a functional map is (k2, k1) or a batch (b, k2, k1); got shape {tuple(C.shape)}.")


# ------------------------------------------------------------------------- module-level API
def bundled_priors() -> list[str]:
    """Names of the priors shipped in ``shapecorr/learn/prior/weights`` (``prior_*.pt``)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("prior_*.pt"))


def resolve_prior(name_or_path: str | Path) -> Path:
    """The file of a bundled prior name or a path (errors name the choices)."""
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        if not p.is_file():
            raise PriorModelError(f"{p}: no such prior model file.")
        return p
    bundled = WEIGHTS_DIR / f"{name_or_path}.pt"
    if bundled.is_file():
        return bundled
    raise PriorModelError(f"no prior named {str(name_or_path)!r}; bundled: {', '.join(bundled_priors()) or 'none'} "
                          "(or give a .pt file written by `shapecorr prior train`).")


@functools.lru_cache(maxsize=4)
def _cached_prior(path: str, device: str) -> FmapPrior:
    return FmapPrior.load(path, device)


def load_prior(prior: FmapPrior | str | Path | None = None, device: str = "cpu") -> FmapPrior:
    """A prior: given, a bundled name or a file (``None``: the default bundled prior). Files are
    read once per process and device."""
    if isinstance(prior, FmapPrior):
        return prior
    return _cached_prior(str(resolve_prior(DEFAULT_PRIOR if prior is None else prior).resolve()), str(device))


def prior_energy(C: torch.Tensor, prior=None, *, n_levels: int = 8, seed: int = 0, mode: str = "full") -> torch.Tensor:
    """Prior energy of a functional map ``C (k2, k1)`` or a batch ``(b, k2, k1)`` (torch,
    differentiable; ``mode="sds"`` for the cheaper score-distillation gradient). Lower is more
    like the maps the prior was trained on. See :class:`FmapPrior.energy`."""
    return load_prior(prior, _device_of(C)).energy(C, n_levels=n_levels, seed=seed, mode=mode)


def prior_score(C: torch.Tensor, sigma: float, prior=None) -> torch.Tensor:
    """``grad_C log p_sigma(|C|)`` of the prior at noise level ``sigma`` (torch, same shape as ``C``)."""
    return load_prior(prior, _device_of(C)).score(C, sigma)


def refine_toward_prior(C: np.ndarray, prior=None, *, sigma: float | str = "auto", steps: int = 6,
                        scale: float = 1.0, descriptors: tuple[np.ndarray, np.ndarray] | None = None,
                        mu: float = 1.0, match_scale: bool = False) -> np.ndarray:
    """Move a functional map ``C (k2, k1)`` toward the prior's manifold (NumPy in, NumPy out).

    ``|C|`` of the leading ``k x k`` block is taken as a training map noised at ``sigma``
    (``"auto"``: estimated, :meth:`FmapPrior.estimate_noise_level`; ``scale`` multiplies it), the
    probability-flow ODE is followed from there to the data in ``steps`` Heun steps, and the
    result takes the signs of ``C``. With ``descriptors=(A, B)`` (descriptor coefficients of both
    shapes, ``C A ~ B``) the result is then projected to the map nearest it that preserves the
    descriptors (weight ``mu`` on staying near the prior's map). The rest of ``C`` (outside the
    leading block) is unchanged. ``match_scale``: first scale ``C`` to the norm of an orthogonal
    map (:func:`scaled_to_orthogonal`; the result keeps that scale).
    """
    return load_prior(prior).refine(C, sigma=sigma, steps=steps, scale=scale, descriptors=descriptors, mu=mu,
                                    match_scale=match_scale)


def _device_of(C) -> str:
    return str(C.device) if isinstance(C, torch.Tensor) else "cpu"
