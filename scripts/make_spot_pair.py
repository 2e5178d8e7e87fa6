#!/usr/bin/env python
"""Build the Spot example pair: a posed, independently remeshed Spot with its ground truth.

    python scripts/make_spot_pair.py            # writes data/spot/spot_posed*.{obj,txt,npz}

Recipe (deterministic):
1. remesh Spot in its rest pose: one Loop subdivision (trimesh) then VTK quadric decimation
   (pyvista) down to about ``--vertices`` vertices, so the connectivity and vertex count have
   nothing in common with the original; vertices are then shuffled (seeded);
2. ground truth: each new vertex is projected on the closest point of the *rest* Spot surface
   (face index + barycentric coordinates, ``spot_posed_gt_bary.npz``) and the nearest Spot vertex
   to that point is written to ``spot_posed_gt.txt`` (line j: 0-based Spot vertex for posed
   vertex j);
3. a smooth, near-isometric pose defined on rest-space coordinates: each leg swings about its
   hip, the head turns and nods, the rear of the body bends sideways. Each part is a rotation
   blended in with a smooth weight (linear blend skinning with wide transition zones).

The script prints the relative edge-length change of the pose (how isometric it is).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def rotation(axis, degrees):
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    a = np.deg2rad(degrees)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def blend(points, weights, R, pivot):
    """Move ``points`` towards their rigid rotation about ``pivot`` by ``weights`` (0..1)."""
    rotated = (points - pivot) @ R.T + pivot
    return points + weights[:, None] * (rotated - points)


# Spot's frame: y up, head towards -z, legs at x = +-0.21 and z = 0.04 (front) / 0.78 (rear).
LEGS = [  # (x, z, swing angle about the x axis in degrees)
    (0.22, 0.04, 24.0),
    (-0.22, 0.04, -16.0),
    (0.20, 0.78, -20.0),
    (-0.20, 0.78, 14.0),
]
HIP_Y = -0.32


def pose_lbs(rest: np.ndarray):
    """Blended rigid parts: the posed positions and a mask of vertices inside some transition."""
    x = rest.copy()
    transition = np.zeros(len(rest), dtype=bool)

    def step(x, w, R, pivot):
        transition[(w > 0.01) & (w < 0.99)] = True
        return blend(x, w, R, pivot)

    for lx, lz, angle in LEGS:
        r = np.hypot(rest[:, 0] - lx, rest[:, 2] - lz)
        w = smoothstep((HIP_Y - rest[:, 1]) / 0.2) * smoothstep((0.21 - r) / 0.07)
        x = step(x, w, rotation([1, 0, 0], angle), np.array([lx, HIP_Y, lz]))
    # head: turn (yaw) and nod (pitch) about the neck
    neck = (rest - np.array([0.0, 0.0, -0.1])) @ (np.array([0.0, 0.5, -1.0]) / np.sqrt(1.25))
    w = smoothstep(neck / 0.18)
    x = step(x, w, rotation([0, 1, 0], 24.0) @ rotation([1, 0, 0], -8.0), np.array([0.0, 0.2, -0.2]))
    # rear of the body bends sideways
    w = smoothstep((rest[:, 2] - 0.3) / 0.45)
    x = step(x, w, rotation([0, 1, 0], -12.0), np.array([0.0, 0.0, 0.4]))
    return x, transition


def arap(rest: np.ndarray, faces: np.ndarray, init: np.ndarray, fixed: np.ndarray, iterations: int = 30):
    """As-rigid-as-possible (Sorkine & Alexa 2007, cotangent weights): ``fixed`` vertices keep
    their ``init`` positions, the others minimise the rigidity energy (starting from ``init``)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    n = len(rest)
    i, j, k = faces[:, 0], faces[:, 1], faces[:, 2]
    rows, cols, vals = [], [], []
    for a, b, c in ((i, j, k), (j, k, i), (k, i, j)):  # weight of edge (b, c) from the angle at a
        u, v = rest[b] - rest[a], rest[c] - rest[a]
        cot = (u * v).sum(1) / np.linalg.norm(np.cross(u, v), axis=1)
        rows += [b, c]
        cols += [c, b]
        vals += [0.5 * cot, 0.5 * cot]
    W = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    W.data = np.maximum(W.data, 1e-8)
    L = sp.diags(np.asarray(W.sum(1)).ravel()) - W
    free = np.flatnonzero(~fixed)
    Lff = L[free][:, free].tocsc()
    Lfc = L[free][:, np.flatnonzero(fixed)]
    solve = sla.factorized(Lff)
    Wc = W.tocoo()
    e0, e1, we = Wc.row, Wc.col, Wc.data
    x = init.copy()
    for _ in range(iterations):
        d_rest = rest[e0] - rest[e1]
        d_cur = x[e0] - x[e1]
        S = np.zeros((n, 3, 3))
        np.add.at(S, e0, we[:, None, None] * d_rest[:, :, None] * d_cur[:, None, :])
        U, _, Vt = np.linalg.svd(S)
        D = np.ones((n, 3))
        D[:, 2] = np.sign(np.linalg.det(np.einsum("nij,njk->nik", U, Vt)))
        R = np.einsum("nji,nj,nkj->nik", Vt, D, U)  # R = V diag U^T
        rhs = np.zeros((n, 3))
        np.add.at(rhs, e0, 0.5 * we[:, None] * np.einsum("nij,nj->ni", R[e0] + R[e1], d_rest))
        b = rhs[free] - Lfc @ x[fixed]
        x[free] = np.stack([solve(b[:, d]) for d in range(3)], axis=1)
    return x


