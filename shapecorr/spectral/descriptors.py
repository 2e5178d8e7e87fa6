"""Spectral point descriptors. Layout everywhere: ``(n_vertices, n_features)``."""

from __future__ import annotations

import numpy as np


def _check(evals, evecs):
    evals = np.asarray(evals, dtype=np.float64)
    evecs = np.asarray(evecs, dtype=np.float64)
    if evecs.ndim != 2 or evecs.shape[1] != evals.shape[0]:
        raise ValueError(f"evecs must be (n, k) with k = len(evals) = {evals.shape[0]}, got {evecs.shape}.")
    return evals, evecs


def hks(evals, evecs, times=None, n_times: int = 16, *, scaled: bool = True) -> np.ndarray:
    """Heat kernel signature ``sum_i exp(-lambda_i t) phi_i(x)^2`` at log-spaced times.

    Default times span ``[4 ln10 / lambda_max, 4 ln10 / lambda_1]`` (Sun et al. 2009).
    ``scaled`` divides each time's column by its heat trace, making scales comparable.
    Returns ``(n, n_times)``.
    """
    evals, evecs = _check(evals, evecs)
    lam = np.clip(evals, 0, None)
    if times is None:
        pos = lam[lam > 1e-12]
        if pos.size == 0:
            raise ValueError("HKS needs at least one positive eigenvalue.")
        tmin, tmax = 4 * np.log(10) / pos.max(), 4 * np.log(10) / pos.min()
        times = np.geomspace(tmin, tmax, n_times)
    times = np.asarray(times, dtype=np.float64)
    coefs = np.exp(-np.outer(times, lam))  # (T, k)
    out = (evecs ** 2) @ coefs.T  # (n, T)
    if scaled:
        out = out / coefs.sum(1)[None, :]
    return out


def wks(evals, evecs, n_energies: int = 100, *, variance: float = 7.0, energies=None) -> np.ndarray:
    """Wave kernel signature (Aubry et al. 2011), ``(n, n_energies)``.

    Log-energies are evenly spaced over ``[log lambda_1, log lambda_max]`` (zero modes
    excluded), with a Gaussian band of width ``variance * spacing``; each column is divided by
    its normalization constant.
    """
    evals, evecs = _check(evals, evecs)
    keep = evals > 1e-12 * max(evals.max(), 1e-300)
    lam, phi = evals[keep], evecs[:, keep]
    if lam.size < 2:
        raise ValueError("WKS needs at least two positive eigenvalues; use a larger basis.")
    log_lam = np.log(lam)
    if energies is None:
        e_min, e_max = log_lam.min(), log_lam.max()
        sigma = variance * (e_max - e_min) / n_energies
        e_min, e_max = e_min + 2 * sigma, e_max - 2 * sigma
        energies = np.linspace(e_min, e_max, n_energies)
    else:
        energies = np.asarray(energies, dtype=np.float64)
        sigma = variance * (energies.max() - energies.min()) / max(len(energies), 1)
    coefs = np.exp(-((energies[:, None] - log_lam[None, :]) ** 2) / (2 * sigma ** 2))  # (E, k)
    out = (phi ** 2) @ coefs.T  # (n, E)
    return out / coefs.sum(1)[None, :]


def normalize_descriptors(descr: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Scale each column to unit M-norm (``sum mass * d^2 = 1``)."""
    norms = np.sqrt((mass[:, None] * descr ** 2).sum(0))
    return descr / np.maximum(norms, 1e-30)[None, :]
