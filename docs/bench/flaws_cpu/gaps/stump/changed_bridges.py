"""Which bench_flaws targets (seeds 0 and 1, gaps and gap15, 8 pairs each) bridge differently with
and without the stump rule. python changed_bridges.py FAUST_r/vtx_5k"""
import sys, numpy as np, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[5] / "scripts"))
import bench_flaws as bf
import shapecorr.core.holes as H
from shapecorr import Shape, load
from shapecorr.eval import Dataset
from pathlib import Path
folder = sys.argv[1]
ds = Dataset(Path(folder))
for seed in (0, 1):
    pairs = bf.test_pairs(8, seed)
    for kind in ("gaps", "gap15"):
        for a, b in pairs:
            _, flawed_b, _ = bf.flawed_target(ds, a, b, kind, seed)
            v, f = np.asarray(flawed_b.vertices), np.asarray(flawed_b.faces)
            out = []
            for gap in (0.0, 1.0):
                H.MAX_STUMP_GAP = gap
                T = Shape(v, f)
                out.append(T.hole_fill.n_bridges)
            if out[0] != out[1]:
                print(seed, kind, a, b, out)
