"""Benchmark: matching with a few landmark pairs (``shapecorr.match(..., landmarks=...)``).

Two questions:

1. **Pairs with a ground truth** (near-isometric: TOSCA_r within a class, FAUST_r test people):
   how does the map made from ``--n-landmarks`` landmark pairs compare with the default match?
   The landmarks are template points of the ``corres/*.vts`` files spread over the source by
   farthest-point sampling (the first one the template point nearest the source's centroid),
   each paired with its true target vertex. Mean geodesic error x100 over all template points
   (as ``shapecorr eval``), and the landmark map's error before the pairs were held exactly.
2. **Pairs far from isometric, without ground truth** (TOSCA_r cat -> dog and the like): the
   confidence with and without landmarks, and pictures (``OUT/*.png``: the default map above,
   the landmark map below). Their landmarks are found from the files' own axes (TOSCA_r stands
   on z, its animals' bodies along y): nose (lowest y), tail tip (highest y), and the lowest
   vertex of each quarter around the centroid (the paws), so nothing is picked by hand.

    OMP_NUM_THREADS=1 python scripts/bench_landmarks.py ../shared/data --out docs/bench/landmarks_cpu

Writes OUT/rows.jsonl, OUT/README.md (tables) and the pictures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import shapecorr  # noqa: E402
from shapecorr.eval import GeodesicDistances, geodesic_errors  # noqa: E402
from shapecorr.eval.datasets import Dataset  # noqa: E402

TOSCA = ("TOSCA_r", "TOSCA_Isometric", "vtx_5k")
FAUST = ("FAUST_r", "vtx_5k")
#: ground-truth pairs, chosen before running: two per TOSCA_r animal class and the humans, three FAUST_r test pairs
GT_PAIRS = [(TOSCA, "cat1", "cat3"), (TOSCA, "cat5", "cat7"), (TOSCA, "dog1", "dog3"), (TOSCA, "dog5", "dog7"),
            (TOSCA, "horse5", "horse7"), (TOSCA, "horse10", "horse15"), (TOSCA, "centaur1", "centaur3"),
            (TOSCA, "wolf1", "wolf2"), (TOSCA, "michael1", "michael3"), (TOSCA, "victoria1", "victoria4"),
            (FAUST, "tr_reg_080", "tr_reg_091"), (FAUST, "tr_reg_083", "tr_reg_097"), (FAUST, "tr_reg_085", "tr_reg_092")]
#: pairs across species (no ground truth); cat0 -> dog0 was the one looked at while building the landmarks
CROSS_PAIRS = [("cat0", "dog0"), ("cat2", "dog5"), ("horse0", "dog0"), ("cat0", "wolf0"), ("horse0", "cat0")]


def fps(points: np.ndarray, n: int) -> list[int]:
    """Farthest-point sampling, starting at the point nearest the centroid."""
    chosen = [int(np.argmin(np.linalg.norm(points - points.mean(0), axis=1)))]
    d = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(n - 1):
        chosen.append(int(np.argmax(d)))
        d = np.minimum(d, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return chosen


def axis_landmarks(shape) -> list[int]:
    """Nose, tail tip and the four paws of a TOSCA_r animal, from its axes (see the module doc)."""
    v = shape.vertices
    c = v.mean(0)
    out = [int(np.argmin(v[:, 1])), int(np.argmax(v[:, 1]))]
    for sy in (-1, 1):
        for sx in (-1, 1):
            idx = np.flatnonzero((np.sign(v[:, 1] - c[1]) == sy) & (np.sign(v[:, 0] - c[0]) == sx))
            out.append(int(idx[np.argmin(v[idx, 2])]))
    return out


def load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shapecorr.load(path)


def timed_match(src, tgt, **kw):
    t0 = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = shapecorr.match(src, tgt, **kw)
    return m, time.process_time() - t0


def gt_rows(args) -> list[dict]:
    rows = []
    for parts, a, b in GT_PAIRS:
        ds = Dataset(args.data.joinpath(*parts))
        src, tgt = load(ds.shape_path(a)), load(ds.shape_path(b))
        ga, gb = ds.gt(a, n_vertices=src.n_vertices), ds.gt(b, n_vertices=tgt.n_vertices)
        picks = fps(src.vertices[ga], args.n_landmarks)
        lm = np.stack([ga[picks], gb[picks]], axis=1)
        dist = GeodesicDistances(src)
        row = {"set": parts[0], "source": a, "target": b, "n_landmarks": len(lm)}
        for label, kw in (("default", {}), ("landmarks", {"landmarks": lm})):
            m, cpu = timed_match(src, tgt, **kw)
            err = geodesic_errors(src, m.p2p_21, ga, gb, distances=dist)
            row[label] = {"error_x100": round(100 * float(err.mean()), 3), "confidence": m.info["confidence"],
                          "cpu_s": round(cpu, 1)}
            if label == "landmarks":
                row[label]["error_before"] = m.info["landmarks"]["error_before_mean"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def cross_rows(args) -> list[dict]:
    from shapecorr.render import render_correspondence

    folder = args.data.joinpath(*TOSCA)
    rows = []
    for a, b in CROSS_PAIRS:
        src, tgt = load(folder / f"{a}.off"), load(folder / f"{b}.off")
        lm = np.stack([axis_landmarks(src), axis_landmarks(tgt)], axis=1)
        row = {"set": "TOSCA_r cross", "source": a, "target": b, "n_landmarks": len(lm)}
        images = []
        for label, kw in (("default", {}), ("landmarks", {"landmarks": lm})):
            m, cpu = timed_match(src, tgt, **kw)
            row[label] = {"confidence": m.info["confidence"], "cpu_s": round(cpu, 1)}
            if label == "landmarks":
                row[label]["error_before"] = m.info["landmarks"]["error_before_mean"]
            images.append(render_correspondence(src, tgt, m.p2p_21, up="z", window_size=(760, 400),
                                                titles=(a, f"{b}: {label} (confidence {m.info['confidence']:.2f})")))
        from PIL import Image

        Image.fromarray(np.concatenate(images, axis=0)).save(args.out / f"{a}_{b}.png")
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def write_readme(args, gt: list[dict], cross: list[dict]) -> None:
    def mean(rows, label, key):
        return float(np.mean([r[label][key] for r in rows]))

    lines = ["# Matching with landmarks", "",
             f"`OMP_NUM_THREADS=1 python scripts/bench_landmarks.py ../shared/data --out {args.out.relative_to(ROOT)}`"
             f" ({args.n_landmarks} landmarks); rows: `rows.jsonl`.", "",
             "## Pairs with a ground truth (landmarks: template points spread by farthest-point sampling)", "",
             "| pair | default: error x100 / confidence | landmarks: error x100 / confidence | landmark error before held (x sqrt(area)) |",
             "|---|---|---|---|"]
    for r in gt:
        d, lmk = r["default"], r["landmarks"]
        lines.append(f"| {r['source']} -> {r['target']} | {d['error_x100']:.2f} / {d['confidence']:.2f} | "
                     f"{lmk['error_x100']:.2f} / {lmk['confidence']:.2f} | {lmk['error_before']:.3f} |")
    if gt:
        lines.append(f"| **mean of {len(gt)}** | {mean(gt, 'default', 'error_x100'):.2f} / "
                     f"{mean(gt, 'default', 'confidence'):.2f} | {mean(gt, 'landmarks', 'error_x100'):.2f} / "
                     f"{mean(gt, 'landmarks', 'confidence'):.2f} | {mean(gt, 'landmarks', 'error_before'):.3f} |")
    lines += ["", "## Pairs across species (no ground truth; landmarks from the files' axes)", "",
              "| pair | default: confidence | landmarks: confidence | landmark error before held | picture |",
              "|---|---|---|---|---|"]
    for r in cross:
        lines.append(f"| {r['source']} -> {r['target']} | {r['default']['confidence']:.2f} | "
                     f"{r['landmarks']['confidence']:.2f} | {r['landmarks']['error_before']:.3f} | "
                     f"[{r['source']}_{r['target']}.png]({r['source']}_{r['target']}.png) |")
    (args.out / "README.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the shared data folder (FAUST_r, TOSCA_r)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "landmarks_cpu")
    ap.add_argument("--n-landmarks", type=int, default=6)
    ap.add_argument("--only", choices=("gt", "cross"), help="run one of the two parts")
    args = ap.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    gt = gt_rows(args) if args.only != "cross" else []
    cross = cross_rows(args) if args.only != "gt" else []
    with open(args.out / "rows.jsonl", "w") as fh:
        for r in gt + cross:
            fh.write(json.dumps(r) + "\n")
    write_readme(args, gt, cross)
    return 0


if __name__ == "__main__":
    sys.exit(main())
