"""Holes: the boundary loops of a mesh and a closing fan over the small ones.

Scans have holes (under the arms, the soles, the top of the head), and a matcher that compares
spectra sees them: a hole shifts and reorders the low eigenvalues and the descriptors built on
them, so a scan with a dozen small holes can be matched at random against a closed mesh of the
same body. The spectral layer therefore computes the Laplacian as if the small holes were
closed (:func:`shapecorr.spectral.laplacian`): each small hole gets a fan of triangles around
one new vertex at the centroid of its loop, and that vertex is then eliminated again, so
nothing outside the spectral computation ever sees it.

A loop is a *small hole* when the disk it would bound if it were round (perimeter^2 / 4 pi) is at
most ``MAX_HOLE_AREA`` of the surface's area: a hole in a body, a cut at the neck or a wrist.
The rim of a hemisphere, an open sheet, the big opening of a partial scan are not closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: largest hole closed, as the area of the round disk of its perimeter over the surface's area
MAX_HOLE_AREA = 0.25


@dataclass(frozen=True)
class HoleFill:
    loops: tuple  # ordered vertex loops (arrays) of the holes closed
    centers: np.ndarray  # (h, 3) the new vertex of each hole
    faces: np.ndarray  # (k, 3) the fans; vertex n + i is center i (n: the mesh's vertex count)
    area: float  # the fans' total area

    @property
    def n_holes(self) -> int:
        return len(self.loops)


def boundary_loops(faces: np.ndarray, n_vertices: int) -> list[np.ndarray]:
    """The simple closed loops of the edges used by exactly one face, each ordered along its
    faces' winding. Boundary vertices where several loops touch (a pinch) are left out with
    every loop through them."""
    faces = np.asarray(faces)
    a = faces.ravel()
    b = faces[:, [1, 2, 0]].ravel()
    key = np.minimum(a, b).astype(np.int64) * np.int64(n_vertices) + np.maximum(a, b)
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    once = counts[inverse] == 1
    src, dst = a[once], b[once]
    out_degree = np.bincount(src, minlength=n_vertices)
    in_degree = np.bincount(dst, minlength=n_vertices)
    bad = (out_degree > 1) | (in_degree > 1) | (out_degree != in_degree)
    nxt = np.full(n_vertices, -1, dtype=np.int64)
    ok = ~bad[src] & ~bad[dst]
    nxt[src[ok]] = dst[ok]
    loops, seen = [], np.zeros(n_vertices, dtype=bool)
    nxt_l = nxt.tolist()
    for start in src[ok].tolist():
        if seen[start]:
            continue
        loop, v = [], start
        while v != -1 and not seen[v]:
            seen[v] = True
            loop.append(v)
            v = nxt_l[v]
        if v == start and len(loop) >= 3:
            loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def small_hole_fill(vertices: np.ndarray, faces: np.ndarray, surface_area: float | None = None,
                    max_hole_area: float = MAX_HOLE_AREA) -> HoleFill:
    """Fans closing the small holes of ``(vertices, faces)`` (see the module docstring)."""
    v = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if surface_area is None:
        surface_area = float(0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]],
                                                           v[faces[:, 2]] - v[faces[:, 0]]), axis=1).sum())
    loops, centers, fans = [], [], []
    n = len(v)
    for loop in boundary_loops(faces, n):
        p = v[loop]
        seg = np.linalg.norm(np.roll(p, -1, axis=0) - p, axis=1)
        perimeter = float(seg.sum())
        if perimeter ** 2 / (4 * np.pi) > max_hole_area * surface_area:
            continue
        # centroid of the loop as a curve (each vertex weighted by its two half-edges)
        w = 0.5 * (seg + np.roll(seg, 1))
        c = (p * w[:, None]).sum(0) / max(w.sum(), 1e-300)
        i = n + len(centers)
        # the loop runs along its faces' winding; the fan runs the shared edges the other way
        fans.append(np.stack([np.roll(loop, -1), loop, np.full(len(loop), i)], axis=1))
        loops.append(loop)
        centers.append(c)
    if not loops:
        return HoleFill((), np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), 0.0)
    centers_a = np.asarray(centers)
    fan = np.vstack(fans)
    allv = np.vstack([v, centers_a])
    area = float(0.5 * np.linalg.norm(np.cross(allv[fan[:, 1]] - allv[fan[:, 0]],
                                               allv[fan[:, 2]] - allv[fan[:, 0]]), axis=1).sum())
    return HoleFill(tuple(loops), centers_a, fan, area)
