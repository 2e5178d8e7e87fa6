"""Per-pair errors before and after the hole-size and bridging change (this folder's runs).

    python docs/bench/flaws_cpu/gaps/plot.py
"""
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HERE = Path(__file__).resolve().parent


def rows(run):
    with open(HERE / run / "rows.csv") as fh:
        return {(r["source"], r["target"], r["flaw"]): float(r["error"]) for r in csv.DictReader(fh)}


fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
for ax, seed in zip(axes, ("seed0", "seed1")):
    before, after = rows(f"{seed}_before"), rows(f"{seed}_after")
    keys = sorted(k for k in after if k in before)
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [before[k] for k in keys], 0.4, label="before (ad4bb3e)", color="#bbbbbb")
    ax.bar(x + 0.2, [after[k] for k in keys], 0.4, label="after", color="#3060c0")
    ax.axhline(5, color="k", lw=0.6, ls=":")
    ax.set_xticks(x, [f"{a[-3:]}->{b[-3:]}\n{f}" for a, b, f in keys], rotation=90, fontsize=7)
    ax.set_yscale("log")
    ax.set_title(f"--seed {seed[-1]} ({'held out' if seed == 'seed1' else 'looked at while building'})")
axes[0].set_ylabel("mean geodesic error x100 (log)")
axes[0].legend()
fig.suptitle("FAUST_r targets with large missing regions: gaps (3 x 3-6 % of the faces) and gap15 (10-15 %)")
fig.tight_layout()
fig.savefig(HERE / "pairs.png", dpi=110)
