"""The compute device a caller names: ``"cpu"`` or ``"cuda"`` / ``"cuda:i"``, checked before any work."""

from __future__ import annotations

from .errors import SettingsError


def check_device(device, what: str = "device") -> str:
    """``device`` as a string, after checking that it is ``cpu`` or ``cuda[:i]`` and that a CUDA
    device is visible to torch when one is named. ``what`` names the setting in the message
    (``"--device"`` for the command line). Raises :class:`SettingsError` otherwise."""
    dev = str(device)
    if dev == "cpu":
        return dev
    if dev != "cuda" and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        raise SettingsError(f"{what} {dev!r}: use 'cpu' or 'cuda' (or 'cuda:N').")
    on_cpu = f"{what} cpu" if what.startswith("--") else f"{what}='cpu'"  # how to say "use the CPU" there
    try:
        import torch
    except ImportError as exc:  # torch is a dependency; a broken install still gets a clear message
        raise SettingsError(f"{what} {dev}: needs PyTorch with CUDA; use {on_cpu}.") from exc
    if not torch.cuda.is_available():
        raise SettingsError(f"{what} {dev}: no CUDA device is visible to torch (this PyTorch "
                            f"{'has no CUDA' if torch.version.cuda is None else 'found no GPU'}); use {on_cpu}.")
    index = int(dev[5:]) if ":" in dev else 0
    if index >= torch.cuda.device_count():
        raise SettingsError(f"{what} {dev}: torch sees {torch.cuda.device_count()} CUDA device(s); "
                            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return dev
