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
    names = [f"tr_reg_{i:03d}" for i in range(80, 100)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    order = np.random.default_rng(seed).permutation(len(pairs))[:8]
    pairs = sorted(pairs[i] for i in order)
    for kind in ("gaps", "gap15"):
        for a, b in pairs:
            B = load(ds.shape_path(b), warn=False)
            rng = np.random.default_rng(np.random.SeedSequence([seed, *a.encode(), *b.encode(), *kind.encode()]))
            v, f, new = bf.flawed(kind, np.asarray(B.vertices, dtype=np.float64), np.asarray(B.faces), rng)
            out = []
            for gap in (0.0, 1.0):
                H.MAX_STUMP_GAP = gap
                T = Shape(v, f)
                out.append(T.hole_fill.n_bridges)
            if out[0] != out[1]:
                print(seed, kind, a, b, out)
