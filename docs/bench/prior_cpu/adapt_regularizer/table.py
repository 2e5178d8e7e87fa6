#!/usr/bin/env python
"""The two regularizers side by side (issue 12): per benchmark set, the same pairs matched with the
axiomatic regularizers or the learned prior (rows of ``scripts/bench_generalize.py``), next to the
default on the same pairs (earlier runs of today's default: ``--reference``), as a Markdown table.
Used for test-time adaptation (``adapt_when=replace``, ``adapt_regularizer`` axiomatic or prior:
the defaults of the labels) and for self-supervised training (``--what "fine-tuned"
--reference-label "the shipped model"``). ``--by-class``: a row per class too (TOSCA_r).

    python docs/bench/prior_cpu/adapt_regularizer/table.py \
        --axiomatic docs/bench/prior_cpu/adapt_regularizer/axiomatic/rows.jsonl \
        --prior docs/bench/prior_cpu/adapt_regularizer/prior/rows.jsonl \
        --reference docs/bench/generalize_cpu/reproduced_model/{faust,tosca,remeshed}/rows.jsonl \
                    docs/bench/generalize_cpu/pc_surface_third/test_points/rows.jsonl
"""
import argparse
import json
import statistics
from pathlib import Path


def rows(paths: list[Path]) -> dict[tuple[str, str, str], dict]:
    out = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["method"].startswith("ours"):
                    out[(r["set"], r["source"], r["target"])] = r
    return out


NAMES = ("axiomatic regularizers", "learned prior")


def groups(common: list, rows_: dict, by_class: bool) -> list[tuple[str, list]]:
    """(row title, keys) per set, and per class within a set of several classes when ``by_class``."""
    out = []
    for name in dict.fromkeys(k[0] for k in common):
        keys = [k for k in common if k[0] == name]
        out.append((name, keys))
        classes = list(dict.fromkeys(rows_[k].get("class") for k in keys))
        if by_class and len(classes) > 1:
            out += [(f"… {c}", [k for k in keys if rows_[k].get("class") == c]) for c in sorted(classes, key=str)]
    return out


def cell(errors: list[float]) -> str:
    if not errors:
        return "–"
    return f"{statistics.fmean(errors):.2f} / {statistics.median(errors):.2f} / {sum(e > 5 for e in errors)}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--axiomatic", type=Path, nargs="+", required=True)
    ap.add_argument("--prior", type=Path, nargs="+", required=True)
    ap.add_argument("--reference", type=Path, nargs="*", default=[], help="the default without adaptation")
    ap.add_argument("--margin", type=float, default=0.05)
    ap.add_argument("--what", default="adapted", help="what the two runs did, for the column titles (default: %(default)s)")
    ap.add_argument("--reference-label", default="no adaptation (the default)", help="the reference column's title")
    ap.add_argument("--names", nargs=2, default=("axiomatic regularizers", "learned prior"), metavar=("AX", "PR"),
                    help="the two runs' names in the column titles (default: the regularizers)")
    ap.add_argument("--reference-short", default="no adaptation", help="the reference's name in the list of pairs")
    ap.add_argument("--by-class", action="store_true", help="also a row per class of sets that have classes")
    ap.add_argument("--plot", type=Path, metavar="PNG", help="also draw every common pair: axiomatic against prior")
    a = ap.parse_args(argv)
    ax, pr, ref = rows(a.axiomatic), rows(a.prior), rows(a.reference)
    common = [k for k in ax if k in pr]
    print(f"| set | pairs | {a.reference_label} | {a.what}, {a.names[0]} | {a.what}, {a.names[1]} "
          "| second better / worse | median CPU s per pair, first / second |" if tuple(a.names) != NAMES else
          f"| set | pairs | {a.reference_label} | {a.what}, axiomatic regularizers | {a.what}, learned prior "
          "| prior better / worse | median CPU s per pair, axiomatic / prior |")
    print("|---|---|---|---|---|---|---|")
    for name, keys in groups(common, ax, a.by_class):
        e_ax = [ax[k]["mean_error_x100"] for k in keys]
        e_pr = [pr[k]["mean_error_x100"] for k in keys]
        e_ref = [ref[k]["mean_error_x100"] for k in keys if k in ref]
        better = sum(p < x - a.margin for p, x in zip(e_pr, e_ax))
        worse = sum(p > x + a.margin for p, x in zip(e_pr, e_ax))
        t_ax = statistics.median(ax[k]["cpu_s"] for k in keys)
        t_pr = statistics.median(pr[k]["cpu_s"] for k in keys)
        ref_cell = cell(e_ref) + ("" if len(e_ref) == len(keys) else f" ({len(e_ref)} pairs)")
        print(f"| {name} | {len(keys)} | {ref_cell} | {cell(e_ax)} | {cell(e_pr)} | {better} / {worse} "
              f"| {t_ax:.0f} / {t_pr:.0f} |")
    print()
    print("Cells: mean / median / pairs above 5 (x100 geodesic error). Pairs differing by more than "
          f"{a.margin} between the two regularizers:")
    for k in common:
        d = pr[k]["mean_error_x100"] - ax[k]["mean_error_x100"]
        if abs(d) > a.margin:
            n0, n1 = ("axiomatic", "prior") if tuple(a.names) == NAMES else a.names
            print(f"- {k[0]} {k[1]} -> {k[2]}: {n0} {ax[k]['mean_error_x100']:.2f}, {n1} "
                  f"{pr[k]['mean_error_x100']:.2f}" + (f" ({a.reference_short} {ref[k]['mean_error_x100']:.2f})" if k in ref else ""))
    if a.plot:
        plot(ax, pr, common, a.plot, a.what)


def plot(ax: dict, pr: dict, common: list, path: Path, what: str = "adapted") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(figsize=(5.5, 5.5))
    for name in dict.fromkeys(k[0] for k in common):
        keys = [k for k in common if k[0] == name]
        axes.scatter([ax[k]["mean_error_x100"] for k in keys], [pr[k]["mean_error_x100"] for k in keys], s=18, label=name)
    hi = max(max(ax[k]["mean_error_x100"], pr[k]["mean_error_x100"]) for k in common) * 1.1
    axes.plot([0, hi], [0, hi], color="k", lw=0.8)
    axes.axhline(5, color="grey", ls=":", lw=0.8)
    axes.axvline(5, color="grey", ls=":", lw=0.8)
    axes.set_xlim(0, hi)
    axes.set_ylim(0, hi)
    axes.set_xlabel(f"{what} with the axiomatic regularizers: error x100")
    axes.set_ylabel(f"{what} with the learned prior: error x100")
    axes.set_title(f"{len(common)} pairs; below the line: prior better", fontsize=9)
    axes.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
