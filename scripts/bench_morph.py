#!/usr/bin/env python
"""Benchmark: where a morph ends (the source's vertices on the target), by each method of
:func:`shapecorr.deform.end_positions`, on pairs with a ground truth.

The last frame of ``shapecorr morph`` is the source's mesh laid on the target; each in-between
frame interpolates towards it, so a fold or a spike there shows in the whole second half of the
GIF. Per pair (one default match, then every method from it):

- ``error``: mean distance x100 / sqrt(target area) between where a source vertex ends and the
  target vertex the ground truth pairs it with (FAUST_r / TOSCA_r: the 5000 template points of
  the ``.vts`` files; cat -> lion: ``lion2cat``; Spot: ``spot_posed_gt.txt``);
- ``folded``: the fraction of source faces laid on the target upside down (the face's normal at
  its end against the target's normal where its centre lies);
- ``stretched``: the fraction of edges whose length changes by more than 3x either way (the
  areas' ratio taken out);
- ``s``: seconds (CPU, after the match) of the end positions.

    OMP_NUM_THREADS=1 python scripts/bench_morph.py ../shared/data --out docs/bench/morph_cpu
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = ("spectral", "vertex", "register")
#: chosen before any was run: FAUST_r test people (080-099, other people and poses), TOSCA_r
#: within-class pose pairs of every class, the non-isometric cat -> lion, and Spot posed
FAUST = [("tr_reg_080", "tr_reg_085"), ("tr_reg_081", "tr_reg_092"), ("tr_reg_083", "tr_reg_097"),
         ("tr_reg_090", "tr_reg_098"), ("tr_reg_086", "tr_reg_094"), ("tr_reg_088", "tr_reg_099")]
TOSCA = [("cat0", "cat5"), ("dog1", "dog3"), ("horse0", "horse5"), ("michael1", "michael10"),
         ("david0", "david6"), ("centaur0", "centaur4"), ("wolf0", "wolf2"), ("victoria0", "victoria7")]


def pairs(data: Path):
    """``(name, source path, target path, truth)``; ``truth(n_source, n_target)`` gives matched
    ``(source vertices, target vertices)``."""
    def vts(folder):
        def truth(a, b):
            return lambda: (np.loadtxt(folder / "corres" / f"{a}.vts", dtype=np.int64) - 1,
                            np.loadtxt(folder / "corres" / f"{b}.vts", dtype=np.int64) - 1)
        return truth

    faust, tosca = data / "FAUST_r" / "vtx_5k", data / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k"
    for folder, chosen in ((faust, FAUST), (tosca, TOSCA)):
        for a, b in chosen:
            yield f"{a} -> {b}", folder / f"{a}.off", folder / f"{b}.off", vts(folder)(a, b)
    pyfm = data / "samples" / "pyfm"
    lion2cat = lambda: (np.loadtxt(pyfm / "lion2cat", dtype=np.int64), None)  # noqa: E731
    yield "cat -> lion", pyfm / "cat-00.off", pyfm / "lion-00.off", lion2cat
    spot = ROOT / "data" / "spot"
    gt = lambda: (np.loadtxt(spot / "spot_posed_gt.txt", dtype=np.int64), None)  # noqa: E731
    yield "spot -> spot_posed", spot / "spot.obj", spot / "spot_posed.obj", gt


def measures(source, target, E: np.ndarray, truth) -> dict:
    from shapecorr.fmap.surface import project_on_surface

    s_idx, t_idx = truth()
    if t_idx is None:  # one source vertex per target vertex
        s_idx, t_idx = s_idx, np.arange(target.n_vertices)
    scale = float(np.sqrt(target.area))
    error = 100 * float(np.linalg.norm(E[s_idx] - target.vertices[t_idx], axis=1).mean()) / scale
    F = source.faces
    n_end = np.cross(E[F[:, 1]] - E[F[:, 0]], E[F[:, 2]] - E[F[:, 0]])
    smap, _ = project_on_surface(E[F].mean(1), target.vertices, target.faces)
    n_tgt = smap.points(target.vertex_normals, target.faces)
    folded = float(((n_end * n_tgt).sum(1) < 0).mean())
    e = source.edges
    ratio = (np.linalg.norm(E[e[:, 0]] - E[e[:, 1]], axis=1)
             / np.maximum(np.linalg.norm(source.vertices[e[:, 0]] - source.vertices[e[:, 1]], axis=1), 1e-300))
    ratio /= np.sqrt(target.area / source.area)
    stretched = float(((ratio > 3) | (ratio < 1 / 3)).mean())
    return {"error": round(error, 3), "folded": round(folded, 5), "stretched": round(stretched, 5)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="../shared/data (FAUST_r, TOSCA_r, samples/pyfm)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "morph_cpu")
    ap.add_argument("--only", nargs="*", help="pair names to run (default: all)")
    args = ap.parse_args(argv)

    import shapecorr
    from shapecorr.deform import end_positions

    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    for name, a, b, truth in pairs(args.data):
        if args.only and name not in args.only:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source, target = shapecorr.load(a), shapecorr.load(b)
            m = shapecorr.match(source, target)
            for method in METHODS:
                t0 = time.process_time()
                E = end_positions(source, target, m, method=method)
                row = {"pair": name, "method": method, "confidence": m.info.get("confidence"),
                       **measures(source, target, E, truth), "s": round(time.process_time() - t0, 2)}
                print(json.dumps(row), flush=True)
                with rows_path.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
