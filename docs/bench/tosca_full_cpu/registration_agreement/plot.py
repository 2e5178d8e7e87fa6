"""Per-pair pictures of the registration step on TOSCA_r: left, each pair's error before any
registration (adapt_guides) and now (registered below 0.95 or where the features agree less);
right, ours now against pyfmaps; colours are the classes. Pairs not registered sit on the line.
    python docs/bench/tosca_full_cpu/registration_agreement/plot.py    # writes pairs.png"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from pairs_plot import plot  # noqa: E402

plot([here.parents[1] / "generalize_cpu" / "adapt_guides" / "tosca" / "rows.jsonl"],
     [here / "merged" / "rows.jsonl"],
     "before the registration step", "registered below 0.95 or agreement below 0.75", here / "pairs.png")
