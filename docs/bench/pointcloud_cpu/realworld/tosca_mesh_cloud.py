"""Held-out check of the reconstruction rule on TOSCA_r animals: a mesh against the cloud of
another shape's vertices, for the clouds whose surface loses a few points (cat0, cat7 at the
time of writing: ``decisions.py``), and the TOSCA_r ground truth (x100 geodesic / sqrt(area)).
Runs with the code of the working tree it is started in. With ``--normals`` each pair runs twice,
the second time with the cloud carrying its mesh's outward vertex normals (as a scanner's file
would give them; ``../file_normals``).

    python docs/bench/pointcloud_cpu/realworld/tosca_mesh_cloud.py ../shared/data OUT.jsonl [--normals]
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
MODES = (False, True) if sys.argv[3:] == ["--normals"] else (False,)
with open(sys.argv[2], "w") as out:
    for a, b in PAIRS:
        for normals in MODES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                src, mesh_b = load(data / f"{a}.off"), load(data / f"{b}.off")
                cloud = Shape(mesh_b.vertices, None, name=f"{b}_cloud",
                              point_normals=mesh_b.outward_vertex_normals if normals else None)
                m = match(src, cloud, cache=False)
            err = geodesic_errors(src, m.target_to_source, read_vts(data / "corres" / f"{a}.vts"),
                                  read_vts(data / "corres" / f"{b}.vts"), distances=GeodesicDistances(src, cache=False))
            proxy = m.info.get("proxy") or {}
            row = {"pair": f"{a}->{b}_cloud", "mean": round(100 * float(err.mean()), 3),
                   "median": round(100 * float(np.median(err)), 3), "confidence": round(m.info["confidence"], 4),
                   "surface": proxy.get("reconstructed", [])}
            if len(MODES) > 1:
                row.update(normals=normals, low=bool(m.info["confidence_low"]))
            print(json.dumps(row), flush=True)
            out.write(json.dumps(row) + "\n")
