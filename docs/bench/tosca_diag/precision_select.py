"""Which candidate to keep among the trusted ones: a study of precision signals (issue 11).

The matcher keeps its most trusted candidate. The confidence was calibrated to tell bad maps
(> 5) from good ones, not a 1.9 map from a 2.7 one, and on TOSCA_r pairs where the fallback ran
several candidates are trusted at 0.9-1.0 with errors that differ by up to 1 (horse0 -> horse15:
1.92 at 0.91, 2.74 at 0.96, the second kept). This script reads the candidates that
``scripts/diag_candidates.py --save-maps`` recorded and replays selection rules:

- ``trust``: the matcher's rule, the most trusted candidate;
- ``distortion@d``: among candidates whose confidence is within ``d`` of the best, the one with the
  lowest *mean* metric distortion over 200 seeded samples (the confidence's own signal is the 90 %
  quantile over 48 samples, made to catch a misplaced region, not to rank good maps);
- ``oracle``: the candidate with the lowest error (what any rule could reach).

Split (decided before looking at the numbers): **tune** = pairs with an even-numbered shape, other
than horse (shapes the feature network saw in training); **test** = every horse pair (a class
never trained on) and pairs of two odd-numbered shapes.

    python docs/bench/tosca_diag/precision_select.py out/psel/cands_0.jsonl out/psel/cands_1.jsonl \\
        --maps out/psel/maps
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from common import evaluator, np  # noqa: F401  (sets up the import path)

from shapecorr.fmap.confidence import _sample_distances

SAMPLES = 200


def split_of(a: str, b: str) -> str:
    num = [int(re.sub(r"\D", "", s)) for s in (a, b)]
    if a.startswith("horse") or all(n % 2 for n in num):
        return "test"
    return "tune"


class Distortion:
    """Mean metric distortion of a vertex map pair over SAMPLES seeded samples per shape (graph
    distances along mesh edges, relative to the mean sampled distance), both directions."""

    def __init__(self, ds):
        self.ds, self.shapes, self.own = ds, {}, {}

    def shape(self, name: str):
        if name not in self.shapes:
            import shapecorr

            s = shapecorr.load(str(self.ds.shape_path(name)))
            rng = np.random.default_rng(0)
            samples = rng.choice(s.n_vertices, SAMPLES, replace=False)
            self.shapes[name] = (s, samples)
            self.own[name] = _sample_distances(s.vertices, s.edges, samples)
        return self.shapes[name]

    def __call__(self, a: str, b: str, p21: np.ndarray, p12: np.ndarray) -> float:
        out = []
        for x, y, p in ((a, b, p12), (b, a, p21)):
            sx, samples = self.shape(x)
            sy, _ = self.shape(y)
            Dx = self.own[x]
            Dy = _sample_distances(sy.vertices, sy.edges, p[samples])
            out.append(float(np.abs(Dx - Dy).mean() / Dx.mean()))
        return float(np.mean(out))


def load_rows(paths: list[Path]) -> list[dict]:
    rows = {}
    for p in paths:
        for line in p.read_text().splitlines():
            r = json.loads(line)
            rows[(r["source"], r["target"])] = r
    return [rows[k] for k in sorted(rows)]


def choose(cands: list[dict], rule: str) -> dict:
    best = max(cands, key=lambda c: c["confidence"])  # first on ties, as the matcher
    if rule == "trust":
        return best
    if rule == "oracle":
        return min(cands, key=lambda c: c["error"])
    d = float(rule.split("@")[1])
    near = [c for c in cands if c["confidence"] >= best["confidence"] - d]
    return min(near, key=lambda c: c["distortion"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl", nargs="+", type=Path)
    ap.add_argument("--maps", type=Path, required=True)
    args = ap.parse_args()
    ds, _ = evaluator("TOSCA")
    dist = Distortion(ds)
    rows = load_rows(args.jsonl)
    for r in rows:
        z = np.load(args.maps / f"{r['source']}__{r['target']}.npz")
        for i, c in enumerate(r["candidates"]):
            c["distortion"] = dist(r["source"], r["target"], z[f"c{i}_21"], z[f"c{i}_12"])
    rules = ["trust", "distortion@0.02", "distortion@0.05", "distortion@0.1", "distortion@0.2", "oracle"]
    print(f"{'pair':<24} {'split':<5} " + " ".join(f"{r:>16}" for r in rules))
    res = {}
    for r in rows:
        sp = split_of(r["source"], r["target"])
        line = []
        for rule in rules:
            c = choose(r["candidates"], rule)
            res.setdefault((sp, rule), []).append(c["error"])
            res.setdefault(("all", rule), []).append(c["error"])
            line.append(f"{c['error']:7.2f} ({c['confidence']:.2f})")
        print(f"{r['source'] + '->' + r['target']:<24} {sp:<5} " + " ".join(f"{x:>16}" for x in line))
    print()
    for sp in ("tune", "test", "all"):
        n = len(res.get((sp, "trust"), []))
        if not n:
            continue
        print(f"{sp} ({n} pairs): " + " | ".join(
            f"{rule} {np.mean(res[(sp, rule)]):.3f} / {np.median(res[(sp, rule)]):.2f} / "
            f"{sum(e > 5 for e in res[(sp, rule)])}" for rule in rules))
    # how well does each signal rank the trusted candidates of a pair (Spearman within pairs)?
    from scipy.stats import spearmanr

    names = ["distortion"] + sorted(rows[0]["candidates"][0]["signals"])
    print("\nwithin-pair rank correlation with the error, candidates at confidence >= 0.5 (pairs with >= 3):")
    for name in names + ["confidence"]:
        cs = []
        for r in rows:
            cands = [c for c in r["candidates"] if c["confidence"] >= 0.5]
            if len(cands) < 3:
                continue
            vals = [c[name] if name in c else c["signals"].get(name) for c in cands]
            if any(v is None for v in vals) or len(set(vals)) < 2:
                continue
            cs.append(spearmanr(vals, [c["error"] for c in cands]).statistic)
        if cs:
            print(f"  {name:<22} {np.nanmean(cs):+.3f} over {len(cs)} pairs")


if __name__ == "__main__":
    main()
