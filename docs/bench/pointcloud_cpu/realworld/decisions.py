"""Which clouds the surface reconstruction accepts, with the code of the working tree it runs in:
FAUST_r test shapes (080-099) as their vertices and resampled on their surfaces (plain, with
0.5 % noise, of uneven density: ``bench_generalize.resampled_points``), and TOSCA_r shapes'
vertices (every 4th). One line per cloud: name, accepted or the reason, lost points.

    python docs/bench/pointcloud_cpu/realworld/decisions.py ../shared/data > decisions_new.txt
"""
import sys
import warnings
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_generalize import RESAMPLED, resampled_points  # noqa: E402

from shapecorr import Shape  # noqa: E402
from shapecorr.core.io import load  # noqa: E402
from shapecorr.core.reconstruct import ReconstructionError, reconstruct_proxy  # noqa: E402

data = Path(sys.argv[1])
faust = [data / "FAUST_r/vtx_5k" / f"tr_reg_{i:03d}.off" for i in range(80, 100)]
tosca = sorted((data / "TOSCA_r/TOSCA_Isometric/vtx_5k").glob("*.off"))[::4]
for path in faust + tosca:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesh = load(path)
    clouds = {"vertices": mesh.vertices}
    if path in faust:
        clouds.update({k: resampled_points(mesh, *v) for k, v in RESAMPLED.items()})
    for kind, pts in clouds.items():
        try:
            _, report = reconstruct_proxy(Shape(pts, None, name=mesh.name), min(len(pts), 10000))
            print(f"{mesh.name} {kind}: accepted, lost {getattr(report, 'lost_points', 0)}", flush=True)
        except ReconstructionError as exc:
            print(f"{mesh.name} {kind}: refused: {str(exc).split('not usable: ')[-1]}", flush=True)
