"""Pair-by-pair comparison of two runs of the matcher (issue 11: the bundled default model against
the one reproduced from scratch by ``scripts/reproduce_default_model.sh``).

Each side is one or more result files: ``bench.json`` of ``scripts/bench_match.py`` (its "ours"
rows) or ``rows.jsonl`` of ``scripts/bench_generalize.py``. Pairs are joined on (source, target);
only pairs both sides have are compared. Prints the mean / median / pairs above 5 of each side on
the common pairs, per class (the shape name without its trailing digits), how many pairs got better
or worse by more than ``--margin``, and the largest changes.

    python docs/bench/generalize_cpu/reproduced_model/compare.py \
        --a docs/bench/faust_cpu_confidence/bench.json --b out/repro_bench/faust/rows.jsonl
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path


def load_rows(path: Path, only_set: str | None = None) -> dict[tuple[str, str], dict]:
    """Our rows of one result file (a later row of a pair replaces an earlier one): (source, target) -> row with at least ``mean_error_x100`` (and ``confidence``, ``adapted``: whether adaptation ran). ``only_set``: only the rows of that benchmark set (rows.jsonl; sets such as faust and remeshed share shape names)."""
    out = {}
    if path.suffix == ".jsonl":
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if only_set is not None and row.get("set") != only_set:
                    continue
                if row["method"].startswith("ours"):  # not the peer's rows of the same pair
                    out[(row["source"], row["target"])] = row
        return out
    data = json.loads(path.read_text())
    for row in data["pairs"].get("ours", []):
        info = row.get("info") or {}
        row = dict(row)
        row.setdefault("adapted", bool((info.get("adaptation") or {}).get("ran")))
        row.setdefault("confidence", info.get("confidence"))
        out[(row["source"], row["target"])] = row
    return out


def load_side(paths: list[Path], only_set: str | None = None) -> dict[tuple[str, str], dict]:
    rows = {}
    for p in paths:
        rows.update(load_rows(p, only_set))
    return rows


def shape_class(name: str) -> str:
    return re.sub(r"[_\d]+$", "", name) or name


def summary(errors: list[float]) -> str:
    if not errors:
        return "-"
    return f"{statistics.fmean(errors):.2f} / {statistics.median(errors):.2f} / {sum(e > 5 for e in errors)}"


def compare(a: dict, b: dict, margin: float, top: int, label_a: str, label_b: str) -> str:
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit("no pair is in both runs")
    lines = [f"{len(common)} common pairs ({len(a)} in {label_a}, {len(b)} in {label_b})", "",
             f"| class | pairs | {label_a}: mean / median / above 5 | {label_b}: mean / median / above 5 | better | worse |",
             "|---|---|---|---|---|---|"]
    classes = sorted({shape_class(s) for s, _ in common})
    groups = [(c, [p for p in common if shape_class(p[0]) == c]) for c in classes]
    if len(groups) > 1:
        groups.append(("**all**", common))
    for name, pairs in groups:
        ea = [a[p]["mean_error_x100"] for p in pairs]
        eb = [b[p]["mean_error_x100"] for p in pairs]
        better = sum(y < x - margin for x, y in zip(ea, eb))
        worse = sum(y > x + margin for x, y in zip(ea, eb))
        lines.append(f"| {name} | {len(pairs)} | {summary(ea)} | {summary(eb)} | {better} | {worse} |")
    delta = sorted(common, key=lambda p: b[p]["mean_error_x100"] - a[p]["mean_error_x100"])
    def fmt(p):
        conf = b[p].get("confidence")
        return (f"{p[0]} -> {p[1]}: {a[p]['mean_error_x100']:.2f} -> {b[p]['mean_error_x100']:.2f}"
                f" (confidence {'?' if conf is None else round(conf, 2)}, adapted {b[p].get('adapted')})")
    lines += ["", f"Largest gains ({label_b} against {label_a}):"] + [f"- {fmt(p)}" for p in delta[:top]]
    lines += ["", "Largest losses:"] + [f"- {fmt(p)}" for p in reversed(delta[-top:])]
    ad_a = sum(bool(a[p].get("adapted")) for p in common)
    ad_b = sum(bool(b[p].get("adapted")) for p in common)
    lines += ["", f"Adaptation ran: {label_a} {ad_a}, {label_b} {ad_b} of {len(common)}"]
    return "\n".join(lines)


def plot(a: dict, b: dict, path: Path, title: str, label_a: str, label_b: str) -> None:
    """Each common pair as a point (error of a, error of b), log scales, coloured by class."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    common = sorted(set(a) & set(b))
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for c in sorted({shape_class(s) for s, _ in common}):
        pairs = [p for p in common if shape_class(p[0]) == c]
        ax.scatter([a[p]["mean_error_x100"] for p in pairs], [b[p]["mean_error_x100"] for p in pairs], s=12, label=c)
    lo = min(min(a[p]["mean_error_x100"], b[p]["mean_error_x100"]) for p in common) * 0.8
    hi = max(max(a[p]["mean_error_x100"], b[p]["mean_error_x100"]) for p in common) * 1.25
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.axhline(5, color="grey", ls=":", lw=0.8)
    ax.axvline(5, color="grey", ls=":", lw=0.8)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=f"{label_a}: error x100",
           ylabel=f"{label_b}: error x100", title=f"{title} ({len(common)} pairs; below the line: {label_b} better)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, nargs="+", required=True, help="result files of the first run")
    ap.add_argument("--b", type=Path, nargs="+", required=True, help="result files of the second run")
    ap.add_argument("--label-a", default="bundled")
    ap.add_argument("--label-b", default="reproduced")
    ap.add_argument("--margin", type=float, default=0.05, help="a change smaller than this is neither")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--plot", type=Path, metavar="PNG", help="also draw every common pair (a against b)")
    ap.add_argument("--title", default="")
    ap.add_argument("--set", dest="only_set", metavar="NAME",
                    help="only this benchmark set's rows (rows.jsonl of bench_generalize.py holding several sets)")
    args = ap.parse_args(argv)
    a, b = load_side(args.a, args.only_set), load_side(args.b, args.only_set)
    print(compare(a, b, args.margin, args.top, args.label_a, args.label_b))
    if args.plot:
        plot(a, b, args.plot, args.title, args.label_a, args.label_b)


if __name__ == "__main__":
    main()
