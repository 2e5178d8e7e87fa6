#!/usr/bin/env python
"""Benchmark: deformation transfer (and a morph strip) on FAUST_r, with real poses.

FAUST has 10 people in the same 10 poses (``tr_reg_XXX``: person ``XXX // 10``, pose ``XXX % 10``).
Transferring person A's change from pose p to pose q onto person B in pose p should give person B
in pose q. For each triple (A, B, p, q):

- ``A_p -> A_q``: SOURCE and SOURCE_DEFORMED are meshed independently in FAUST_r, so the deformed
  source is read at SOURCE's vertices through a match ``match(A_q, A_p)`` and the points of
  ``--pose-method`` (default ``register``, as the CLI: A_q deformed onto A_p by the ARAP
  registration, A_p's vertices then on A_q's surface);
- ``A_p -> B_p``: the match ``match(A_p, B_p)``, B_p's vertices put on A_p by each of
  ``--person-methods`` (default: ``spectral`` and ``register``, one result row each);
- the result (B_p's vertices moved) is compared with the truth B_q at the 5000 template points of
  the ``corres/*.vts`` files, after a rigid alignment (rotation + translation, no scale) of the
  result onto the truth: mean distance x100 / sqrt(area of B_q).

How differently the two people perform the poses (``gap_p``, ``gap_q``, ground-truth maps only):
B in pose x re-posed by A in pose x - B's own neighbourhoods (8 rings) turned by the rotations
that best carry them onto A's matched ones, then one ARAP global solve (B's edges, A's local
rotations) -
compared with B in pose x as above. This is what even a perfect transfer of A's pose x onto
B's body would miss (it also holds local shape differences and the ground-truth map's noise);
a transfer of the change p -> q inherits both gaps (roughly ``sqrt(gap_p^2 + gap_q^2)`` when
they are independent). The summary also gives the triples where both gaps are small.

Methods: ``transfer`` (:func:`shapecorr.deform.transfer_deformation`) and the baseline
``displacement`` (B's vertices moved by A's displacement vectors read through the same maps), each
with our default matcher's maps and with ground-truth maps (the .vts lists extended to every
vertex by the nearest annotated vertex, with a functional map fitted to them so that the same
precise-point code runs).

Triples come from the FAUST test split (people 8 and 9, shapes 080-099: our matcher's learned
features were trained on 000-079), drawn at random with a fixed seed. Matches are cached in
``--cache`` (default out/deftransfer_matches) so that reruns only do the transfer.

    nice -n 5 env OMP_NUM_THREADS=1 python scripts/bench_deformation_transfer.py \\
        ../shared/data/FAUST_r/vtx_5k --triples 60 --out docs/bench/deftransfer_cpu
    python scripts/bench_deformation_transfer.py ../shared/data/FAUST_r/vtx_5k --stage matches  # only cache

Writes OUT/bench.json, OUT/bench_results.md, OUT/triples.csv, OUT/transfer_*.png (transferred
poses next to the truth) and OUT/morph_strip.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def name(person: int, pose: int) -> str:
    return f"tr_reg_{10 * person + pose:03d}"


def pick_triples(n: int, seed: int, people=(8, 9)) -> list[tuple[int, int, int, int]]:
    """``n`` distinct (A, B, p, q) with A != B and p != q, A and B from ``people``."""
    every = [(a, b, p, q) for a in people for b in people if a != b for p in range(10) for q in range(10) if p != q]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(every), size=min(n, len(every)), replace=False)
    return [every[i] for i in sorted(idx)]


def needed_matches(triples) -> list[tuple[str, str]]:
    """(source, target) names of every match the triples use, each once."""
    pairs = []
    for a, b, p, q in triples:
        for pair in ((name(a, q), name(a, p)), (name(a, p), name(b, p))):
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def cached_match(folder: Path, cache: Path, src: str, tgt: str):
    """Our default match ``src -> tgt`` from ``cache`` (computed and saved there when missing)."""
    import shapecorr
    from shapecorr.result import Match

    d = cache / f"{src}__{tgt}"
    if (d / "match.json").exists():
        return Match.load(d)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = shapecorr.match(str(folder / f"{src}.off"), str(folder / f"{tgt}.off"))
    m.save(d)
    log(f"  matched {src} -> {tgt} in {time.perf_counter() - t0:.1f} s (confidence {m.info.get('confidence')})")
    return m


def stage_matches(folder: Path, cache: Path, triples) -> None:
    pairs = needed_matches(triples)
    log(f"{len(pairs)} matches for {len(triples)} triples (cache {cache})")
    for i, (s, t) in enumerate(pairs):
        log(f"[{i + 1}/{len(pairs)}] {s} -> {t}")
        cached_match(folder, cache, s, t)


# ----------------------------------------------------------------------------- ground truth
class Dataset:
    """FAUST_r shapes and their .vts template lists, loaded once."""

    def __init__(self, folder: Path):
        import shapecorr

        self.folder = folder
        self._shapes, self._gt, self._load = {}, {}, shapecorr.load

    def shape(self, n: str):
        if n not in self._shapes:
            self._shapes[n] = self._load(self.folder / f"{n}.off")
        return self._shapes[n]

    def gt(self, n: str) -> np.ndarray:
        if n not in self._gt:
            self._gt[n] = np.loadtxt(self.folder / "corres" / f"{n}.vts", dtype=np.int64) - 1
        return self._gt[n]

    def gt_vertex_map(self, src: str, tgt: str) -> np.ndarray:
        """Ground-truth ``p2p_21`` (target vertex -> source vertex): each target vertex takes the
        template point of its nearest annotated vertex (the .vts lists cover ~70 % of the vertices)."""
        from scipy.spatial import cKDTree

        g1, g2 = self.gt(src), self.gt(tgt)
        V2 = self.shape(tgt).vertices
        k = cKDTree(V2[g2]).query(V2)[1]
        return g1[k]


def gt_match(ours, data: Dataset, src: str, tgt: str):
    """Our match with its maps replaced by the ground truth (functional map fitted to it in the
    same eigenbases), so the same precise-point code runs on it."""
    from dataclasses import replace

    from shapecorr.fmap import p2p_to_fmap
    from shapecorr.transfer import spectral_bases

    S, T = data.shape(src), data.shape(tgt)
    p2p_21, p2p_12 = data.gt_vertex_map(src, tgt), data.gt_vertex_map(tgt, src)
    B = spectral_bases(ours, S, T)
    k2, k1 = np.shape(ours.fmap_12)
    C = p2p_to_fmap(p2p_21, B.evecs1, B.evecs2, B.mass2, k1=k1, k2=k2)
    return replace(ours, p2p_21=p2p_21, p2p_12=p2p_12, fmap_12=C, vertex_confidence=None)


def aligned_error(pred: np.ndarray, truth: np.ndarray, area: float) -> tuple[float, np.ndarray]:
    """Mean distance x100 / sqrt(area) after the best rigid motion of ``pred`` onto ``truth``;
    also the aligned prediction."""
    from shapecorr.deform.rigid import best_rotation

    R = best_rotation(pred, truth)
    moved = (pred - pred.mean(0)) @ R.T + truth.mean(0)
    return 100 * float(np.linalg.norm(moved - truth, axis=1).mean()) / np.sqrt(area), moved


def reposed(vertices: np.ndarray, faces: np.ndarray, guide: np.ndarray, rings: int = 8) -> np.ndarray:
    """The mesh ``(vertices, faces)`` with its own edges turned by the local rotations that best
    carry it onto ``guide`` (same vertices, other positions), then one ARAP global step with those
    rotations: a pose taken from ``guide``, the shape kept. The rotation of a vertex is fitted on
    its spokes-and-rims cell grown by ``rings`` rings (~15 cm on a 5k-vertex FAUST body), so that
    it follows the pose of the limb rather than local differences of two bodies' surfaces."""
    import scipy.sparse as sp

    from shapecorr.deform.arap import (
        arap_operators,
        covariances,
        make_factor,
        rotation_rhs,
        rotations_svd,
        spokes_and_rims,
    )

    n = len(vertices)
    ops = arap_operators(vertices, spokes_and_rims(vertices, faces))
    cov = covariances(ops, guide).reshape(9, n).T  # (n, 9)
    i, j = faces.ravel(), np.roll(faces, 1, axis=1).ravel()
    grow = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    grow = ((grow + grow.T) > 0).astype(np.float64) + sp.eye(n)
    for _ in range(rings):
        cov = grow @ cov
    rhs = rotation_rhs(ops, rotations_svd(np.ascontiguousarray(cov.T.reshape(3, 3, n))))
    free = np.arange(1, n)  # one vertex pinned: the energy ignores translations
    X = np.zeros_like(vertices)
    X[free] = make_factor(ops.Q[free][:, free].tocsc()).solve(rhs[free])
    return X


