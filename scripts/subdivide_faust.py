#!/usr/bin/env python
"""Midpoint subdivision of meshes that keeps the original vertices first and in order.

Each subdivision splits every triangle into four (one new vertex per edge, at its midpoint),
so the surface is unchanged, the vertex count grows about 4x, and vertex ``i < n`` of the
result is vertex ``i`` of the input: ground-truth files (``corres/*.vts``) still apply.

    python scripts/subdivide_faust.py ../shared/data/FAUST_r/vtx_5k OUT_DIR --levels 1 2 \
        --names tr_reg_080 tr_reg_081

writes ``OUT_DIR/sub1/NAME.off`` (+ ``corres/`` copied) and ``OUT_DIR/sub2/...``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np


def midpoint_subdivide(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One level of 1-to-4 midpoint subdivision; originals first, edge midpoints after."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n = len(v)
    # the three edges of every face, (a,b), (b,c), (c,a)
    e = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], axis=1).reshape(-1, 2)
    e_sorted = np.sort(e, axis=1)
    uniq, inverse = np.unique(e_sorted, axis=0, return_inverse=True)
    mid = n + inverse.reshape(-1, 3)  # new vertex of edge (a,b), (b,c), (c,a) for each face
    new_v = np.vstack([v, 0.5 * (v[uniq[:, 0]] + v[uniq[:, 1]])])
    a, b, c = f[:, 0], f[:, 1], f[:, 2]
    ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
    new_f = np.concatenate([
        np.stack([a, ab, ca], 1),
        np.stack([b, bc, ab], 1),
        np.stack([c, ca, bc], 1),
        np.stack([ab, bc, ca], 1),
    ])
    return new_v, new_f


def write_off(path: Path, v: np.ndarray, f: np.ndarray) -> None:
    with open(path, "w") as fh:
        fh.write(f"OFF\n{len(v)} {len(f)} 0\n")
        np.savetxt(fh, v, fmt="%.7f")
        np.savetxt(fh, np.hstack([np.full((len(f), 1), 3), f]), fmt="%d")


def subdivide_dataset(dataset: Path, out: Path, levels=(1, 2), names=None, log=print) -> dict[int, Path]:
    """Subdivide the shapes ``names`` (default: all ``*.off``) of ``dataset``; returns level -> folder."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from shapecorr import load

    dataset, out = Path(dataset), Path(out)
    files = sorted(dataset.glob("*.off")) if not names else [dataset / f"{n}.off" for n in names]
    folders = {}
    for level in levels:
        d = out / f"sub{level}"
        (d / "corres").mkdir(parents=True, exist_ok=True)
        folders[level] = d
    for path in files:
        shape = load(path)
        v, f = shape.vertices, shape.faces
        for level in range(1, max(levels) + 1):
            v, f = midpoint_subdivide(v, f)
            if level in levels:
                write_off(folders[level] / path.name, v, f)
                for gt in dataset.glob(f"corres/{path.stem}.*vts"):
                    shutil.copyfile(gt, folders[level] / "corres" / gt.name)
                log(f"{path.stem}: level {level}: {len(v)} vertices, {len(f)} faces")
    return folders


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path, help="folder with NAME.off and corres/NAME.vts")
    ap.add_argument("out", type=Path, help="output folder (sub1/, sub2/ ... are created in it)")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--names", nargs="*", help="shape names (default: all)")
    args = ap.parse_args(argv)
    subdivide_dataset(args.dataset, args.out, tuple(args.levels), args.names,
                      log=lambda m: print(m, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
