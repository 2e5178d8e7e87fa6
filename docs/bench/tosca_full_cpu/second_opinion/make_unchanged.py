"""The rows of run2/ours that fallback_below = 0.95 cannot change: every pair of the full run but
the 67 re-run here (pairs_1.txt, pairs_2.txt: the pairs whose kept map was trusted below 0.95 with
no fallback run; on every other pair the pipeline takes the same path as before). Writes
second_opinion/unchanged/bench.json (rows only: its PCK curve is not recomputed, so use it with
scripts/bench_classes.py, not merge_bench.py).
    python docs/bench/tosca_full_cpu/second_opinion/make_unchanged.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from unchanged_rows import write_unchanged  # noqa: E402

write_unchanged(here, [here.parent / "run2" / "ours" / "bench.json"],
                "run2/ours without the {n} pairs re-run with fallback_below = 0.95 (rows only; pck not recomputed)")