def pose_gap(data: Dataset, person_a: int, person_b: int, pose: int) -> float:
    """B in ``pose`` re-posed by A in ``pose`` (ground-truth map), error against B in ``pose``."""
    ax, bx = name(person_a, pose), name(person_b, pose)
    Ax, Bx = data.shape(ax), data.shape(bx)
    X = reposed(Bx.vertices, Bx.faces, Ax.vertices[data.gt_vertex_map(ax, bx)])
    g = data.gt(bx)
    return float(aligned_error(X[g], Bx.vertices[g], Bx.area)[0])


# ----------------------------------------------------------------------------- one triple
class Maps:
    """The deformed source at the source's vertices and the target's points on the source, for
    ``maps`` = ours or gt, computed once per pair (several triples share a person pair)."""

    def __init__(self, data: Dataset, cache: Path, pose_method: str):
        self.data, self.cache = data, cache
        self.pose_method = pose_method
        self._D, self._smap, self._gap = {}, {}, {}

    def gap(self, a: int, b: int, pose: int) -> float:
        """:func:`pose_gap`, computed once per (A, B, pose)."""
        if (a, b, pose) not in self._gap:
            self._gap[(a, b, pose)] = pose_gap(self.data, a, b, pose)
        return self._gap[(a, b, pose)]

    def match(self, src: str, tgt: str, maps: str):
        m = cached_match(self.data.folder, self.cache, src, tgt)
        return gt_match(m, self.data, src, tgt) if maps == "gt" else m

    def deformed(self, ap: str, aq: str, maps: str) -> tuple[np.ndarray, float]:
        """A_q read at A_p's vertices (through ``match(A_q, A_p)``) and the CPU seconds it took."""
        from shapecorr.deform import deformed_at_source

        key = (ap, aq, maps)
        if key not in self._D:
            m = self.match(aq, ap, maps)
            t0 = time.process_time()
            D = deformed_at_source(self.data.shape(ap), self.data.shape(aq), m, method=self.pose_method)
            self._D[key] = (D, time.process_time() - t0)
        return self._D[key]

    def points(self, ap: str, bp: str, maps: str, method: str):
        """B_p's vertices on A_p (through ``match(A_p, B_p)``) and the CPU seconds it took."""
        from shapecorr.transfer import precise_map

        key = (ap, bp, maps, method)
        if key not in self._smap:
            m = self.match(ap, bp, maps)
            t0 = time.process_time()
            smap = precise_map(m, self.data.shape(ap), self.data.shape(bp), method=method)
            self._smap[key] = (smap, time.process_time() - t0)
        return self._smap[key]


