"""The rows of the polish run that the bijective steps cannot change: the 128 pairs the polish did
not run on (they run only inside the polish). The 156 others are re-run here (pairs_1.txt,
pairs_2.txt). Writes bijective/unchanged/bench.json (rows only: use it with
scripts/bench_classes.py).
    python docs/bench/tosca_full_cpu/bijective/make_unchanged.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from unchanged_rows import write_unchanged  # noqa: E402

write_unchanged(here, [here.parent / "polish" / f / "bench.json" for f in ("ours_1", "ours_2")],
                "polish rows (ours_1 + ours_2) without the {n} pairs re-run with the bijective steps (rows only)",
                drop=("summary",), check=lambda r: not r["info"]["polish"]["ran"])
