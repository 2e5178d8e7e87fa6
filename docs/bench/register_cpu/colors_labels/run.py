"""Colours and labels carried through the registration's points or the spectral points (2026-12-04).

Texture transfer reads the texture at the registration's points by default since it was measured
better (docs/bench/register_cpu); colours and labels kept the spectral points, "not measured".
Measured here on the bundled Spot pair (posed, its ground-truth points) and four realworld models
bent 40 degrees and remeshed (ground truth: the remeshed vertices on the model before bending;
`scripts/eval_texture.py`'s copies): cow, homer, alligator, cheburashka (held out of the
registration's tuning). One default match per pair; nothing tuned here.

- colours: the source's texture (Spot's own; a 16 x 16 checker of 1024 texels, planar UVs, for the
  realworld models) read at each target vertex's matched point, against the ground-truth point:
  mean RGB distance (0-441) and the fraction of vertices more than 60 off;
- labels: 18 segments of the source (6 x 3 slabs along its two longest principal axes), the label of
  the nearest corner of the matched point ("nearest") and then a one-ring majority vote ("vote"),
  against the ground-truth points' labels: the fraction of target vertices labelled otherwise;
- fields: a smooth one (the coordinate along the longest principal axis, 0-1) and a detailed one
  (sin of 12 turns of it), carried at the points or through the functional map (``fmap``, the
  default of then), against the field at the ground-truth points: mean absolute error over the
  field's range.

    OMP_NUM_THREADS=1 python docs/bench/register_cpu/colors_labels/run.py spot_posed cow homer alligator cheburashka
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import shapecorr  # noqa: E402
from eval_texture import bent_remeshed_pair, checker_texture, synthetic_uv  # noqa: E402
from shapecorr.transfer import SurfaceMap, precise_map, transfer_colors, transfer_field, transfer_labels  # noqa: E402

SPOT = ROOT / "data" / "spot"
POINTS = ("spectral", "register")


def pair(name: str, realworld: Path):
    """``(source, target, ground-truth SurfaceMap)``."""
    if name == "spot_posed":
        g = np.load(SPOT / "spot_posed_gt_bary.npz")
        return (shapecorr.load(SPOT / "spot.obj"), shapecorr.load(SPOT / "spot_posed.obj"),
                SurfaceMap(g["face"].astype(np.int64), g["bary"].astype(np.float64)))
    src = synthetic_uv(shapecorr.load(realworld / f"{name}.obj"),
                       checker_texture(HERE.parent / "checker1024.png", size=1024, n=16))
    tgt, gt = bent_remeshed_pair(src, 40.0)
    return src, tgt, gt


def slab_labels(shape) -> np.ndarray:
    """18 segments: 6 slabs along the longest principal axis times 3 along the second."""
    c = shape.vertices - shape.vertices.mean(0)
    _, _, axes = np.linalg.svd(c, full_matrices=False)
    s0, s1 = c @ axes[0], c @ axes[1]
    return (np.floor(6 * (s0 - s0.min()) / np.ptp(s0)).clip(0, 5) * 3
            + np.floor(3 * (s1 - s1.min()) / np.ptp(s1)).clip(0, 2)).astype(int)


def sample_fields(shape) -> dict[str, np.ndarray]:
    """A smooth field (0-1 along the longest principal axis) and a detailed one (12 turns of a sine)."""
    c = shape.vertices - shape.vertices.mean(0)
    _, _, axes = np.linalg.svd(c, full_matrices=False)
    s = c @ axes[0]
    s = (s - s.min()) / np.ptp(s)
    return {"smooth": s, "detailed": np.sin(2 * np.pi * 12 * s)}


def field_errors(m, src, tgt, gt, fields, **how) -> dict:
    out = {}
    for name, f in fields.items():
        ref = transfer_field(m, src, tgt, f, method="spectral", surface_map=gt)
        got = transfer_field(m, src, tgt, f, **how)
        out[f"field_{name}"] = round(float(np.abs(got - ref).mean() / np.ptp(f)), 4)
    return out


def record(out: Path, row: dict) -> None:
    print(json.dumps(row), flush=True)
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def main(names, realworld: Path) -> None:
    out = HERE / "rows.jsonl"
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            src, tgt, gt = pair(name, realworld)
            m = shapecorr.match(src, tgt)
            ref_colors = transfer_colors(m, src, tgt, surface_map=gt).astype(float)
            labels = slab_labels(src)
            ref_labels = transfer_labels(m, src, tgt, labels, surface_map=gt)
            fields = sample_fields(src)
            for points in POINTS:
                smap = precise_map(m, src, tgt, method=points)
                e = np.linalg.norm(transfer_colors(m, src, tgt, surface_map=smap).astype(float) - ref_colors, axis=1)
                row = {"pair": name, "n": [src.n_vertices, tgt.n_vertices], "points": points,
                       "rgb_error_mean": round(float(e.mean()), 2), "rgb_off_60": round(float((e > 60).mean()), 4)}
                for method in ("nearest", "vote"):
                    got = transfer_labels(m, src, tgt, labels, method=method, surface_map=smap)
                    row[f"labels_wrong_{method}"] = round(float((got != ref_labels).mean()), 4)
                row.update(field_errors(m, src, tgt, gt, fields, method="spectral", surface_map=smap))
                record(out, row)
            record(out, {"pair": name, "n": [src.n_vertices, tgt.n_vertices], "points": "fmap",
                         **field_errors(m, src, tgt, gt, fields, method="fmap")})


if __name__ == "__main__":
    main(sys.argv[1:] or ["spot_posed", "cow", "homer", "alligator", "cheburashka"],
         ROOT.parent / "shared" / "data" / "realworld")
