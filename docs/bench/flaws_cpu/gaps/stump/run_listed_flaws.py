"""Named bench_flaws pairs: python run_listed_flaws.py DATASET SEED:FLAW:SOURCE:TARGET ... (JSON rows)."""
import sys, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "scripts"))
import bench_flaws as bf
from shapecorr.eval import Dataset, PairEvaluator
ds = Dataset(Path(sys.argv[1]))
ev = PairEvaluator(ds)
for item in sys.argv[2:]:
    seed, kind, a, b = item.split(":")
    r = bf.run_pair(a, b, kind, ds, ev, int(seed))
    print(json.dumps({"seed": int(seed), **r}), flush=True)
