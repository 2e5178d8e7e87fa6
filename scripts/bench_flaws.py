#!/usr/bin/env python
"""Benchmark: matching when the target has a raw scan's flaws, one kind at a time.

For each FAUST_r test pair (``tr_reg_080..099``, seeded order) the target is given one flaw
(``scripts/remesh_dataset.py``'s functions, seeded per pair) and matched with the default preset
(or ``--preset NAME_OR_YAML``) from the source as it is; the error is measured on the
ground-truth points the flaw left on the target (x100 geodesic on the source / sqrt(area), as
everywhere):

- ``clean``     the file as it is;
- ``holes``     10 holes of 0.5-1 % of the faces each, no vertex left inside (as a scanner leaves them);
- ``specks``    40 tiny tetrahedra floating near the surface (scanner debris);
- ``winding``   a connected patch of 30 % of the faces wound the other way;
- ``noise``     noise along the normals of 0.15 mean edge lengths;
- ``all``       every flaw at once, drawn as ``remesh_dataset.py --flaws`` draws them;
- ``rotated``   a random rotation and a translation of a body length (scans are not aligned);
- ``millimetres`` coordinates x1000 (a scanner that writes millimetres);
- ``gaps``      3 missing regions of 3-6 % of the faces each (what a scanner cannot see: under
                the arms, between the legs, the top of the head);
- ``gap15``     one missing region of 10-15 % of the faces (a large occlusion: most of a limb or
                of the back);
- ``extremity`` one end of the shape (a hand, a foot, the top of the head: ``remesh_dataset.extremity_tips``)
                cut off, 3-8 % of the faces (a partial scan, not a hole inside the surface);
- ``extremity15`` the same with 10-15 % of the faces (a forearm, a lower leg, the head);
- ``contact``   the surface welded where two parts nearly touch (a hand on a thigh scanned as one
                surface; only targets in such a pose change: ``--targets 087 097``).

``--both`` flaws the source too, with another draw of the same flaw (two scans of two people);
the error is then measured on the points both flawed shapes kept, on the original source.

Writes OUT/rows.csv (one row per pair and flaw), OUT/summary.md and OUT/summary.json (mean /
median / pairs above 5 / mean confidence per flaw).

    python scripts/bench_flaws.py ../shared/data/FAUST_r/vtx_5k --pairs 12 --out docs/bench/flaws_cpu
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

FLAWS = ("clean", "holes", "specks", "winding", "noise", "all", "rotated", "millimetres", "contact", "gaps",
         "gap15", "extremity", "extremity15")


def flawed(kind: str, v: np.ndarray, f: np.ndarray, rng: np.random.Generator):
    """``(vertices, faces, new_index)`` of the target with flaw ``kind``; ``new_index[i]``: the
    flawed shape's vertex for original vertex ``i`` (-1: gone)."""
    import remesh_dataset as rd

    same = np.arange(len(v))
    if kind == "clean":
        return v, f, same
    if kind == "holes":
        return rd.cut_holes(v, f, rng, 10, share=(0.005, 0.01))
    if kind == "gaps":
        return rd.cut_holes(v, f, rng, 3, share=(0.03, 0.06))
    if kind == "gap15":
        return rd.cut_holes(v, f, rng, 1, share=(0.10, 0.15))
    if kind == "extremity":
        return rd.cut_extremity(v, f, rng)
    if kind == "extremity15":
        return rd.cut_extremity(v, f, rng, share=(0.10, 0.15))
    if kind == "specks":
        v2, f2 = rd.add_specks(v, f, rng, 40)
        return v2, f2, same
    if kind == "winding":
        return v, rd.reverse_patch(v, f, int(rng.integers(len(f))), 0.3), same
    if kind == "noise":
        return rd.add_noise(v, f, rng, 0.15), f, same
    if kind == "rotated":
        from scipy.spatial.transform import Rotation

        R = Rotation.random(random_state=rng).as_matrix()
        shift = rng.normal(size=3) * np.ptp(v, axis=0).max()
        return v @ R.T + shift, f, same
    if kind == "contact":
        # a welded vertex stands for two points (hand and thigh): no map can hit both, so the
        # error is measured on the vertices that were not welded
        v2, f2, new = rd.weld_contacts(v, f)
        shared = np.bincount(new, minlength=len(v2))[new] > 1
        return v2, f2, np.where(shared, -1, new)
    if kind == "millimetres":
        return v * 1000.0, f, same
    if kind == "all":
        from scipy.spatial import cKDTree

        v2, f2, n_surface, _ = rd.scan_flaws(v, f, rng)
        # vertices keep their order through scan_flaws' removal; find them by position (noise
        # moves them by a fraction of an edge, far less than their spacing)
        dist, idx = cKDTree(v2[:n_surface]).query(v)
        gone = dist > 0.5 * rd.mean_edge(v, f)
        return v2, f2, np.where(gone, -1, idx)
    raise ValueError(kind)


