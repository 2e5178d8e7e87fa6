"""Per-pair picture of the registration step: on the tune sets (simulated from the default's saved
maps, run.py) and on the test sets (the default before and after, bench_generalize rows).

    python docs/bench/generalize_cpu/nonisometric_sets/register_polish/plot.py   # -> pairs.png
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
SETS = HERE.parent
CONF = json.loads((HERE / "tune" / "kept_confidence.json").read_text())
TUNE = {"FAUST_r 070-079 re-proportioned (seeds 1-3)": [("faust_s1.jsonl", "diag_faust_tune.jsonl"),
                                                        ("faust_s2.jsonl", "diag_faust_tune_s2.jsonl"),
                                                        ("faust_s3.jsonl", "diag_faust_tune_s3.jsonl")],
        "TOSCA_r tune animals re-proportioned": [("tosca_animals.jsonl", None)]}


def rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def tune_points(files):
    xs, ys, low = [], [], []
    for sim, conf_file in files:
        conf = CONF[conf_file] if conf_file else {**CONF["diag_tta_1.jsonl"], **CONF["diag_tta_2.jsonl"]}
        for r in rows(HERE / "tune" / sim):
            xs.append(r["default"])
            ys.append(r["register"])
            low.append(conf[r["pair"]] < 0.95)
    return xs, ys, low


def test_points(before, after):
    old = {(r["source"], r["target"]): r["mean_error_x100"] for r in rows(before) if r["method"].startswith("ours|default")}
    new = [r for r in rows(after) if r["method"].startswith("ours|default")]
    return [old[(r["source"], r["target"])] for r in new], [r["mean_error_x100"] for r in new]


def main():
    fig, axs = plt.subplots(1, 4, figsize=(20, 5.2))
    for ax, (title, files) in zip(axs[:2], TUNE.items()):
        xs, ys, low = tune_points(files)
        ax.scatter([x for x, l in zip(xs, low) if not l], [y for y, l in zip(ys, low) if not l], s=14, c="0.6",
                   label="kept map trusted >= 0.95 (not registered)")
        ax.scatter([x for x, l in zip(xs, low) if l], [y for y, l in zip(ys, low) if l], s=18, c="tab:red",
                   label="below 0.95 (registered)")
        ax.set_title(f"tune: {title}\n(every pair registered, simulated)", fontsize=10)
    for ax, (title, name) in zip(axs[2:], [("FAUST_r test re-proportioned", "faust"),
                                          ("TOSCA_r unseen re-proportioned", "tosca")]):
        after = HERE / f"test_{name}" / "rows.jsonl"
        if not after.exists():
            continue
        xs, ys = test_points(SETS / name / "rows.jsonl", after)
        ax.scatter(xs, ys, s=18, c="tab:blue", label="pairs below 0.95, whole pipeline")
        ax.set_title(f"test (run once): {title}", fontsize=10)
    for ax in axs:
        lim = max(max(ax.get_xlim()[1], ax.get_ylim()[1]), 6)
        ax.plot([0, lim], [0, lim], "k--", lw=0.8)
        ax.set_xlim(0, lim)
        ax.set_ylim(0, lim)
        ax.set_xlabel("default before (mean geodesic error x100)")
        ax.set_ylabel("with the registration")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / "pairs.png", dpi=80)


if __name__ == "__main__":
    main()
