"""resume_run.py ROOT N SETDIR RUNDIR: rerun the collection in RUNDIR/out (prepared, matched and
neighbour maps kept; joint refinement and final maps removed beforehand) with the code at ROOT."""
import json, resource, sys, time
from pathlib import Path
root, n, setdir, rundir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
sys.path.insert(0, root)
import shapecorr
from shapecorr.collection import CollectionSettings, collection
print(shapecorr.__file__, file=sys.stderr)
shapecorr.set_cache_dir(rundir / "cache")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0, c0 = time.perf_counter(), time.process_time()
res = collection(setdir / "shapes", out=rundir / "out", engine="local", num_cpus=2, preset="axiomatic", k_final=30,
                 k_init=20, settings=CollectionSettings(k_init=10, step=10, samples=None, gallery=False))
r = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_before_run_mb": before,
     "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "report": res.report}
(rundir / "result.json").write_text(json.dumps(r, indent=1))
print(json.dumps({k: r[k] for k in ("wall", "cpu", "peak")}), res.report["driver_peak_rss_mb"], file=sys.stderr)
