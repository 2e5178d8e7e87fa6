"""Per-pair pictures of the run: left, each TOSCA_r pair's error before (two fallback energies)
and now (with the precision polish); right, ours now against pyfmaps; colours are the classes.
Pairs the polish did not run on sit on the line (the same map).
    python docs/bench/tosca_full_cpu/polish/plot.py    # writes polish/pairs.png"""
import json
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = Path(__file__).resolve().parent
top = here.parent


def rows(files, method="ours"):
    out = {}
    for f in files:
        for r in json.loads(Path(f).read_text())["pairs"].get(method, []):
            out[(r["source"], r["target"])] = r["mean_error_x100"]
    return out


before = rows([top / "pyfm_energy" / f / "bench.json" for f in ("unchanged", "ours_1", "ours_2")])
now = rows([here / f / "bench.json" for f in ("ours_1", "ours_2")])
peer = rows([top / "superseded_partial" / "bench.json", top.parent / "tosca_cpu" / "bench.json",
             top.parent / "tosca_holdout_cpu" / "bench.json", top / "run2" / "pyfmaps_1" / "bench.json",
             top / "run2" / "pyfmaps_2" / "bench.json"], "pyfmaps")
classes = sorted({k[0].rstrip("0123456789") for k in now})
colour = {c: plt.cm.tab10(i) for i, c in enumerate(classes)}
fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
for ax, ref, label in ((axes[0], before, "before (two fallback energies, 7eb27f5)"), (axes[1], peer, "pyfmaps (README settings)")):
    for c in classes:
        ks = [k for k in now if k[0].rstrip("0123456789") == c and k in ref]
        ax.scatter([ref[k] for k in ks], [now[k] for k in ks], s=14, color=colour[c], label=f"{c} ({len(ks)})", alpha=0.8)
    ax.plot([0.05, 80], [0.05, 80], color="0.5", lw=0.8)
    ax.axhline(5, color="0.7", lw=0.8, ls="--"); ax.axvline(5, color="0.7", lw=0.8, ls="--")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlim(0.05, 80); ax.set_ylim(0.05, 80)
    ax.set_xlabel(f"{label}: mean error x100"); ax.set_ylabel("ours now (with the polish): mean error x100")
    below = sum(now[k] < ref[k] - 0.05 for k in now if k in ref); above = sum(now[k] > ref[k] + 0.05 for k in now if k in ref)
    ax.set_title(f"{len([k for k in now if k in ref])} TOSCA_r pairs: {below} below the line, {above} above")
axes[0].legend(fontsize=8, loc="upper left")
fig.tight_layout()
fig.savefig(here / "pairs.png", dpi=110)
print("wrote", here / "pairs.png")
