"""Does the registration of #13 (ARAP-regularized non-rigid ICP) repair the imprecise right maps of
non-isometric pairs? The default's saved maps (scripts/diag_candidates.py --save-maps) of a tune set
re-read through the registration: the source deformed onto the target starting from the map, each
target vertex sent to the nearest source vertex of its closest deformed-surface point.

    python run.py DATASET MAPS_DIR OUT.jsonl [--settings K=V ...]
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import shapecorr  # noqa: E402
from shapecorr.deform.registration import RegisterSettings, register  # noqa: E402
from shapecorr.eval import Dataset, PairEvaluator  # noqa: E402
from shapecorr.fmap.surface import project_on_surface  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("dataset")
ap.add_argument("maps", type=Path)
ap.add_argument("out", type=Path)
ap.add_argument("--setting", action="append", default=[])
ap.add_argument("--limit", type=int, default=0)
args = ap.parse_args()
kw = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.setting)}
settings = RegisterSettings(**kw)
ds = Dataset(args.dataset)
ev = PairEvaluator(ds)
files = sorted(args.maps.glob("*.npz"))[: args.limit or None]
with args.out.open("w") as fh:
    for f in files:
        a, b = f.stem.split("__")
        z = np.load(f)
        sa, sb = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
        t = time.process_time()
        reg = register(sa, sb, z["final_21"], z["final_12"], settings=settings)
        smap, dist = project_on_surface(sb.vertices, reg.vertices, sa.faces)
        p21 = smap.nearest_vertex(sa.faces)
        cpu = time.process_time() - t
        e0 = ev.evaluate(a, b, z["final_21"])[0]
        e1 = ev.evaluate(a, b, p21)[0]
        row = {"pair": f"{a}->{b}", "default": round(e0["mean_error_x100"], 3), "register": round(e1["mean_error_x100"], 3),
               "default_median": round(e0["median_error_x100"], 3), "register_median": round(e1["median_error_x100"], 3),
               "fit": float(np.median(dist)) / np.sqrt(sb.area), "cpu_s": round(cpu, 1), "settings": kw}
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        print(f"{row['pair']}: default {row['default']:.2f} -> register {row['register']:.2f} "
              f"(fit {row['fit']:.4f}, {cpu:.1f} s)", flush=True)
