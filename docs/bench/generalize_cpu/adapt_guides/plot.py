#!/usr/bin/env python
"""Every re-run adapted pair's error before (adapted map unguided) and after (guided by the adapted
features), one point per pair, a panel per kind of set, from the ``changes.jsonl`` that
``merge.py`` writes in each set's folder.

    python docs/bench/generalize_cpu/adapt_guides/plot.py docs/bench/generalize_cpu/adapt_guides
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (("meshes: TOSCA_r, TOSCA_r remeshed", ("tosca", "toscaremeshed")),
          ("a point cloud: mesh -> cloud, two clouds, resampled clouds", ("meshpc", "pc", "pcsurf", "pcnoise", "pcdensity")),
          ("non-isometric: cat / lion", ("catlion",)))


def main(folder: str) -> None:
    here = Path(folder)
    rows = [json.loads(line) for f in sorted(here.glob("*/changes.jsonl")) for line in f.read_text().splitlines() if line]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4.8))
    for ax, (title, sets) in zip(axes, PANELS):
        for name in sets:
            pts = [r for r in rows if r["set"] == name]
            if pts:
                ax.scatter([r["before"] for r in pts], [r["after"] for r in pts], s=18, label=f"{name} ({len(pts)})")
        top = max([r["before"] for r in rows] + [r["after"] for r in rows]) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=0.8)
        ax.axhline(5, color="red", lw=0.5, ls=":"), ax.axvline(5, color="red", lw=0.5, ls=":")
        ax.set(xlim=(0, top), ylim=(0, top), xlabel="before: the default, adapted map refined unguided (x100)",
               ylabel="after: its ZoomOut guided by the adapted features (x100)", title=title)
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
    fig.suptitle("Pairs whose adaptation ran: below the diagonal = better", fontsize=10)
    fig.tight_layout()
    fig.savefig(here / "pairs.png", dpi=110)


if __name__ == "__main__":
    main(sys.argv[1])
