"""Run a synthetic collection with the code at ROOT (e.g. a worktree of the previous commit) and keep its output, to compare with `bench_collection.py --compare`. usage: old_code_synthetic.py ROOT N SETDIR RUNDIR [engine]"""
import json, resource, sys, time, shutil
from pathlib import Path
root, n, setdir, rundir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
engine = sys.argv[5] if len(sys.argv) > 5 else "local"
sys.path.insert(0, root); sys.path.insert(0, str(Path(root) / "tests"))
import shapecorr
from shapecorr.collection import CollectionSettings, collection
from helpers import bumpy, permuted_copy, write_off
print(shapecorr.__file__, file=sys.stderr)
shapes = setdir / "shapes"
if not (shapes / f"s{n-1:05d}.off").exists():
    shapes.mkdir(parents=True, exist_ok=True)
    shape = bumpy(2)
    for i in range(n):
        copy, _ = permuted_copy(shape, i, rigid=True)
        write_off(shapes / f"s{i:05d}.off", copy.vertices, copy.faces)
if rundir.exists():
    shutil.rmtree(rundir)
rundir.mkdir(parents=True)
shapecorr.set_cache_dir(rundir / "cache")
t0, c0 = time.perf_counter(), time.process_time()
res = collection(shapes, out=rundir / "out", engine=engine, num_cpus=2, preset="axiomatic", k_final=30, k_init=20,
                 settings=CollectionSettings(k_init=10, step=10, samples=None, gallery=False))
r = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
     "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "report": res.report}
(rundir / "result.json").write_text(json.dumps(r, indent=1))
print(json.dumps({k: r[k] for k in ("wall", "cpu", "peak")}), res.report["driver_peak_rss_mb"], file=sys.stderr)
