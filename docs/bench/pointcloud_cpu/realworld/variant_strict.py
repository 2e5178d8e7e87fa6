"""The variant "no point may be lost against a mesh either" (the mesh then goes as the cloud of
its vertices when its partner's surface is refused): runs another script with
``shapecorr.core.reconstruct.MESH_PAIR_CHECKS`` set to ``CLOUD_PAIR_CHECKS``.

    python docs/bench/pointcloud_cpu/realworld/variant_strict.py SCRIPT ARGS...
"""
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
import shapecorr.core.reconstruct as rc  # noqa: E402

rc.MESH_PAIR_CHECKS = rc.CLOUD_PAIR_CHECKS
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