#: flaws that keep the shape in its place, so a flawed source's vertices can be told by position
IN_PLACE = ("clean", "holes", "specks", "winding", "noise", "all", "contact", "gaps", "gap15", "extremity", "extremity15")


def original_vertex(new: np.ndarray, v_flawed: np.ndarray, v_original: np.ndarray) -> np.ndarray:
    """For each vertex of a flawed shape, the original vertex it is (``new``: original -> flawed,
    -1 gone), or for an added one (a speck) the original vertex nearest to it."""
    from scipy.spatial import cKDTree

    inv = np.full(len(v_flawed), -1, dtype=np.int64)
    kept = np.flatnonzero(new >= 0)
    inv[new[kept]] = kept
    added = np.flatnonzero(inv < 0)
    if added.size:
        inv[added] = cKDTree(v_original).query(v_flawed[added])[1]
    return inv


def flawed_target(ds, a: str, b: str, kind: str, seed: int):
    """``(source, target, new_index)`` of pair ``a -> b``: the source as it is, the target with
    flaw ``kind`` drawn as this benchmark draws it for ``seed`` (``new_index`` as :func:`flawed`)."""
    from shapecorr import Shape, load

    A = load(ds.shape_path(a), warn=False)
    B = load(ds.shape_path(b), warn=False)
    rng = np.random.default_rng(np.random.SeedSequence([seed, *a.encode(), *b.encode(), *kind.encode()]))
    v, f, new = flawed(kind, np.asarray(B.vertices, dtype=np.float64), np.asarray(B.faces), rng)
    return A, Shape(v, f, name=f"{b}-{kind}"), new


def target_error(ds, evaluator, a: str, b: str, new: np.ndarray, source, p2p_21: np.ndarray,
                 new_a: np.ndarray | None = None) -> tuple[float, int]:
    """``(mean error x100, points)`` of ``p2p_21`` (flawed target -> original source ``a``, whose
    shape is ``source``) on the ground-truth points the target kept (``new``: original -> flawed
    vertex, -1 gone) and, with ``new_a``, the flawed source kept too."""
    from shapecorr.eval.metrics import geodesic_errors

    gt_a, gt_b = ds.gt(a), new[ds.gt(b)]
    ok = gt_b >= 0 if new_a is None else (gt_b >= 0) & (new_a[gt_a] >= 0)
    err = geodesic_errors(source, p2p_21, gt_a[ok], gt_b[ok], distances=evaluator.distances(a))
    return 100 * float(err.mean()), int(ok.sum())


