"""TOSCA_r cats matched against another cat's vertex cloud, with and without the cloud's normals
(the mesh's outward vertex normals, as a scanner's file would give them): the pairs of
``../realworld/tosca_mesh_cloud.py`` (cat0's cloud, and cat7's: a lying cat whose legs touch its
belly, where 9 % of the estimated normals point in). TOSCA_r ground truth, x100 geodesic /
sqrt(area). Runs with the code of the working tree it is started in.

    python docs/bench/pointcloud_cpu/file_normals/tosca_mesh_cloud.py ../shared/data OUT.jsonl
"""
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))

from shapecorr import Shape, match  # noqa: E402
from shapecorr.core.indices import read_vts  # noqa: E402
from shapecorr.core.io import load  # noqa: E402
from shapecorr.eval.metrics import GeodesicDistances, geodesic_errors  # noqa: E402

data = Path(sys.argv[1]) / "TOSCA_r/TOSCA_Isometric/vtx_5k"
PAIRS = [("cat1", "cat0"), ("cat4", "cat0"), ("cat9", "cat0"), ("cat2", "cat7"), ("cat5", "cat7"), ("cat10", "cat7")]
with open(sys.argv[2], "w") as out:
    for a, b in PAIRS:
        for normals in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                src, mesh_b = load(data / f"{a}.off"), load(data / f"{b}.off")
                cloud = Shape(mesh_b.vertices, None, name=f"{b}_cloud",
                              point_normals=mesh_b.outward_vertex_normals if normals else None)
                m = match(src, cloud, cache=False)
            err = geodesic_errors(src, m.target_to_source, read_vts(data / "corres" / f"{a}.vts"),
                                  read_vts(data / "corres" / f"{b}.vts"), distances=GeodesicDistances(src, cache=False))
            proxy = m.info.get("proxy") or {}
            row = {"pair": f"{a}->{b}_cloud", "normals": normals, "mean": round(100 * float(err.mean()), 3),
                   "median": round(100 * float(np.median(err)), 3), "confidence": round(m.info["confidence"], 4),
                   "low": bool(m.info["confidence_low"]), "surface": proxy.get("reconstructed", [])}
            print(json.dumps(row), flush=True)
            out.write(json.dumps(row) + "\n")