def run_triple(data: Dataset, maps_of: Maps, triple, maps: str, person_method: str) -> dict:
    """Our transfer and the displacement baseline for one triple, with ``maps`` = ours or gt and
    B_p's vertices put on A_p by ``person_method``."""
    from shapecorr.deform import transfer_deformation

    a, b, p, q = triple
    ap, aq, bp, bq = name(a, p), name(a, q), name(b, p), name(b, q)
    Ap, Bp, Bq = (data.shape(n) for n in (ap, bp, bq))
    D, t_pose = maps_of.deformed(ap, aq, maps)
    smap, t_person = maps_of.points(ap, bp, maps, person_method)
    t_maps = t_pose + t_person
    t0 = time.process_time()
    X = transfer_deformation(Ap, D, Bp, surface_map=smap)
    t_transfer = time.process_time() - t0
    disp = Bp.vertices + smap.points(D - Ap.vertices, Ap.faces)  # B moved by A's displacement vectors
    truth = Bq.vertices[data.gt(bq)]
    gb = data.gt(bp)
    row = {"A": a, "B": b, "p": p, "q": q, "source": ap, "source_deformed": aq, "target": bp, "truth": bq,
           "maps": maps, "person_method": person_method, "variant": f"{maps} maps, person {person_method}",
           "cpu_maps_s": round(t_maps, 3), "cpu_transfer_s": round(t_transfer, 3),
           "gap_p": round(maps_of.gap(a, b, p), 4), "gap_q": round(maps_of.gap(a, b, q), 4)}
    results = {}
    for method, pred in (("transfer", X), ("displacement", disp), ("unchanged", Bp.vertices)):
        row[method] = round(aligned_error(pred[gb], truth, Bq.area)[0], 4)
        results[method] = pred
    if maps == "ours":
        row["confidence_pose"] = (maps_of.match(aq, ap, maps).info or {}).get("confidence")
        row["confidence_person"] = (maps_of.match(ap, bp, maps).info or {}).get("confidence")
    return row, results


