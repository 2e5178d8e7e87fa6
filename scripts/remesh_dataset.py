#!/usr/bin/env python
"""Re-mesh benchmark shapes anisotropically at random resolutions, with their ground truth.

Made for the generalization benchmark (``scripts/bench_generalize.py``): a matcher trained or
tuned on FAUST_r's ~5k-vertex meshes must give the same map when the same bodies come with
another connectivity, another resolution and elongated triangles. For each shape (FAUST_r test
shapes ``tr_reg_080..099`` by default), seeded per shape:

1. the mesh is stretched by a random factor (``--stretch``, 2-4 by default) along a random
   direction;
2. it is remeshed isotropically there (MeshLab's explicit isotropic remeshing, pymeshlab) to
   about 1.3 x the target number of vertices, drawn log-uniformly in ``--min-vertices`` ..
   ``--max-vertices`` (2k-40k);
3. quadric edge collapse (fast_simplification) brings it to the target (uneven density: flat
   regions lose more vertices than curved ones);
4. the stretch is undone, so the triangles that were regular in the stretched space are
   elongated across the stretch direction (anisotropic), at another orientation on every shape.

Ground truth is transported by position: template point ``i`` (vertex ``gt[i]`` of the original
mesh) goes to the new vertex nearest that point, in ``corres/NAME.vts`` (1-based, as FAUST_r; the
mirrored ``.sym.vts`` likewise). The transport error (the distance from each original point to
its new vertex, in units of sqrt(area) x100, the benchmark's unit) is recorded per shape in
``remesh.json``: it is a floor under any matcher's error on the coarse shapes.

``--flaws`` gives each remeshed shape the flaws of a raw scan as well (seeded; see
:func:`scan_flaws`): holes with no vertex left inside, floating specks of debris, a patch of faces
wound the other way, noise along the normals. Ground truth is transported to the surface only
(never to a speck); a point inside a hole goes to the nearest vertex left, which the transport
error records.

``--proportions AMOUNT`` first changes each shape's proportions, so that pairs are no longer
isometric (a stand-in for two species, or two people of different build): a global stretch along
three random axes by up to ``exp(AMOUNT/2)``, then parts made longer or shorter, thicker or thinner
by up to ``exp(AMOUNT)`` (:func:`change_proportions`, the training augmentations of
``shapecorr.learn.augment``). Ground truth follows the vertices through it, then is transported
to the new mesh as above.

``--point-clouds DIR`` also writes the original shapes' vertices as point clouds (``NAME.ply``,
vertices only, in the original order, so ``corres/`` is copied unchanged).

Data is never committed: write it under ``out/`` (ignored by git).

    python scripts/remesh_dataset.py ../shared/data/FAUST_r/vtx_5k --out out/faust_r_remeshed \\
        --point-clouds out/faust_r_pc
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAUST_TEST = tuple(f"tr_reg_{i:03d}" for i in range(80, 100))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- geometry
def stretch_matrix(direction: np.ndarray, factor: float) -> np.ndarray:
    """``(3, 3)``: scales by ``factor`` along the unit ``direction``, identity across it."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    return np.eye(3) + (factor - 1.0) * np.outer(d, d)


def edge_length_for(area: float, n_vertices: int) -> float:
    """Edge length of a regular triangulation of ``area`` with about ``n_vertices`` vertices
    (2 faces per vertex, equilateral faces of area sqrt(3)/4 l^2)."""
    return float(np.sqrt(2.0 * area / (np.sqrt(3.0) * n_vertices)))


def mesh_area(v: np.ndarray, f: np.ndarray) -> float:
    return float(0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum())


def isotropic_remesh(v: np.ndarray, f: np.ndarray, n_vertices: int, iterations: int = 6) -> tuple:
    """MeshLab's explicit isotropic remeshing to about ``n_vertices`` vertices."""
    import pymeshlab

    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(vertex_matrix=v, face_matrix=f.astype(np.int32)))
    length = edge_length_for(mesh_area(v, f), n_vertices)
    ms.meshing_isotropic_explicit_remeshing(iterations=iterations, targetlen=pymeshlab.PureValue(length))
    ms.meshing_remove_unreferenced_vertices()
    m = ms.current_mesh()
    return np.asarray(m.vertex_matrix(), dtype=np.float64), np.asarray(m.face_matrix(), dtype=np.int64)


