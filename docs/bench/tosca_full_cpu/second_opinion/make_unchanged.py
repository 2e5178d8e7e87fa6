"""The rows of run2/ours that fallback_below = 0.95 cannot change: every pair of the full run but
the 67 re-run here (pairs_1.txt, pairs_2.txt: the pairs whose kept map was trusted below 0.95 with
no fallback run; on every other pair the pipeline takes the same path as before). Writes
second_opinion/unchanged/bench.json (rows only: its PCK curve is not recomputed, so use it with
scripts/bench_classes.py, not merge_bench.py).
    python docs/bench/tosca_full_cpu/second_opinion/make_unchanged.py"""
import json
from pathlib import Path

here = Path(__file__).resolve().parent
rerun = {tuple(line.split()) for f in ("pairs_1.txt", "pairs_2.txt") for line in (here / f).read_text().splitlines() if line}
d = json.loads((here.parent / "run2" / "ours" / "bench.json").read_text())
d["pairs"] = {m: [r for r in rows if (r["source"], r["target"]) not in rerun] for m, rows in d["pairs"].items()}
d["n_pairs"] = len(d["pairs"]["ours"])
d["note"] = f"run2/ours without the {len(rerun)} pairs re-run with fallback_below = 0.95 (rows only; pck not recomputed)"
d.pop("pck", None)
(here / "unchanged").mkdir(exist_ok=True)
(here / "unchanged" / "bench.json").write_text(json.dumps(d))
print(d["n_pairs"], "rows kept")
