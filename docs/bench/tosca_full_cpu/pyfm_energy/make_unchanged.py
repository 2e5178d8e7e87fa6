"""The rows of the second-opinion run that the second fallback energy cannot change: every pair
of it but the 17 re-run here (pairs_1.txt, pairs_2.txt: the pairs where the simulation of
../../tosca_diag/energy_screen says the kept map changes; on the other 59 pairs where the
fallback's axiomatic solves run, the new candidates are all less trusted than the kept map, and
elsewhere they do not run). Writes pyfm_energy/unchanged/bench.json (rows only: use it with
scripts/bench_classes.py, not merge_bench.py).
    python docs/bench/tosca_full_cpu/pyfm_energy/make_unchanged.py"""
import json
from pathlib import Path

here = Path(__file__).resolve().parent
so = here.parent / "second_opinion"
rerun = {tuple(line.split()) for f in ("pairs_1.txt", "pairs_2.txt") for line in (here / f).read_text().splitlines() if line}
d = json.loads((so / "unchanged" / "bench.json").read_text())
rows = list(d["pairs"]["ours"])
for f in ("ours_1", "ours_2"):
    rows += json.loads((so / f / "bench.json").read_text())["pairs"]["ours"]
d["pairs"] = {"ours": [r for r in rows if (r["source"], r["target"]) not in rerun]}
d["n_pairs"] = len(d["pairs"]["ours"])
d["note"] = (f"second_opinion rows (unchanged + ours_1 + ours_2) without the {len(rerun)} pairs re-run with "
             "the second fallback energy (rows only; pck not recomputed)")
d.pop("pck", None)
(here / "unchanged").mkdir(exist_ok=True)
(here / "unchanged" / "bench.json").write_text(json.dumps(d))
print(d["n_pairs"], "rows kept")
