"""Per-pair pictures of the run: left, each TOSCA_r pair's error before (second opinion) and now
(two fallback energies); right, ours now against pyfmaps; colours are the classes.
    python docs/bench/tosca_full_cpu/pyfm_energy/plot.py    # writes pyfm_energy/pairs.png"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from pairs_plot import plot  # noqa: E402

plot([here.parent / "second_opinion" / f / "bench.json" for f in ("unchanged", "ours_1", "ours_2")],
     [here / f / "bench.json" for f in ("unchanged", "ours_1", "ours_2")],
     "before (second opinion, f9b22d5)", "two fallback energies", here / "pairs.png")