# ----------------------------------------------------------------------------- pictures
def picture_triple(data: Dataset, row: dict, results: dict, path: Path) -> None:
    from shapecorr import Shape
    from shapecorr.deform.rigid import best_rotation
    from shapecorr.render import render_shapes

    Bp, Bq = data.shape(row["target"]), data.shape(row["truth"])
    shapes = [data.shape(row["source"]), data.shape(row["source_deformed"]), Bp]
    titles = [f"A pose p ({row['source']})", f"A pose q ({row['source_deformed']})", f"B pose p ({row['target']})"]
    gb, gq = data.gt(row["target"]), data.gt(row["truth"])
    for method, label in (("transfer", "transfer"), ("displacement", "displacement")):
        X = results[method]
        R = best_rotation(X[gb], Bq.vertices[gq])
        moved = (X - X[gb].mean(0)) @ R.T + Bq.vertices[gq].mean(0)
        shapes.append(Shape(moved, Bp.faces, name=method))
        titles.append(f"{label}: {row[method]:.2f}")
    shapes.append(Bq)
    titles.append(f"truth B pose q ({row['truth']})")
    render_shapes(shapes, path, titles=titles, window_size=(260 * len(shapes), 420),
                  caption=f"{row['variant']}; error x100 / sqrt(area) at the 5000 template points, after a rigid alignment")


def picture_morph(data: Dataset, cache: Path, src: str, tgt: str, path: Path, n_frames: int = 7,
                  method: str = "register") -> dict:
    """Top row: our morph (ARAP interpolation of gradients); bottom row: linear vertex blending."""
    from PIL import Image

    from shapecorr import Shape
    from shapecorr.deform import Morph, end_positions
    from shapecorr.render import render_shapes

    S, T = data.shape(src), data.shape(tgt)
    m = cached_match(data.folder, cache, src, tgt)
    t0 = time.process_time()
    end = end_positions(S, T, m, method=method)
    frames = Morph(S.vertices, S.faces, end).frames(n_frames)  # = morph(S, T, m, n_frames, method=method)
    cpu = time.process_time() - t0
    linear = [(1 - t) * S.vertices + t * end for t in np.linspace(0, 1, n_frames)]
    size = (200 * n_frames, 380)
    ts = [f"t = {t:.2f}" for t in np.linspace(0, 1, n_frames)]
    top = render_shapes([Shape(f, S.faces) for f in frames], titles=ts, window_size=size,
                        caption=f"ARAP morph {src} -> {tgt} (rotations interpolated, stretch linear)")
    bottom = render_shapes([Shape(f, S.faces) for f in linear], window_size=size,
                           caption="linear vertex blending, for comparison")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([top, bottom], axis=0)).save(path)

    def volume(X):
        v0, v1, v2 = (X[S.faces[:, k]] for k in range(3))
        return float(np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() / 6)

    return {"source": src, "target": tgt, "frames": n_frames, "method": method, "cpu_s": round(cpu, 3),
            "volume_ours": [round(volume(f), 5) for f in frames],
            "volume_linear": [round(volume(f), 5) for f in linear]}