def decimate(v: np.ndarray, f: np.ndarray, n_vertices: int) -> tuple:
    """Quadric edge collapse to about ``n_vertices`` vertices (unused vertices dropped)."""
    import fast_simplification

    if n_vertices >= len(v):
        return v, f
    v2, f2 = fast_simplification.simplify(v.astype(np.float32), f.astype(np.int32),
                                          target_reduction=1.0 - n_vertices / len(v))
    v2, f2 = np.asarray(v2, dtype=np.float64), np.asarray(f2, dtype=np.int64)
    f2 = f2[(f2[:, 0] != f2[:, 1]) & (f2[:, 1] != f2[:, 2]) & (f2[:, 0] != f2[:, 2])]
    used = np.unique(f2)
    new = np.full(len(v2), -1, dtype=np.int64)
    new[used] = np.arange(len(used))
    return v2[used], new[f2]


def anisotropic_remesh(v: np.ndarray, f: np.ndarray, n_vertices: int, rng: np.random.Generator,
                       stretch=(2.0, 4.0)) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(vertices, faces, how)``: the surface of ``(v, f)`` with new, anisotropic connectivity
    of about ``n_vertices`` vertices (see the module docstring)."""
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    factor = float(rng.uniform(*stretch))
    S = stretch_matrix(direction, factor)
    vs = v @ S.T
    vr, fr = isotropic_remesh(vs, f, round(1.3 * n_vertices))
    vr, fr = decimate(vr, fr, n_vertices)
    vr = vr @ np.linalg.inv(S).T
    return vr, fr, {"stretch_direction": direction.round(6).tolist(), "stretch_factor": round(factor, 4)}


def change_proportions(v: np.ndarray, f: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """``v`` given other proportions, globally and part by part (not isometric; same vertex
    order): the training augmentations :func:`shapecorr.learn.augment.stretched` (three random
    axes, factors in ``exp([-amount/2, amount/2])``) and :func:`~shapecorr.learn.augment.reproportioned`
    (3-6 parts longer or shorter, thicker or thinner by up to ``exp(amount)``)."""
    from shapecorr import Shape
    from shapecorr.learn.augment import reproportioned, stretched

    shape = stretched(Shape(v, f), rng, amount / 2)
    return np.asarray(reproportioned(shape, rng, amount).vertices, dtype=np.float64)


def _face_patch(faces: np.ndarray, n_vertices: int, seed_face: int, n_faces: int) -> np.ndarray:
    """Boolean mask of about ``n_faces`` faces grown ring by ring (over shared vertices) from
    ``seed_face``: a connected, roughly round patch."""
    from scipy.sparse import coo_matrix

    m = len(faces)
    vf = coo_matrix((np.ones(3 * m), (faces.ravel(), np.repeat(np.arange(m), 3))), shape=(n_vertices, m)).tocsr()
    ff = (vf.T @ vf).tocsr()
    patch = np.zeros(m, dtype=bool)
    patch[seed_face] = True
    front = np.array([seed_face])
    while patch.sum() < n_faces and front.size:
        nb = np.unique(ff[front].indices)
        front = nb[~patch[nb]]
        patch[front] = True
    return patch


def remove_faces(v: np.ndarray, f: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices, faces, new_index)`` without the faces in mask ``drop`` and the vertices only
    they used; ``new_index[i]`` is the new index of old vertex ``i`` (-1: removed)."""
    f = f[~drop]
    used = np.unique(f)
    new = np.full(len(v), -1, dtype=np.int64)
    new[used] = np.arange(len(used))
    return v[used].copy(), new[f], new


