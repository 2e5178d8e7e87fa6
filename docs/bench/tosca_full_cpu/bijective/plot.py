"""Per-pair pictures of the run: left, each TOSCA_r pair's error before (the plain polish) and now
(with its two bijective steps); right, ours now against pyfmaps; colours are the classes. Pairs the
polish does not run on sit on the line (the same map).
    python docs/bench/tosca_full_cpu/bijective/plot.py    # writes bijective/pairs.png"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from pairs_plot import plot  # noqa: E402

plot([here.parent / "polish" / f / "bench.json" for f in ("ours_1", "ours_2")],
     [here / f / "bench.json" for f in ("unchanged", "ours_1", "ours_2")],
     "before (plain polish, daf8288)", "with the bijective steps", here / "pairs.png")
