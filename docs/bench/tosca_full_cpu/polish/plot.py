"""Per-pair pictures of the run: left, each TOSCA_r pair's error before (two fallback energies)
and now (with the precision polish); right, ours now against pyfmaps; colours are the classes.
Pairs the polish did not run on sit on the line (the same map).
    python docs/bench/tosca_full_cpu/polish/plot.py    # writes polish/pairs.png"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from pairs_plot import plot  # noqa: E402

plot([here.parent / "pyfm_energy" / f / "bench.json" for f in ("unchanged", "ours_1", "ours_2")],
     [here / f / "bench.json" for f in ("ours_1", "ours_2")],
     "before (two fallback energies, 7eb27f5)", "with the polish", here / "pairs.png")
