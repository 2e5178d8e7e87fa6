"""Plots of evaluation results (matplotlib, off-screen Agg canvas; no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_pck(curves: dict, path, *, title: str | None = None, x_max: float | None = None,
             dpi: int = 120) -> Path:
    """Write a PCK plot: ``curves`` maps a label to ``(thresholds, values)``; the legend gives each AUC.

    ``x_max`` limits the x axis (default: the largest threshold); the AUC in the legend is over
    the plotted range.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .metrics import auc

    path = Path(path)
    fig = Figure(figsize=(6.0, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, (t, v) in curves.items():
        t = np.asarray(t, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        if x_max is not None:
            keep = t <= x_max + 1e-12
            t, v = t[keep], v[keep]
        area = auc(t, v) if len(t) > 1 else float("nan")
        ax.plot(t, v, lw=2, label=f"{label} (AUC {area:.3f})")
    ax.set_xlabel("geodesic error / sqrt(area)")
    ax.set_ylabel("fraction of correspondences")
    ax.set_ylim(0, 1.01)
    if x_max is not None:
        ax.set_xlim(0, x_max)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
