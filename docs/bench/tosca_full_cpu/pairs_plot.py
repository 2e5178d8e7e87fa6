"""The per-pair picture of a full TOSCA_r run (used by each run's plot.py): left, each pair's error
in an earlier run against this one; right, this run against pyfmaps; colours are the classes."""
import json
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

TOP = Path(__file__).resolve().parent
PYFMAPS = [TOP / "superseded_partial" / "bench.json", TOP.parent / "tosca_cpu" / "bench.json",
           TOP.parent / "tosca_holdout_cpu" / "bench.json", TOP / "run2" / "pyfmaps_1" / "bench.json",
           TOP / "run2" / "pyfmaps_2" / "bench.json"]


def rows(files, method="ours"):
    """(source, target) -> mean error x100 of ``method``'s rows in these files: bench.json files
    of scripts/bench_match.py, or rows.jsonl files of scripts/bench_generalize.py (whose method
    keys start with ``method``)."""
    out = {}
    for f in files:
        text = Path(f).read_text()
        if str(f).endswith(".jsonl"):
            found = [json.loads(line) for line in text.splitlines() if line.strip()]
            found = [r for r in found if r["method"].split("|")[0] == method]
        else:
            found = json.loads(text)["pairs"].get(method, [])
        for r in found:
            out[(r["source"], r["target"])] = r["mean_error_x100"]
    return out


def plot(before_files, now_files, before_label: str, now_label: str, out: Path) -> None:
    before, now, peer = rows(before_files), rows(now_files), rows(PYFMAPS, "pyfmaps")
    classes = sorted({k[0].rstrip("0123456789") for k in now})
    colour = {c: plt.cm.tab10(i) for i, c in enumerate(classes)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    for ax, ref, label in ((axes[0], before, before_label), (axes[1], peer, "pyfmaps (README settings)")):
        for c in classes:
            ks = [k for k in now if k[0].rstrip("0123456789") == c and k in ref]
            ax.scatter([ref[k] for k in ks], [now[k] for k in ks], s=14, color=colour[c], label=f"{c} ({len(ks)})",
                       alpha=0.8)
        ax.plot([0.05, 80], [0.05, 80], color="0.5", lw=0.8)
        ax.axhline(5, color="0.7", lw=0.8, ls="--"); ax.axvline(5, color="0.7", lw=0.8, ls="--")
        ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlim(0.05, 80); ax.set_ylim(0.05, 80)
        ax.set_xlabel(f"{label}: mean error x100"); ax.set_ylabel(f"ours now ({now_label}): mean error x100")
        shared = [k for k in now if k in ref]
        below = sum(now[k] < ref[k] - 0.05 for k in shared); above = sum(now[k] > ref[k] + 0.05 for k in shared)
        ax.set_title(f"{len(shared)} TOSCA_r pairs: {below} below the line, {above} above")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)
