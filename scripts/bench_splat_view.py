#!/usr/bin/env python
"""Cost of the viewer's splat view per frame (Qt-free: :class:`apps.viewer.splat_edit.SplatEditor`).

For a splat folder (``shapecorr splat fit`` output): the ARAP drag step (3 warm-started
iterations) and its release (20), the splats' world Gaussians for a pose (``follow``) and their
picture at the preview and the full size, from the view the viewer opens with. CPU time of this
process (the machine may be shared; wall time is printed too), median of ``--repeat``.

    nice -n 5 env OMP_NUM_THREADS=1 python scripts/bench_splat_view.py out/spot_splats --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from apps.viewer.splat_edit import DRAG_ITERATIONS, SplatEditor, camera_from_view, picture_size
from apps.viewer.splat_window import FULL_SIZE, PREVIEW_SIZE
from shapecorr.splat import load_binding


def timed(fn, repeat: int) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return round(float(np.median(cpu)), 3), round(float(np.median(wall)), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("splats", help="a splat folder (binding.npz)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_binding(args.splats)
    ed = SplatEditor(b)
    v = ed.vertices
    centre, diag = 0.5 * (v.min(0) + v.max(0)), float(np.linalg.norm(v.max(0) - v.min(0)))
    eye = centre + 1.6 * diag * np.array([0.55, 0.25, 1.0]) / np.linalg.norm([0.55, 0.25, 1.0])
    top = int(np.argmax(v[:, 1]))
    out = {"gaussians": b.n_gaussians, "vertices": len(v), "faces": len(b.faces), "threads": args.threads}
    c, w = timed(lambda: ed.grab(top), 1)
    out["grab_factor_cpu_s"], out["grab_factor_wall_s"] = c, w
    step = iter(np.linspace(0.01, 0.2, 100))
    out["drag_step_cpu_s"], out["drag_step_wall_s"] = timed(
        lambda: ed.drag([0.0, next(step) * diag, 0.0], iterations=DRAG_ITERATIONS), args.repeat)
    out["release_cpu_s"], out["release_wall_s"] = timed(lambda: ed.end_drag(), 1)
    out["follow_cpu_s"], out["follow_wall_s"] = timed(lambda: b.follow(ed.vertices), args.repeat)
    for name, size in (("preview", PREVIEW_SIZE), ("full", FULL_SIZE)):
        w_, h_ = picture_size(1.0, size)
        cam = camera_from_view(eye, centre, (0.0, 1.0, 0.0), 30.0, w_, h_)
        c, w = timed(lambda: ed.render(cam), args.repeat)  # follow + rasterize, as the view does
        out[f"{name}_size"], out[f"{name}_frame_cpu_s"], out[f"{name}_frame_wall_s"] = size, c, w
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