def test_pairs(n: int, seed: int, targets=None) -> list[tuple[str, str]]:
    """``n`` FAUST_r test pairs (080-099) after a shuffle seeded by ``seed``, sorted; with
    ``targets`` (e.g. ``["087", "097"]``) only pairs onto those targets."""
    names = [f"tr_reg_{i:03d}" for i in range(80, 100)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    if targets:
        pairs = [(a, b) if b[-3:] in targets else (b, a) for a, b in pairs
                 if b[-3:] in targets or a[-3:] in targets]
        pairs = [(a, b) for a, b in pairs if a[-3:] not in targets]
    order = np.random.default_rng(seed).permutation(len(pairs))[:n]
    return sorted(pairs[i] for i in order)


def run_pair(a: str, b: str, kind: str, ds, evaluator, seed: int, both: bool = False, preset=None) -> dict:
    """One pair with flaw ``kind`` on the target (and, with ``both``, another draw of it on the
    source: two scans). The error is measured on the ground-truth points both flawed shapes kept,
    on the original source."""
    import shapecorr
    from shapecorr import Shape

    A, target, new = flawed_target(ds, a, b, kind, seed)
    source, to_original, new_a = A, None, np.arange(A.n_vertices)
    if both:
        rng_a = np.random.default_rng(np.random.SeedSequence([seed, *a.encode(), *kind.encode(), 1]))
        va, fa, new_a = flawed(kind, np.asarray(A.vertices, dtype=np.float64), np.asarray(A.faces), rng_a)
        source = Shape(va, fa, name=f"{a}-{kind}")
        to_original = original_vertex(new_a, va, np.asarray(A.vertices, dtype=np.float64))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = shapecorr.match(source, target, preset)
    seconds = time.perf_counter() - t0
    p2p_21 = m.p2p_21 if to_original is None else to_original[m.p2p_21]
    err, points = target_error(ds, evaluator, a, b, new, A, p2p_21, new_a)
    return {"source": a, "target": b, "flaw": kind, "error": round(err, 4),
            "points": points, "confidence": round(float(m.confidence or 0.0), 4),
            "fallback": bool(m.info.get("axiomatic_fallback", False)), "seconds": round(seconds, 2),
            "target_vertices": target.n_vertices, "both": bool(both),
            # the registration step's confidence before it, when its map was kept (else None)
            "registered_from": _registered_from(m.info.get("registration") or {})}


#: the default without its registration step (studies of that step start from its maps)
NOREG = {"zoomout": {"register_below": None, "register_agreement_below": None}}


def unregistered_maps(ds, a: str, b: str, kind: str, seed: int, folder: Path):
    """``(source, flawed target, new, maps)``: the pair of :func:`flawed_target` and the default's
    maps without the registration step (``p2p_21``, ``p2p_12``, ``confidence``), computed once and
    saved in ``folder``."""
    import shapecorr

    A, T, new = flawed_target(ds, a, b, kind, seed)
    saved = Path(folder) / f"{kind}_{seed}_{a}_{b}.npz"
    if not saved.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = shapecorr.match(A, T, NOREG)
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.savez(saved, p2p_21=m.p2p_21, p2p_12=m.p2p_12, confidence=m.confidence)
    return A, T, new, np.load(saved)


def _registered_from(reg: dict) -> float | None:
    return round(float(reg["confidence_before"]), 4) if reg.get("ran") and reg.get("kept") else None


def summarize(rows: list[dict]) -> dict:
    out = {}
    for kind in FLAWS:
        e = np.array([r["error"] for r in rows if r["flaw"] == kind])
        if not e.size:
            continue
        c = np.array([r["confidence"] for r in rows if r["flaw"] == kind])
        out[kind] = {"pairs": int(e.size), "mean": round(float(e.mean()), 2), "median": round(float(np.median(e)), 2),
                     "above_5": int((e > 5).sum()), "mean_confidence": round(float(c.mean()), 2)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path, help="FAUST_r/vtx_5k (NAME.off and corres/)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pairs", type=int, default=12, help="test pairs, after a seeded shuffle (default: 12)")
    ap.add_argument("--flaws", nargs="+", default=list(FLAWS), choices=FLAWS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default=None, help="a shipped preset or a YAML file (default: default)")
    ap.add_argument("--both", action="store_true",
                    help="flaw the source too (another draw of the same flaw: two scans); flaws that move the "
                         "shape (rotated, millimetres) are refused")
    ap.add_argument("--targets", nargs="+", default=None,
                    help="only pairs whose target is one of these (e.g. 087 097: poses with contacts)")
    args = ap.parse_args(argv)

    if args.both and set(args.flaws) - set(IN_PLACE):
        ap.error(f"--both measures the source's points by position: use flaws among {', '.join(IN_PLACE)}")
    from shapecorr.eval import Dataset, PairEvaluator

    ds = Dataset(args.dataset)
    pairs = test_pairs(args.pairs, args.seed, args.targets)
    evaluator = PairEvaluator(ds)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (a, b) in enumerate(pairs, 1):
        for kind in args.flaws:
            r = run_pair(a, b, kind, ds, evaluator, args.seed, args.both, args.preset)
            rows.append(r)
            print(f"[{i}/{len(pairs)}] {a} -> {b} {kind}: {r['error']:.2f} (confidence {r['confidence']:.2f}, "
                  f"{r['seconds']:.1f} s)", file=sys.stderr, flush=True)
    with open(args.out / "rows.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = summarize(rows)
    command = "python scripts/bench_flaws.py " + " ".join(map(str, sys.argv[1:] if argv is None else argv))
    (args.out / "summary.json").write_text(json.dumps({"command": command, "flaws": summary}, indent=1))
    lines = [f"# Matching targets with a raw scan's flaws\n\n`{command}`\n",
             "| flaw | pairs | mean | median | pairs > 5 | mean confidence |", "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {s['pairs']} | {s['mean']:.2f} | {s['median']:.2f} | {s['above_5']} | {s['mean_confidence']:.2f} |"
              for k, s in summary.items()]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
