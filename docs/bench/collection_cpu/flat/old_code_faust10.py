"""faust_run.py ROOT OUT CACHE [resume]: 10 FAUST_r shapes (tr_reg_080..089) as one collection, default preset, in process."""
import json, resource, sys, time
from pathlib import Path
root, out, cache = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
sys.path.insert(0, root)
import shapecorr
from shapecorr.collection import collection
print(shapecorr.__file__, file=sys.stderr)
paths = [f"/work/shared/data/FAUST_r/vtx_5k/tr_reg_{i:03d}.off" for i in range(80, 90)]
shapecorr.set_cache_dir(cache)
t0, c0 = time.perf_counter(), time.process_time()
res = collection(paths, out=out, engine="local")
r = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
     "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "report": res.report}
(out.parent / (out.name + "_result.json")).write_text(json.dumps(r, indent=1))
print(json.dumps({k: r[k] for k in ("wall", "cpu", "peak")}), res.report["timings_s"], file=sys.stderr)