def pose(rest: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The posed mesh: rigid parts from :func:`pose_lbs`, the joints relaxed by ARAP."""
    x, transition = pose_lbs(rest)
    return arap(rest, faces, x, ~transition)


def remesh(vertices, faces, n_target: int):
    import pyvista as pv
    import trimesh

    v, f = trimesh.remesh.subdivide_loop(vertices, faces, iterations=1)
    poly = pv.PolyData(v, np.hstack([np.full((len(f), 1), 3), f]).ravel())
    reduction = 1.0 - n_target / len(v)
    dec = poly.decimate(reduction, volume_preservation=True).clean().triangulate()
    fv = np.asarray(dec.faces.reshape(-1, 4)[:, 1:], dtype=np.int64)
    return relax(np.asarray(dec.points, dtype=np.float64), fv, v, f), fv


def relax(v, f, surf_v, surf_f, iterations: int = 8, step: float = 0.5):
    """Tangential smoothing (towards the neighbours' centroid, normal part removed), each step
    projected back on the subdivided surface: evens out the slivers left by decimation."""
    import scipy.sparse as sp

    from shapecorr.transfer.surface import project_on_surface

    n = len(v)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    A = sp.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)).tocsr()
    A.data[:] = 1.0
    deg = np.asarray(A.sum(1)).ravel()
    for _ in range(iterations):
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        vn = np.zeros_like(v)
        for k in range(3):
            np.add.at(vn, f[:, k], fn)
        vn /= np.linalg.norm(vn, axis=1, keepdims=True)
        d = A @ v / deg[:, None] - v
        d -= (d * vn).sum(1, keepdims=True) * vn
        smap, _ = project_on_surface(v + step * d, surf_v, surf_f)
        v = smap.points(surf_v, surf_f)
    return v


def check_mesh(v, f):
    import trimesh

    tm = trimesh.Trimesh(v, f, process=False)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    ok = {
        "closed": bool((counts == 2).all()),
        "winding_consistent": bool(tm.is_winding_consistent),
        "outward": bool(tm.volume > 0),
        "one_component": len(tm.split(only_watertight=False)) == 1,
        "no_unused_vertices": bool(np.unique(f).size == len(v)),
    }
    ang = trimesh.triangles.angles(v[f])
    ok["min_angle_deg"] = float(np.degrees(ang.min()))
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spot", default=str(ROOT / "data/spot/spot.obj"))
    ap.add_argument("--out", default=str(ROOT / "data/spot"))
    ap.add_argument("--vertices", type=int, default=4000, help="target vertex count of the remesh")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import trimesh
    from scipy.spatial import cKDTree

    from shapecorr import Shape, load
    from shapecorr.transfer.surface import project_on_surface

    spot = load(args.spot)
    v0, f0 = spot.vertices, spot.faces
    v, f = remesh(v0, f0, args.vertices)

    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(v))  # new index of old vertex i is inv[i]
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(v))
    v, f = v[perm], inv[f]
    f = f[rng.permutation(len(f))]

    checks = check_mesh(v, f)
    print("remesh:", len(v), "vertices,", len(f), "faces", checks)
    if not (checks["closed"] and checks["winding_consistent"] and checks["one_component"]
            and checks["no_unused_vertices"]):
        print("error: the remesh is not a clean closed manifold", file=sys.stderr)
        return 1

    # ground truth on the rest surface
    smap, dist = project_on_surface(v, v0, f0, rings=3)
    tri, bary = smap.face, smap.bary
    closest = smap.points(v0, f0)
    nearest = cKDTree(v0).query(closest)[1]
    print(f"distance remesh -> Spot surface: mean {dist.mean():.2e}, max {dist.max():.2e} "
          f"(Spot mean edge {np.linalg.norm(v0[f0[:, 0]] - v0[f0[:, 1]], axis=1).mean():.3f})")

    posed = pose(v, f)
    e = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    l0 = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    l1 = np.linalg.norm(posed[e[:, 0]] - posed[e[:, 1]], axis=1)
    rel = np.abs(l1 / l0 - 1)
    print(f"pose edge-length change: mean {100 * rel.mean():.2f} %, 99th pct {100 * np.quantile(rel, 0.99):.2f} %, "
          f"max {100 * rel.max():.2f} %; area ratio {trimesh.Trimesh(posed, f, process=False).area / trimesh.Trimesh(v, f, process=False).area:.4f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Shape(np.round(posed, 6), f, name="spot_posed").save(out / "spot_posed.obj")
    np.savetxt(out / "spot_posed_gt.txt", nearest, fmt="%d")
    np.savez_compressed(out / "spot_posed_gt_bary.npz", face=tri.astype(np.int32),
                        bary=bary.astype(np.float32))
    print("wrote", out / "spot_posed.obj", out / "spot_posed_gt.txt", out / "spot_posed_gt_bary.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
