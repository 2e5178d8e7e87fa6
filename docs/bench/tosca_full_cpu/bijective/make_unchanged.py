"""The rows of the polish run that the bijective steps cannot change: the 128 pairs the polish did
not run on (they run only inside the polish). The 156 others are re-run here (pairs_1.txt,
pairs_2.txt). Writes bijective/unchanged/bench.json (rows only: use it with
scripts/bench_classes.py).
    python docs/bench/tosca_full_cpu/bijective/make_unchanged.py"""
import json
from pathlib import Path

here = Path(__file__).resolve().parent
polish = here.parent / "polish"
rerun = {tuple(line.split()) for f in ("pairs_1.txt", "pairs_2.txt") for line in (here / f).read_text().splitlines() if line}
d = json.loads((polish / "ours_1" / "bench.json").read_text())
rows = list(d["pairs"]["ours"]) + json.loads((polish / "ours_2" / "bench.json").read_text())["pairs"]["ours"]
assert all(not r["info"]["polish"]["ran"] for r in rows if (r["source"], r["target"]) not in rerun)
d["pairs"] = {"ours": [r for r in rows if (r["source"], r["target"]) not in rerun]}
d["n_pairs"] = len(d["pairs"]["ours"])
d["note"] = f"polish rows (ours_1 + ours_2) without the {len(rerun)} pairs re-run with the bijective steps (rows only)"
d.pop("summary", None)
(here / "unchanged").mkdir(exist_ok=True)
(here / "unchanged" / "bench.json").write_text(json.dumps(d))
print(d["n_pairs"], "rows kept")