# ----------------------------------------------------------------------------- summary
def summarize(rows: list[dict]) -> dict:
    out = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        sel = [r for r in rows if r["variant"] == variant]
        if not sel:
            continue
        d = {"n": len(sel)}
        for method in ("transfer", "displacement", "unchanged"):
            e = np.array([r[method] for r in sel])
            d[method] = {"mean": round(float(e.mean()), 3), "median": round(float(np.median(e)), 3),
                         "max": round(float(e.max()), 3)}
        d["ratio_displacement_over_transfer"] = round(d["displacement"]["mean"] / d["transfer"]["mean"], 2)
        d["cpu_transfer_s_mean"] = round(float(np.mean([r["cpu_transfer_s"] for r in sel])), 3)
        d["pose_gaps"] = pose_gap_summary(sel)
        out[variant] = d
    return out


SMALL_GAP = 3.0  # both people perform poses p and q alike (re-posed error below this)


def pose_gap_summary(rows: list[dict]) -> dict:
    """How far the truth is from A's poses (see :func:`pose_gap`) and the errors where it is close."""
    gp, gq = np.array([r["gap_p"] for r in rows]), np.array([r["gap_q"] for r in rows])
    both = np.sqrt(gp ** 2 + gq ** 2)
    t = np.array([r["transfer"] for r in rows])
    small = np.maximum(gp, gq) <= SMALL_GAP
    d = {"gap_p_mean": round(float(gp.mean()), 3), "gap_q_mean": round(float(gq.mean()), 3),
         "sqrt_gap_p2_plus_gap_q2_mean": round(float(both.mean()), 3),
         "corr_transfer_vs_gaps": round(float(np.corrcoef(t, both)[0, 1]), 3),
         "small_gaps": {"max_gap": SMALL_GAP, "n": int(small.sum())}}
    for method in ("transfer", "displacement", "unchanged"):
        if small.any():
            d["small_gaps"][method] = round(float(np.mean([r[method] for r, k in zip(rows, small) if k])), 3)
    return d


