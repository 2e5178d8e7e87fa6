"""Winding decisions on FAUST_r test shapes with the flaws of scripts/bench_flaws.py (seeds 0, 1). Run
from the repository root."""
import sys, glob, numpy as np, warnings; warnings.filterwarnings("ignore")
sys.path.insert(0, "scripts")
import bench_flaws as bf
import shapecorr
from shapecorr.spectral import orientation_sign
files = sorted(glob.glob("/work/shared/data/FAUST_r/vtx_5k/*.off"))[80:100:3]
for f in files:
    s0 = shapecorr.load(f)
    for kind in bf.FLAWS:
        if kind in ("clean","rotated","millimetres"): continue
        for seed in (0, 1):
            rng = np.random.default_rng(seed)
            try:
                out = bf.flawed(kind, s0.vertices, s0.faces, rng)
            except Exception as e:
                print(kind, "ERR", e); continue
            v, fc = out[0], out[1]
            s = shapecorr.Shape(v, fc)
            w = s.winding
            print(f.split("/")[-1], kind, seed, round(float(w.reversed.mean()), 3), orientation_sign(s.vertices, s.faces), orientation_sign(s.vertices, w.faces))