def cut_holes(v: np.ndarray, f: np.ndarray, rng: np.random.Generator, n_holes: int,
              share=(0.001, 0.01)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices, faces, new_index)``: ``n_holes`` holes of a ``share`` of the faces each (drawn
    uniformly in that range), the vertices inside removed as a scanner leaves them;
    ``new_index[i]`` is the new index of old vertex ``i`` (-1: removed)."""
    drop = np.zeros(len(f), dtype=bool)
    for _ in range(n_holes):
        drop |= _face_patch(f, len(v), int(rng.integers(len(f))), int(len(f) * rng.uniform(*share)))
    return remove_faces(v, f, drop)


def extremity_tips(v: np.ndarray, f: np.ndarray, n_tips: int = 5) -> np.ndarray:
    """``n_tips`` vertices at the ends of the shape (a person's hands, feet and head): farthest
    points, along the edges, from the vertex nearest the centroid and from each other."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    w = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    graph = coo_matrix((w, (e[:, 0], e[:, 1])), shape=(len(v), len(v))).tocsr()
    nearest = np.full(len(v), np.inf)
    start = int(np.argmin(np.linalg.norm(v - v.mean(axis=0), axis=1)))
    tips = []
    for s in [start] + [None] * n_tips:
        s = int(np.argmax(np.where(np.isfinite(nearest), nearest, -1))) if s is None else s
        if s != start:
            tips.append(s)
        nearest = np.minimum(nearest, dijkstra(graph, directed=False, indices=s))
    return np.array(tips)


def cut_extremity(v: np.ndarray, f: np.ndarray, rng: np.random.Generator,
                  share=(0.03, 0.08)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices, faces, new_index)``: one extremity (a random one of :func:`extremity_tips`)
    cut off, a ``share`` of the faces grown from its tip, as a scan that missed a hand, a foot or
    the top of the head leaves it (a partial shape, not a hole inside the surface)."""
    tip = int(rng.choice(extremity_tips(v, f)))
    seed_face = int(np.flatnonzero((f == tip).any(axis=1))[0])
    drop = _face_patch(f, len(v), seed_face, int(len(f) * rng.uniform(*share)))
    return remove_faces(v, f, drop)


def mean_edge(v: np.ndarray, f: np.ndarray) -> float:
    return float(np.linalg.norm(v[f[:, 0]] - v[f[:, 1]], axis=1).mean())


def add_noise(v: np.ndarray, f: np.ndarray, rng: np.random.Generator, edge_lengths: float) -> np.ndarray:
    """Vertices moved along their normals by Gaussian noise of ``edge_lengths`` mean edge lengths."""
    from shapecorr import Shape

    normals = Shape(v, f).vertex_normals
    return v + normals * rng.normal(size=(len(v), 1)) * edge_lengths * mean_edge(v, f)


def reverse_patch(v: np.ndarray, f: np.ndarray, seed_face: int, share: float) -> np.ndarray:
    """The faces with a connected patch of ``share`` of them, grown from ``seed_face``, wound
    the other way."""
    f = f.copy()
    patch = _face_patch(f, len(v), seed_face, int(len(f) * share))
    f[patch] = f[patch, ::-1]
    return f


def add_specks(v: np.ndarray, f: np.ndarray, rng: np.random.Generator, n_specks: int,
               edge: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n_specks`` tiny tetrahedra (about ``edge`` across; default: the mean edge length)
    floating near the surface, appended after its vertices."""
    edge = mean_edge(v, f) if edge is None else edge
    tet = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    pieces_v, pieces_f = [v], [f]
    for i in range(n_specks):
        c = v[rng.integers(len(v))] + rng.normal(size=3) * 5 * edge
        pieces_v.append(c + rng.normal(size=(4, 3)) * edge)
        pieces_f.append(tet + len(v) + 4 * i)
    return np.vstack(pieces_v), np.vstack(pieces_f)


def weld_contacts(v: np.ndarray, f: np.ndarray, radius: float = 1.5,
                  apart: float = 15.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weld the surface where two parts touch, as a scan of a hand on a thigh is one surface:
    vertices closer than ``radius`` mean edge lengths whose distance along the surface is more
    than ``apart`` times that are merged (each into the lower index; faces that collapse are
    dropped). Returns ``(vertices, faces, new_index)`` with ``new_index[i]`` the welded vertex of
    original vertex ``i``; a shape without such contacts comes back unchanged."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, dijkstra
    from scipy.spatial import cKDTree

    edge = mean_edge(v, f)
    pairs = cKDTree(v).query_pairs(radius * edge, output_type="ndarray")
    if not len(pairs):
        return v, f, np.arange(len(v))
    e = np.r_[f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]
    w = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    graph = coo_matrix((w, (e[:, 0], e[:, 1])), shape=(len(v), len(v))).tocsr()
    graph = graph.maximum(graph.T)
    sources, where = np.unique(pairs[:, 0], return_inverse=True)
    dist = dijkstra(graph, indices=sources, limit=apart * radius * edge)
    weld = pairs[~np.isfinite(dist[where, pairs[:, 1]])]
    if not len(weld):
        return v, f, np.arange(len(v))
    glue = coo_matrix((np.ones(len(weld)), (weld[:, 0], weld[:, 1])), shape=(len(v), len(v)))
    _, label = connected_components(glue, directed=False)
    rep = np.full(label.max() + 1, len(v))
    np.minimum.at(rep, label, np.arange(len(v)))
    keep = np.unique(rep[label])
    new_index = np.searchsorted(keep, rep[label])
    f2 = new_index[f]
    ok = (f2[:, 0] != f2[:, 1]) & (f2[:, 1] != f2[:, 2]) & (f2[:, 2] != f2[:, 0])
    f2 = np.unique(np.sort(f2[ok], axis=1), axis=0, return_index=True)[1]
    f2 = new_index[f][ok][np.sort(f2)]
    return v[keep], f2, new_index


def scan_flaws(v: np.ndarray, f: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, dict]:
    """``(vertices, faces, n_surface, how)``: the flaws of a raw scan, seeded: holes (faces and the
    vertices inside removed, as a scanner leaves them: 0-10 holes of 0.1-1 % of the faces each),
    noise along the normals (0-0.15 mean edge lengths), a patch of 5-30 % of the faces wound
    the other way (half of the shapes), and specks of debris floating near the surface (0-30
    tetrahedra, appended after the ``n_surface`` surface vertices)."""
    n_holes = int(rng.integers(0, 11))
    n_faces = len(f)
    v, f, _ = cut_holes(v, f, rng, n_holes)
    edge = mean_edge(v, f)
    noise = float(rng.uniform(0.0, 0.15))
    v = add_noise(v, f, rng, noise)
    reversed_share = 0.0
    if rng.random() < 0.5:
        seed_face = int(rng.integers(len(f)))
        reversed_share = float(rng.uniform(0.05, 0.3))
        f = reverse_patch(v, f, seed_face, reversed_share)
    n_surface = len(v)
    n_specks = int(rng.integers(0, 31))
    v, f = add_specks(v, f, rng, n_specks, edge)
    how = {"holes": n_holes, "faces_removed": n_faces - (len(f) - 4 * n_specks),
           "noise_edge_lengths": round(noise, 3), "reversed_faces_share": round(reversed_share, 3),
           "specks": n_specks}
    return v, f, n_surface, how


def transport_ground_truth(points: np.ndarray, new_vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(index, distance)``: the nearest new vertex of each point (0-based) and how far it is."""
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(new_vertices).query(points)
    return idx.astype(np.int64), dist


# ----------------------------------------------------------------------------- files
def write_vts(path: Path, idx0: np.ndarray) -> None:
    """1-based indices, one per line (the FAUST_r ``.vts`` convention)."""
    path.write_text("\n".join(str(int(i) + 1) for i in idx0) + "\n")


def shape_seed(seed: int, name: str) -> int:
    """A per-shape seed that does not depend on which other shapes are processed."""
    return int(np.random.SeedSequence([seed, *name.encode()]).generate_state(1)[0])


def remesh_one(ds, name: str, out: Path, args) -> dict:
    from shapecorr import Shape, load, save

    rng = np.random.default_rng(shape_seed(args.seed, name))
    lo, hi = np.log(args.min_vertices), np.log(args.max_vertices)
    n_target = round(np.exp(rng.uniform(lo, hi)))
    shape = load(ds.shape_path(name), warn=False)
    v, f = np.asarray(shape.vertices, dtype=np.float64), np.asarray(shape.faces, dtype=np.int64)
    t0 = time.perf_counter()
    if args.proportions:
        v = change_proportions(v, f, rng, args.proportions)
    vr, fr, how = anisotropic_remesh(v, f, n_target, rng, stretch=tuple(args.stretch))
    surface = vr  # where ground truth may land (not on debris)
    if args.flaws:
        vr, fr, n_surface, flaws = scan_flaws(vr, fr, rng)
        surface = vr[:n_surface]
        how = {**how, "flaws": flaws}
    save(Shape(vr, fr, name=name), out / f"{name}.off")
    unit = 100.0 / np.sqrt(mesh_area(v, f))  # the shape's own (after a change of proportions)
    record = {"name": name, "n_original": len(v), "n_target": n_target, "n_vertices": len(vr),
              "n_faces": len(fr), **how, "time_s": round(time.perf_counter() - t0, 2)}
    for sym in (False, True):
        if sym and not ds.has_sym(name):
            continue
        gt = ds.gt(name, sym=sym)
        idx, dist = transport_ground_truth(v[gt], surface)
        write_vts(out / "corres" / f"{name}{'.sym' if sym else ''}.vts", idx)
        if not sym:
            record["transport_error_x100"] = {"mean": round(float(dist.mean() * unit), 4),
                                              "max": round(float(dist.max() * unit), 4)}
    return record


def write_point_clouds(ds, names, out: Path) -> None:
    from shapecorr import Shape, load, save

    (out / "corres").mkdir(parents=True, exist_ok=True)
    for name in names:
        shape = load(ds.shape_path(name), warn=False)
        save(Shape(np.asarray(shape.vertices), None, name=name), out / f"{name}.ply")
        for sym in (False, True):
            src = ds.gt_path(name, sym)
            if src.exists():
                shutil.copyfile(src, out / "corres" / src.name)
    write_pairs(out / "test_pairs.txt", names)
    (out / "README.md").write_text(
        f"Point clouds of the vertices of {len(names)} shapes of {ds.folder} (same order, so corres/ is the "
        "original ground truth). Made by scripts/remesh_dataset.py; not for redistribution.\n")
    log(f"point clouds: {len(names)} shapes in {out}")


def write_pairs(path: Path, names, split=None) -> None:
    """Every pair of ``names``, or the pairs of ``split`` that join two of them."""
    keep = set(names)
    pairs = itertools.combinations(names, 2) if split is None else [(a, b) for a, b in split if a in keep and b in keep]
    path.write_text("".join(f"{a}\t{b}\n" for a, b in pairs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path, help="folder with NAME.off and corres/NAME.vts (+ .sym.vts): FAUST_r/vtx_5k")
    ap.add_argument("--out", type=Path, required=True, help="output folder for the remeshed set (under out/)")
    ap.add_argument("--names", nargs="+", default=list(FAUST_TEST), help="shapes (default: tr_reg_080..099)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-vertices", type=int, default=2000)
    ap.add_argument("--max-vertices", type=int, default=40000)
    ap.add_argument("--stretch", type=float, nargs=2, default=(2.0, 4.0), metavar=("LO", "HI"),
                    help="stretch factor range of the anisotropy (default: 2 4)")
    ap.add_argument("--point-clouds", type=Path, metavar="DIR", help="also write the original vertices as point clouds")
    ap.add_argument("--pairs-from-split", action="store_true",
                    help="test_pairs.txt: the source dataset's test pairs joining two of --names (e.g. TOSCA_r's "
                         "within-class pairs) instead of every pair of --names")
    ap.add_argument("--flaws", action="store_true",
                    help="also give each shape a raw scan's flaws (holes, debris, faces wound the other way, "
                         "noise; see scan_flaws)")
    ap.add_argument("--proportions", type=float, default=None, metavar="AMOUNT",
                    help="first change each shape's proportions, globally and part by part, by up to exp(AMOUNT) "
                         "(0 < AMOUNT <= 0.5, e.g. 0.4): non-isometric pairs (see change_proportions)")
    args = ap.parse_args(argv)
    if args.proportions is not None and not 0.0 < args.proportions <= 0.5:
        ap.error("--proportions AMOUNT needs 0 < AMOUNT <= 0.5")
    if not 100 <= args.min_vertices <= args.max_vertices:
        ap.error("need 100 <= --min-vertices <= --max-vertices")
    if args.stretch[0] < 1.0 or args.stretch[0] > args.stretch[1]:
        ap.error("--stretch LO HI needs 1 <= LO <= HI")

    from shapecorr.eval import Dataset, DatasetError

    try:
        ds = Dataset(args.dataset)
        ds.check_pairs([(n, n) for n in args.names])
    except DatasetError as exc:
        print(f"remesh_dataset: error: {exc}", file=sys.stderr)
        return 2
    out = args.out
    if out.exists() and any(out.iterdir()) and not (out / "remesh.json").exists():
        print(f"remesh_dataset: error: {out} exists and is not a folder this script wrote; choose another --out.",
              file=sys.stderr)
        return 2
    (out / "corres").mkdir(parents=True, exist_ok=True)
    records = []
    for name in args.names:
        rec = remesh_one(ds, name, out, args)
        records.append(rec)
        log(f"{name}: {rec['n_original']} -> {rec['n_vertices']} vertices (stretch {rec['stretch_factor']:.2f}), "
            f"transport error mean {rec['transport_error_x100']['mean']:.3f} max "
            f"{rec['transport_error_x100']['max']:.3f} (x100), {rec['time_s']:.1f}s")
    write_pairs(out / "test_pairs.txt", args.names, ds.test_split() if args.pairs_from_split else None)
    meta = {"command": "python scripts/remesh_dataset.py " + " ".join(map(str, sys.argv[1:] if argv is None else argv)),
            "source": str(ds.folder.resolve()), "seed": args.seed,
            "vertices_range": [args.min_vertices, args.max_vertices], "stretch_range": list(args.stretch),
            "flaws": bool(args.flaws), "proportions": args.proportions,
            "shapes": records}
    (out / "remesh.json").write_text(json.dumps(meta, indent=1))
    (out / "README.md").write_text(
        f"{len(records)} shapes of {ds.folder} remeshed anisotropically by scripts/remesh_dataset.py (see remesh.json "
        "for each shape's size, stretch and ground-truth transport error). Not for redistribution.\n")
    if args.point_clouds:
        write_point_clouds(ds, args.names, args.point_clouds)
    log(f"remeshed {len(records)} shapes into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
