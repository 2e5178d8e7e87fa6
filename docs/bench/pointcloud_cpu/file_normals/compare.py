"""Grouped bars: each realworld cloud pair with estimated normals and with the file's normals.

    python docs/bench/pointcloud_cpu/file_normals/compare.py docs/bench/pointcloud_cpu/file_normals
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

folder = Path(sys.argv[1])
runs = {label: [json.loads(line) for line in open(folder / sub / "rows.jsonl")]
        for label, sub in (("estimated normals", "estimated"), ("the file's normals", "with_normals"))}
pairs = [(r["model"], r["kind"]) for r in runs["estimated normals"]]
fig, ax = plt.subplots(figsize=(12, 4))
x = np.arange(len(pairs))
for i, (label, rows) in enumerate(runs.items()):
    by_pair = {(r["model"], r["kind"]): r for r in rows}
    rows = [by_pair[p] for p in pairs]
    bars = ax.bar(x + (i - 0.5) * 0.4, [min(r["mean"], 30) for r in rows], 0.4, label=label,
                  color=["tab:blue", "tab:green"][i], edgecolor=["red" if r["low"] else "none" for r in rows])
    for b, r in zip(bars, rows):
        if r["mean"] > 30:
            ax.text(b.get_x() + 0.2, 30.5, f"{r['mean']:.0f}", ha="center", fontsize=7)
ax.set_xticks(x, [f"{m}\n{k}" for m, k in pairs], rotation=90, fontsize=7)
ax.set_ylabel("mean geodesic error x100 (cut at 30)")
ax.axhline(5, color="grey", lw=0.5, ls="--")
ax.set_title("realworld models drawn as points: estimated normals vs the file's (red edge: flagged low confidence)")
ax.legend()
fig.tight_layout()
fig.savefig(folder / "compare.png", dpi=110)