def write_tables(out: Path, summary: dict, rows: list[dict], meta: dict) -> None:
    lines = ["# Deformation transfer on FAUST_r (test people 8 and 9)", "",
             f"{meta['n_triples']} triples (A pose p -> pose q, applied to B in pose p), error at the 5000 template",
             "points after a rigid alignment to the truth (B in pose q), mean distance x100 / sqrt(area).", "",
             f"Command: `{meta['command']}`", "",
             "| maps | method | mean | median | max |", "|---|---|---|---|---|"]
    for maps, d in summary.items():
        for method in ("transfer", "displacement", "unchanged"):
            e = d[method]
            lines.append(f"| {maps} | {method} | {e['mean']:.2f} | {e['median']:.2f} | {e['max']:.2f} |")
    lines += [""] + [f"- maps {maps}: displacement / transfer = {d['ratio_displacement_over_transfer']:.2f}; "
                     f"transfer CPU time {d['cpu_transfer_s_mean']:.2f} s per triple (after the maps)"
                     for maps, d in summary.items()]
    lines += ["", "How differently the two people perform the poses (ground-truth maps; B in pose x re-posed by",
              "A's local rotations in pose x, compared with B in pose x: what a perfect transfer of A's pose would",
              "still miss):", "",
              ("| maps | gap at p | gap at q | sqrt(gap_p^2 + gap_q^2) | corr(transfer, that) | "
               f"triples with both gaps <= {SMALL_GAP} | transfer there | displacement there | unchanged there |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for maps, d in summary.items():
        g = d["pose_gaps"]
        sm = g["small_gaps"]
        lines.append(f"| {maps} | {g['gap_p_mean']:.2f} | {g['gap_q_mean']:.2f} | "
                     f"{g['sqrt_gap_p2_plus_gap_q2_mean']:.2f} | {g['corr_transfer_vs_gaps']:.2f} | {sm['n']} | "
                     + " | ".join(f"{sm[m]:.2f}" if m in sm else "-" for m in ("transfer", "displacement", "unchanged"))
                     + " |")
    lines += ["", ("Where the error comes from (ground-truth checks over all 180 triples, `--stage diagnose`): "
                   "[diagnosis.md](diagnosis.md)."),
              "", "`unchanged`: B in pose p itself (how far the poses are apart).",
              "Timings are CPU seconds measured while other jobs shared the machine.", ""]
    (out / "bench_results.md").write_text("\n".join(lines))
    keys = list(rows[0].keys())
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(out / "triples.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def run_benchmark(args, triples) -> int:
    import platform

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = Dataset(args.folder)
    maps_of = Maps(data, args.cache, args.pose_method)
    variants = [("ours", m) for m in args.person_methods] + [("gt", args.person_methods[-1])]
    main_variant = f"ours maps, person {args.person_methods[-1]}"
    rows = []
    if args.rows:  # the rows of an earlier (possibly stopped) run: only the summary and pictures are made
        rows = json.loads(Path(args.rows).read_text())
        triples = [(r["A"], r["B"], r["p"], r["q"]) for r in rows if r["variant"] == main_variant]
        log(f"{len(triples)} triples read from {args.rows}")
    for i, triple in enumerate([] if args.rows else triples):
        for maps, person in variants:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row, _ = run_triple(data, maps_of, triple, maps, person)
            rows.append(row)
        done = rows[-len(variants):]
        (args.cache.parent / "deftransfer_rows.json").write_text(json.dumps(rows))  # partial results, if stopped
        log(f"[{i + 1}/{len(triples)}] {done[0]['source']}->{done[0]['source_deformed']} on {done[0]['target']} "
            f"(unchanged {done[0]['unchanged']:.2f}): " + "; ".join(
                f"{r['variant']}: transfer {r['transfer']:.2f} displacement {r['displacement']:.2f}" for r in done))
    summary = summarize(rows)
    ours = [r for r in rows if r["variant"] == main_variant]
    order = np.argsort([r["transfer"] for r in ours])
    drawn = {"best": int(order[0]), "median": int(order[len(order) // 2]), "worst": int(order[-1])}
    for label, i in drawn.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row, results = run_triple(data, maps_of, triples[i], "ours", args.person_methods[-1])
        picture_triple(data, row, results, out / f"transfer_{label}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        morph_info = picture_morph(data, args.cache, "tr_reg_081", "tr_reg_094", out / "morph_strip.png",
                                   method=args.pose_method)
    meta = {"n_triples": len(triples), "requested_triples": args.triples, "seed": args.seed, "people": [8, 9],
            "pose_method": args.pose_method, "person_methods": args.person_methods,
            "command": "nice -n 5 env OMP_NUM_THREADS=1 python scripts/bench_deformation_transfer.py "
                       f"../shared/data/FAUST_r/vtx_5k --triples {args.triples} --pose-method {args.pose_method} "
                       f"--person-methods {' '.join(args.person_methods)} --out {os.path.relpath(args.out, ROOT)}",
            "python": platform.python_version(), "note": "CPU shared with other jobs (timings are CPU time)"}
    if args.rows:
        meta["rows_from"] = "a run stopped after the triples listed (summary made with --rows)"
    (out / "bench.json").write_text(json.dumps({"meta": meta, "summary": summary, "drawn": drawn,
                                                "morph": morph_info, "rows": rows}, indent=2))
    write_tables(out, summary, rows, meta)
    log(json.dumps(summary, indent=2))
    return 0


# ----------------------------------------------------------------------------- diagnosis
def diagnose(args) -> int:
    """Checks with ground-truth vertex maps only (no matcher, no registration), over all 180
    triples of people 8 and 9 (or ``--diagnose-triples`` of ``--people``, drawn with the seed),
    of where the error of the benchmark comes from:

    - ``self``: A's change p -> q applied to A_p itself (through the identity) against A_q: the
      transfer reproduces the deformed source (this is the error of reading A_q at A_p's
      vertices by the ground-truth vertex map);
    - ``transfer``, ``displacement``, ``unchanged`` as in the benchmark (ground-truth vertex maps);
    - ``A_q``: A in pose q itself taken as the answer (another body, A's pose);
    - ``B posed as A_q``: B_p re-posed by A_q's local rotations (:func:`reposed`, ground-truth
      map): B's body in A's pose q exactly, what a transfer could give at best if A's pose,
      not A's change, were the answer;
    - ``gap_p``, ``gap_q``: :func:`pose_gap`.
    """
    from shapecorr.deform import transfer_deformation
    from shapecorr.fmap.surface import SurfaceMap

    data = Dataset(args.folder)
    gaps, rows = {}, []
    people = tuple(args.people)
    every = [(a, b, p, q) for a in people for b in people if a != b for p in range(10) for q in range(10) if p != q]
    if args.diagnose_triples and args.diagnose_triples < len(every):
        pick = np.random.default_rng(args.seed).choice(len(every), args.diagnose_triples, replace=False)
        every = [every[i] for i in sorted(pick)]
    who = "people " + ", ".join(str(x) for x in people)
    for k, (a, b, p, q) in enumerate(every):
        ap, aq, bp, bq = name(a, p), name(a, q), name(b, p), name(b, q)
        Ap, Aq, Bp, Bq = (data.shape(n) for n in (ap, aq, bp, bq))
        D = Aq.vertices[data.gt_vertex_map(aq, ap)]
        smap = SurfaceMap.from_vertex_map(data.gt_vertex_map(ap, bp), Ap.faces)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = transfer_deformation(Ap, D, Bp, surface_map=smap)
            own = transfer_deformation(Ap, D, Ap, surface_map=SurfaceMap.from_vertex_map(np.arange(Ap.n_vertices),
                                                                                          Ap.faces))
        gb, ga, truth = data.gt(bp), data.gt(ap), Bq.vertices[data.gt(bq)]
        for x in (p, q):
            if (a, b, x) not in gaps:
                gaps[(a, b, x)] = pose_gap(data, a, b, x)
        preds = {"transfer": X[gb], "displacement": (Bp.vertices + smap.points(D - Ap.vertices, Ap.faces))[gb],
                 "unchanged": Bp.vertices[gb], "A_q": Aq.vertices[data.gt(aq)],
                 "B posed as A_q": reposed(Bp.vertices, Bp.faces, Aq.vertices[data.gt_vertex_map(aq, bp)])[gb]}
        row = {"A": a, "B": b, "p": p, "q": q, "self": aligned_error(own[ga], Aq.vertices[data.gt(aq)], Aq.area)[0]}
        row.update({m: aligned_error(v, truth, Bq.area)[0] for m, v in preds.items()})
        row.update(gap_p=gaps[(a, b, p)], gap_q=gaps[(a, b, q)])
        rows.append({k2: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v) for k2, v in row.items()})
        if (k + 1) % 20 == 0:
            log(f"[{k + 1}/{len(every)}] diagnosis")
    gap_rows = {x: [g for (_, _, y), g in gaps.items() if y == x] for x in range(10)}
    keys = ("self", "transfer", "displacement", "unchanged", "A_q", "B posed as A_q")
    mean = {m: round(float(np.mean([r[m] for r in rows])), 3) for m in keys}
    per_pose = {x: round(float(np.mean(g)), 3) if g else float("nan") for x, g in gap_rows.items()}
    gap_summary = pose_gap_summary(rows)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "diagnosis.json").write_text(json.dumps({"people": list(people), "seed": args.seed, "mean": mean,
                                                    "pose_gap_per_pose": per_pose,
                                                    "pose_gaps": gap_summary, "rows": rows}, indent=1))
    sm = gap_summary["small_gaps"]
    lines = ["# Deformation transfer on FAUST_r: where the error comes from", "",
             (f"Ground-truth vertex maps (.vts, nearest annotated vertex), {len(rows)} triples of {who}"
              + (f" (drawn with seed {args.seed})," if args.diagnose_triples else ",")),
             "error x100 / sqrt(area) at the 5000 template points after a rigid alignment. Command:",
             ("`python scripts/bench_deformation_transfer.py ../shared/data/FAUST_r/vtx_5k --stage diagnose "
              + (f"--people {' '.join(str(x) for x in people)} --diagnose-triples {args.diagnose_triples} "
                 f"--seed {args.seed} " if people != (8, 9) or args.diagnose_triples else "")
              + f"--out {os.path.relpath(out, ROOT)}`"), "",
             ("| A's change on A itself (vs A_q) | transfer (vs B_q) | displacement | B unchanged | A_q itself "
              "| B posed as A_q (A's pose q exactly, B's body) |"),
             "|---|---|---|---|---|---|",
             "| " + " | ".join(f"{mean[m]:.2f}" for m in keys) + " |", "",
             (f"How differently the people ({who}) perform each pose (B re-posed by A's local rotations in that "
             "pose, vs B; mean over the pairs and both directions):"), "",
             "| pose | " + " | ".join(str(x) for x in range(10)) + " |", "|---" * 11 + "|",
             "| gap | " + " | ".join(f"{per_pose[x]:.2f}" for x in range(10)) + " |", "",
             f"Correlation of the transfer error with sqrt(gap_p^2 + gap_q^2): {gap_summary['corr_transfer_vs_gaps']:.2f}.",
             (f"Triples with both gaps <= {sm['max_gap']}: {sm['n']}; there transfer {sm.get('transfer', float('nan')):.2f}, "
             f"displacement {sm.get('displacement', float('nan')):.2f}, unchanged {sm.get('unchanged', float('nan')):.2f}."),
             ""]
    (out / "diagnosis.md").write_text("\n".join(lines))
    log("\n".join(lines))
    return 0


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="FAUST_r vtx_5k folder (tr_reg_XXX.off + corres/)")
    ap.add_argument("--triples", type=int, default=60, help="number of (A, B, p, q) triples (default: 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "deftransfer_matches")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "deftransfer_cpu")
    ap.add_argument("--stage", choices=("matches", "all", "diagnose"), default="all",
                    help="matches: only fill the cache; diagnose: the ground-truth checks of diagnose() "
                         "(every triple of people 8 and 9, no matcher, a few minutes), written to "
                         "OUT/diagnosis.json and OUT/diagnosis.md")
    ap.add_argument("--people", type=int, nargs="+", default=[8, 9], metavar="P",
                    help="--stage diagnose: the FAUST people (0-9) whose triples are checked (default: 8 9, the "
                         "test split; the checks use ground-truth maps only, so training people are fair here)")
    ap.add_argument("--diagnose-triples", type=int, default=0, metavar="N",
                    help="--stage diagnose: N triples drawn with --seed instead of all of them (0: all)")
    ap.add_argument("--rows", type=Path, help="summarize the rows a run wrote to out/deftransfer_rows.json "
                                              "(e.g. a run stopped early) instead of computing them")
    ap.add_argument("--pose-method", default="register", choices=("spectral", "vertex", "register"),
                    help="how A_q is read at A_p's vertices (default: register, as the CLI does)")
    ap.add_argument("--person-methods", nargs="+", default=["spectral", "register"],
                    choices=("spectral", "vertex", "register"),
                    help="how B_p's vertices are put on A_p, one run each with our maps; the last one also "
                         "with ground-truth maps and for the pictures (default: spectral register; the CLI "
                         "uses register)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.stage == "diagnose":
        return diagnose(args)
    triples = pick_triples(args.triples, args.seed)
    if not args.rows:
        stage_matches(args.folder, args.cache, triples)
    if args.stage == "matches":
        return 0
    return run_benchmark(args, triples)


if __name__ == "__main__":
    sys.exit(main())
