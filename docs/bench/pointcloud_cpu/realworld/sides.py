"""Which clouds have a known outward side (``shapecorr.core.pointcloud.sides_decided``): the
vertices of every FAUST_r and TOSCA_r shape, FAUST_r test shapes resampled (plain, noisy,
uneven: ``bench_generalize.resampled_points``), and 5000 points drawn on each realworld model.
Prints the clouds that are undecided, and the counts.

    python docs/bench/pointcloud_cpu/realworld/sides.py ../shared/data > sides.txt
"""
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_generalize import RESAMPLED, resampled_points  # noqa: E402

from shapecorr.core.io import load  # noqa: E402
from shapecorr.core.pointcloud import sides_decided  # noqa: E402
from shapecorr.splat.meshview import sample_surface  # noqa: E402

data = Path(sys.argv[1])
clouds = []
for path in sorted((data / "FAUST_r/vtx_5k").glob("*.off")) + sorted((data / "TOSCA_r/TOSCA_Isometric/vtx_5k").glob("*.off")):
    clouds.append((path.stem, "vertices", path))
for i in range(80, 100):
    for kind in RESAMPLED:
        clouds.append((f"tr_reg_{i:03d}", kind, data / "FAUST_r/vtx_5k" / f"tr_reg_{i:03d}.off"))
for path in sorted((data / "realworld").iterdir()):
    clouds.append((path.stem, "drawn", path))
undecided, counts = [], {}
for name, kind, path in clouds:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesh = load(path, merge_duplicates=True)
    if kind == "vertices":
        pts = mesh.vertices
    elif kind == "drawn":
        face, bary = sample_surface(mesh.vertices, mesh.faces, 5000, np.random.default_rng(0))
        pts = np.einsum("nc,ncd->nd", bary, mesh.vertices[mesh.faces[face]])
    else:
        pts = resampled_points(mesh, *RESAMPLED[kind])
    ok = sides_decided(pts)
    counts.setdefault(kind, [0, 0])[int(ok)] += 1
    if not ok:
        undecided.append(f"{name} {kind}")
        print(f"undecided: {name} {kind}", flush=True)
for kind, (no, yes) in counts.items():
    print(f"{kind}: {yes} decided, {no} undecided")
