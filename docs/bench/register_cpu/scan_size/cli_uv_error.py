"""UV error (texels of the 1024 checker) of the two cli_bunny.md outputs against the truth:
each target vertex's UV at its true point on the bunny (eval_texture.py's ground truth)."""

import json
import sys
import warnings

sys.path.insert(0, "scripts")

import numpy as np  # noqa: E402
import shapecorr  # noqa: E402
from eval_texture import bent_remeshed_pair  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    src = shapecorr.load("out/cli_bunny/bunny.obj")
    tgt, gt = bent_remeshed_pair(src, 40.0)
    ref = gt.points(src.uv, src.faces)
    for run in ("before", "after"):
        res = shapecorr.load(f"out/cli_bunny/{run}/bunny_bent_textured.obj")
        e = 1024 * np.linalg.norm(res.uv[: tgt.n_vertices] - ref, axis=1)
        rep = json.load(open(f"out/cli_bunny/{run}/report.json"))
        print(run, "median %.2f mean %.2f texels" % (np.median(e), e.mean()), "timings", rep.get("timings"),
              rep.get("register_proxy_vertices"))
