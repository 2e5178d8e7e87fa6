"""Scratch experiment: composed vs latent vs refined vs pairwise maps on a collection."""
import argparse, itertools, json, sys, time, warnings
from pathlib import Path
import numpy as np
sys.path.insert(0, "/work/main")
import shapecorr
from shapecorr.collection import CollectionSettings, collection, CollectionFolder
from shapecorr.collection.store import read_npz
from shapecorr.config import load_preset
from shapecorr.eval.datasets import Dataset
from shapecorr.eval.metrics import GeodesicDistances, geodesic_errors
from shapecorr.fmap import knn_blocked, p2p_to_fmap, zoomout
from shapecorr.pipeline import prepare, plan_pair

ap = argparse.ArgumentParser()
ap.add_argument("dataset"); ap.add_argument("--names", nargs="+"); ap.add_argument("--run", required=True)
ap.add_argument("--pairs", type=int, default=0); ap.add_argument("--methods", default="composed,latent,ref_comp,ref_lat,pairwise")
args = ap.parse_args()
ds = Dataset(args.dataset)
shapecorr.set_cache_dir("/work/main/out/czo/cache")
t0 = time.time()
res = collection([ds.shape_path(n) for n in args.names], out=args.run, engine="local", progress=False)
print("collection", round(time.time() - t0, 1), "s template", res.template, flush=True)
folder = CollectionFolder(args.run)
s = load_preset("default")
P = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for n in res.names:
        P[n] = prepare(shapecorr.load(ds.shape_path(n)), s)
lat = np.load(Path(args.run) / "work" / "latent.npz")
A = {str(n): a for n, a in zip(lat["names"], lat["A"])}
k = A[res.names[0]].shape[0]
E = {n: P[n].evecs[:, :k] @ A[n] for n in res.names}
fin = {n: (folder.to_template(n), folder.from_template(n)) for n in res.names}
pw_dir = Path("/work/main/out/czo/pairwise"); pw_dir.mkdir(exist_ok=True)
pairs = list(itertools.combinations(sorted(res.names), 2))
if args.pairs:
    rng = np.random.default_rng(0); pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), args.pairs, replace=False))]
methods = args.methods.split(",")
shapecorr.set_cache_dir("default")
rows = []
dist = {}
def refine_from(p2p_ba, a, b, k0):
    plan = plan_pair(P[a].shape.n_vertices, P[b].shape.n_vertices, s)
    C0 = p2p_to_fmap(p2p_ba, P[a].evecs[:, :k0], P[b].evecs[:, :k0], P[b].mass)
    C, p = zoomout(C0, P[a].evecs, P[b].evecs, P[b].mass, k_final=plan.k_final, step=s.zoomout_step,
                   n_samples=plan.n_samples, seed=s.seed, refine_iters=s.refine_iters)
    return p
for a, b in pairs:
    if a not in dist:
        dist.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dist[a] = GeodesicDistances(shapecorr.load(ds.shape_path(a)))
    ga, gb = ds.gt(a), ds.gt(b)
    err = lambda p: float(geodesic_errors(None, p, ga, gb, distances=dist[a]).mean() * 100)
    row = {"a": a, "b": b}
    comp = fin[a][1][fin[b][0]]
    latp = knn_blocked(E[b], E[a])
    if "composed" in methods: row["composed"] = err(comp)
    if "latent" in methods: row["latent"] = err(latp)
    for m in methods:
        if m.startswith("ref_"):
            src, k0 = m.split("_")[1], int(m.split("_")[2]) if m.count("_") > 1 else 30
            c0 = time.process_time()
            row[m] = err(refine_from(comp if src == "comp" else latp, a, b, k0))
            row[m + "_cpu"] = round(time.process_time() - c0, 2)
    for m in methods:
        if m.startswith("it"):
            src, n = m[2:].split("_")
            c0 = time.process_time()
            from shapecorr.collection.pairs import refine_pair
            row[m] = err(refine_pair(comp if src == "comp" else latp, P[a], P[b], s, iterations=int(n))[1])
            row[m + "_cpu"] = round(time.process_time() - c0, 2)
        if m == "api":
            from shapecorr.collection import pair_maps
            shapecorr.set_cache_dir("/work/main/out/czo/cache")
            row[m] = err(pair_maps(folder, a, b, refine=True).p2p_ba)
            shapecorr.set_cache_dir("default")
    if "pairwise" in methods:
        f = pw_dir / f"{a}--{b}.npy"
        if not f.exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = shapecorr.match(ds.shape_path(a), ds.shape_path(b), "default")
            np.save(f, m.p2p_21)
        row["pairwise"] = err(np.load(f))
    rows.append(row)
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
print("MEAN", {m: round(float(np.mean([r[m] for r in rows])), 3) for m in rows[0] if m not in ("a", "b")})
print("ABOVE5", {m: int(sum(r[m] > 5 for r in rows)) for m in rows[0] if m not in ("a", "b") and not m.endswith("cpu")})
