#!/usr/bin/env python
"""The reconstructed surfaces of FAUST_r clouds (their vertices): size, pieces before blob removal,
open edges, genus (from the Euler characteristic; a human is genus 0, each limb fused to the
body where it touches adds handles), largest point distance and far area, CPU seconds.

    python docs/bench/generalize_cpu/pc_surface/surfaces.py 080 099 > docs/bench/generalize_cpu/pc_surface/surfaces.md
"""
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))


def main(first: int, last: int) -> None:
    warnings.simplefilter("ignore")
    from shapecorr import Shape, load
    from shapecorr.core.reconstruct import ReconstructionError, reconstruct_proxy

    data = ROOT.parent / "shared" / "data" / "FAUST_r" / "vtx_5k"
    print("| shape | proxy vertices | pieces before | open edges | genus | point distance max | far area | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for i in range(first, last + 1):
        mesh = load(data / f"tr_reg_{i:03d}.off", warn=False)
        t = time.process_time()
        try:
            proxy, rep = reconstruct_proxy(Shape(mesh.vertices, None, name=f"tr_reg_{i:03d}"))
        except ReconstructionError as exc:
            print(f"| tr_reg_{i:03d} | refused: {exc} |")
            continue
        s = proxy.shape
        chi = s.n_vertices - len(s.edges) + len(s.faces)
        print(f"| tr_reg_{i:03d} | {s.n_vertices} | {rep.n_components} | {rep.open_edges} | {(2 - chi) / 2:g} "
              f"| {rep.point_distance_max:.4f} | {rep.far_area:.3f} | {time.process_time() - t:.1f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
