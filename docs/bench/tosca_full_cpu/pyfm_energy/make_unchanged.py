"""The rows of the second-opinion run that the second fallback energy cannot change: every pair
of it but the 17 re-run here (pairs_1.txt, pairs_2.txt: the pairs where the simulation of
../../tosca_diag/energy_screen says the kept map changes; on the other 59 pairs where the
fallback's axiomatic solves run, the new candidates are all less trusted than the kept map, and
elsewhere they do not run). Writes pyfm_energy/unchanged/bench.json (rows only: use it with
scripts/bench_classes.py, not merge_bench.py).
    python docs/bench/tosca_full_cpu/pyfm_energy/make_unchanged.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from unchanged_rows import write_unchanged  # noqa: E402

so = here.parent / "second_opinion"
write_unchanged(here, [so / f / "bench.json" for f in ("unchanged", "ours_1", "ours_2")],
                "second_opinion rows (unchanged + ours_1 + ours_2) without the {n} pairs re-run with "
                "the second fallback energy (rows only; pck not recomputed)")
