"""Holes: the boundary loops of a mesh and a closing fan over the small ones.

Scans have holes (under the arms, the soles, the top of the head), and a matcher that compares
spectra sees them: a hole shifts and reorders the low eigenvalues and the descriptors built on
them, so a scan with a dozen small holes can be matched at random against a closed mesh of the
same body. The spectral layer therefore computes the Laplacian as if the small holes were
closed (:func:`shapecorr.spectral.laplacian`): each small hole gets a fan of triangles around
one new vertex at the centroid of its loop, and that vertex is then eliminated again, so
nothing outside the spectral computation ever sees it.

A loop is a *small hole* when the fan that would close it (triangles from its centroid to each of
its edges) has at most ``MAX_HOLE_AREA`` of the surface's area: a hole in a body, a cut at the
neck or a wrist, an occlusion under an arm. The rim of a hemisphere, an open sheet, the big
opening of a partial scan are not closed. (The fan's area, not the disk of the perimeter
(perimeter^2 / 4 pi): a scan's holes have jagged and elongated rims, whose perimeter says a
hole is two to three times larger than it is.)

A hole all the way round a limb (a scan that missed a band of the wrist) leaves two loops on two
components: capping each would cut the hand off the body, and the spectrum of two pieces (two
zero eigenvalues, everything else reordered) has nothing in common with the whole body's. Two
small loops on different components across a gap no wider than about their diameter, or facing
each other (each loop's plane across the line between their centres) across a gap of up to
``MAX_FACING_GAP`` diameters (a forearm missing between a hand and an elbow), are therefore
*bridged*: a strip of triangles between the two loops, on the shape's own vertices, closes the
band (:func:`bridge_faces`). A smaller piece whose loop lies within a diameter of a larger loop
of a larger piece is bridged to it whatever their perimeters (``MAX_STUMP_GAP``): a limb whose
stump is inside a larger hole of the body (the scan missed the wrist and part of the forearm's
side); the strip then closes the larger hole as a funnel onto the stump.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: largest hole closed, as the area of the fan that closes it over the surface's area
MAX_HOLE_AREA = 0.25
#: two loops on different components are bridged when the distance between their centres is at
#: most this times the larger loop's diameter (perimeter / pi), and their perimeters differ by
#: at most MAX_BRIDGE_PERIMETER_RATIO
MAX_BRIDGE_GAP = 1.0
MAX_BRIDGE_PERIMETER_RATIO = 2.0
#: ... or at most this many diameters when the two loops face each other: the line between their
#: centres within ``FACING_ANGLE`` degrees of each loop's normal (a band missing along a limb)
MAX_FACING_GAP = 3.0
FACING_ANGLE = 45.0
#: a smaller piece's loop within this many diameters of a larger loop of a larger piece is bridged
#: to it whatever their perimeters (a limb whose stump lies inside a larger hole of the body)
MAX_STUMP_GAP = 1.0


@dataclass(frozen=True)
class HoleFill:
    loops: tuple  # ordered vertex loops (arrays) of the holes closed
    centers: np.ndarray  # (h, 3) the new vertex of each hole
    faces: np.ndarray  # (k, 3) the fans; vertex n + i is center i (n: the mesh's vertex count)
    area: float  # the total area of the fans and the bridges
    bridges: tuple = ()  # pairs of loops (arrays) joined by a strip
    bridge_faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))  # (b, 3) the strips, on the mesh's vertices

    @property
    def n_holes(self) -> int:
        """Holes closed by a fan (one new vertex each)."""
        return len(self.loops)

    @property
    def n_bridges(self) -> int:
        return len(self.bridges)

    @property
    def closes_anything(self) -> bool:
        return bool(self.loops or self.bridges)


def boundary_loops(faces: np.ndarray, n_vertices: int, vertices: np.ndarray | None = None) -> list[np.ndarray]:
    """The closed loops of the edges used by exactly one face, each ordered along its faces'
    winding (the majority's, where the winding is not coherent). Where several loops touch at
    one vertex (a pinch, common where a scan's holes meet), the loops are told apart by walking
    round that vertex through its faces; a vertex where that walk fails (non-manifold edges)
    is left out with every loop through it."""
    faces = np.asarray(faces)
    a = faces.ravel()
    b = faces[:, [1, 2, 0]].ravel()
    key = np.minimum(a, b).astype(np.int64) * np.int64(n_vertices) + np.maximum(a, b)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    edge_count = counts[inverse]
    once = np.flatnonzero(edge_count == 1)
    if once.size == 0:
        return []
    src, dst, face = a[once], b[once], once // 3
    ends = np.concatenate([src, dst])
    degree = np.bincount(ends, minlength=n_vertices)
    # at each end vertex, the boundary edge that continues the loop: the only other one at a
    # regular vertex (degree 2), the one reached through the faces at a pinch
    partner = {}
    by_vertex = {}
    for e, (x, y) in enumerate(zip(src.tolist(), dst.tolist())):
        by_vertex.setdefault(x, []).append(e)
        by_vertex.setdefault(y, []).append(e)
    bad = set()
    for x, edges in by_vertex.items():
        if degree[x] == 2:
            partner[(edges[0], x)], partner[(edges[1], x)] = edges[1], edges[0]
        elif degree[x] % 2 or not _pair_at_pinch(x, edges, src, dst, face, faces, edge_count, partner,
                                                 vertices):
            bad.add(x)
    loops, seen = [], np.zeros(once.size, dtype=bool)
    for e0 in range(once.size):
        if seen[e0]:
            continue
        loop, edges, e, x, ok = [], [], e0, int(dst[e0]), True
        while not seen[e]:
            seen[e] = True
            edges.append(e)
            loop.append(x)
            ok &= x not in bad and (e, x) in partner
            if not ok:
                break
            e = partner[(e, x)]
            x = int(src[e]) if int(dst[e]) == x else int(dst[e])
        if not ok or e != e0 or len(loop) < 3:
            continue
        order = np.asarray(loop[-1:] + loop[:-1], dtype=np.int64)  # loop[k] ends edge k
        along = sum(int(src[ed]) == int(order[k]) for k, ed in enumerate(edges))
        loops.append(order if 2 * along >= len(edges) else order[::-1].copy())
    return loops


def _pair_at_pinch(x, edges, src, dst, face, faces, edge_count, partner, vertices) -> bool:
    """Pair the boundary edges at a pinch vertex ``x``. Round ``x`` its boundary edges alternate
    between solid sectors (fans of faces) and holes: walking round ``x`` through a sector's faces
    from one boundary edge reaches the edge on the sector's other side, and an edge's loop
    continues with its other neighbour in the cyclic order round ``x`` (found by angle in the
    plane of the fan's normal). False when a walk meets a non-manifold edge or the order does
    not alternate."""
    if vertices is None:
        return False
    at_x = np.flatnonzero((faces == x).any(axis=1))
    spokes_of_face = {}
    for f in at_x.tolist():
        for c in range(3):
            u, w = int(faces[f, c]), int(faces[f, (c + 1) % 3])
            if x in (u, w):
                spokes_of_face.setdefault(f, []).append((3 * f + c, w if u == x else u))
    faces_of_spoke = {}
    for f, spokes in spokes_of_face.items():
        for h, y in spokes:
            faces_of_spoke.setdefault(y, []).append((f, h))
    far = {e: int(src[e]) if int(dst[e]) == x else int(dst[e]) for e in edges}
    sector = {}
    for e in edges:
        f, came = int(face[e]), far[e]
        for _ in range(len(at_x) + 1):
            y = next((yy for _, yy in spokes_of_face[f] if yy != came), None)
            if y is None:
                return False
            around = faces_of_spoke.get(y, [])
            h = next(hh for ff, hh in around if ff == f)
            if edge_count[h] == 1:
                break
            if edge_count[h] != 2 or len(around) != 2:
                return False
            f = next(ff for ff, _ in around if ff != f)
            came = y
        else:
            return False
        other = next((oe for oe in edges if oe != e and far[oe] == y and int(face[oe]) == f), None)
        if other is None:
            return False
        sector[e] = other
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[faces[at_x]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).sum(0)  # the fan's, area-weighted
    normal /= max(np.linalg.norm(normal), 1e-300)
    d = np.array([v[far[e]] - v[x] for e in edges])
    d -= np.outer(d @ normal, normal)  # the edges projected on the fan's plane
    u_axis = d[0] / max(np.linalg.norm(d[0]), 1e-300)
    w_axis = np.cross(normal, u_axis)
    order = [edges[i] for i in np.argsort(np.arctan2(d @ w_axis, d @ u_axis), kind="stable")]
    k = len(order)
    for i, e in enumerate(order):
        before, after = order[i - 1], order[(i + 1) % k]
        if sector[e] == after:
            partner[(e, x)] = before
        elif sector[e] == before:
            partner[(e, x)] = after
        else:
            return False
    return True


@dataclass(frozen=True)
class _Loop:
    perimeter: float
    center: np.ndarray  # centroid, each vertex weighted by its two half-edges
    normal: np.ndarray  # unit normal of the fan from the centroid (up to sign: windings vary)
    cap_area: float  # area of that fan


def _loop_geometry(v: np.ndarray, loop: np.ndarray) -> _Loop:
    """Perimeter, centroid, normal and closing fan's area of a loop."""
    p = v[loop]
    q = np.roll(p, -1, axis=0)
    seg = np.linalg.norm(q - p, axis=1)
    w = 0.5 * (seg + np.roll(seg, 1))
    center = (p * w[:, None]).sum(0) / max(w.sum(), 1e-300)
    cross = np.cross(p - center, q - center)
    vector_area = 0.5 * cross.sum(0)
    normal = vector_area / max(float(np.linalg.norm(vector_area)), 1e-300)
    return _Loop(float(seg.sum()), center, normal, float(0.5 * np.linalg.norm(cross, axis=1).sum()))


def bridge_faces(vertices: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Triangles of a strip between the loops ``a`` and ``b`` (vertex ids, each ordered along its
    faces' winding), on their own vertices: the two loops are walked side by side from their
    closest vertices, each step taking the shorter diagonal. On one coherently wound surface
    ``b`` runs against ``a``, and the strip then uses each loop edge the other way from the face
    it borders; the direction of ``b`` that gives the shorter strip is taken (so a loop wound the
    other way still gives an untwisted strip)."""
    v = np.asarray(vertices, dtype=np.float64)
    strips = [_strip(v, a, b[::-1]), _strip(v, a, b)]
    length = [np.linalg.norm(v[f[:, 2]] - v[f[:, 0]], axis=1).sum() for f in strips]
    return strips[int(np.argmin(length))]


def _strip(v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The strip of :func:`bridge_faces` with ``b`` walked in the given order."""
    start = int(np.argmin(np.linalg.norm(v[b] - v[a[0]], axis=1)))
    b = np.roll(b, -start)
    p, q = len(a), len(b)
    faces, i, j = [], 0, 0
    while i < p or j < q:
        ai, ai1, bj, bj1 = a[i % p], a[(i + 1) % p], b[j % q], b[(j + 1) % q]
        if i < p and (j >= q or np.linalg.norm(v[ai1] - v[bj]) <= np.linalg.norm(v[bj1] - v[ai])):
            faces.append((ai1, ai, bj))  # the diagonal a_i -> b_j; next face uses it back
            i += 1
        else:
            faces.append((ai, bj, bj1))
            j += 1
    return np.asarray(faces, dtype=np.int64)


def _facing(a: _Loop, b: _Loop) -> bool:
    """Whether the line between the two loops' centres is within ``FACING_ANGLE`` of both normals."""
    d = b.center - a.center
    d = d / max(float(np.linalg.norm(d)), 1e-300)
    limit = np.cos(np.radians(FACING_ANGLE))
    return abs(float(d @ a.normal)) >= limit and abs(float(d @ b.normal)) >= limit


def _bridge_gap(a: _Loop, b: _Loop, a_on_smaller_piece: bool) -> float | None:
    """The gap between two loops of different pieces in diameters of the larger loop, if they may
    be bridged (see :func:`_bridge_pairs`), else None."""
    gap = float(np.linalg.norm(a.center - b.center)) / (max(a.perimeter, b.perimeter) / np.pi)
    if max(a.perimeter, b.perimeter) > MAX_BRIDGE_PERIMETER_RATIO * min(a.perimeter, b.perimeter):
        # a stump inside a larger hole: the smaller piece's loop within the larger loop's diameter
        stump = (a.perimeter < b.perimeter) == a_on_smaller_piece
        return gap if stump and gap <= MAX_STUMP_GAP else None
    return gap if gap <= MAX_BRIDGE_GAP or (gap <= MAX_FACING_GAP and _facing(a, b)) else None


def _bridge_pairs(v: np.ndarray, loops: list, labels: np.ndarray, geometry: list) -> list[tuple[int, int]]:
    """Pairs of loop indices to bridge: on different components (never two loops of one piece,
    which would add a handle), perimeters within ``MAX_BRIDGE_PERIMETER_RATIO``, across a gap of
    at most ``MAX_BRIDGE_GAP`` diameters, or ``MAX_FACING_GAP`` where they face each other; or a
    smaller piece's loop within ``MAX_STUMP_GAP`` diameters of a larger piece's larger loop;
    nearest first, each loop and each pair of components at most once."""
    candidates = []
    size = np.bincount(labels)
    for i in range(len(loops)):
        for j in range(i + 1, len(loops)):
            ci, cj = labels[loops[i][0]], labels[loops[j][0]]
            if ci != cj:
                gap = _bridge_gap(geometry[i], geometry[j], size[ci] < size[cj])
                if gap is not None:
                    candidates.append((gap, i, j))
    parent = {int(c): int(c) for c in np.unique(labels[[lp[0] for lp in loops]])} if loops else {}

    def root(c):
        while parent[c] != c:
            c = parent[c]
        return c

    used, pairs = set(), []
    for _, i, j in sorted(candidates):
        ri, rj = root(int(labels[loops[i][0]])), root(int(labels[loops[j][0]]))
        if i in used or j in used or ri == rj:
            continue
        parent[ri] = rj
        used |= {i, j}
        pairs.append((i, j))
    return pairs


def small_hole_fill(vertices: np.ndarray, faces: np.ndarray, surface_area: float | None = None,
                    max_hole_area: float = MAX_HOLE_AREA, labels: np.ndarray | None = None) -> HoleFill:
    """Fans closing the small holes of ``(vertices, faces)``, and strips bridging the small
    loops that face each other across a gap between two components (``labels``: the component
    of each vertex; without it nothing is bridged). See the module docstring."""
    v = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if surface_area is None:
        surface_area = float(0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]],
                                                           v[faces[:, 2]] - v[faces[:, 0]]), axis=1).sum())
    n = len(v)
    small, geometry = [], []
    for loop in boundary_loops(faces, n, v):
        g = _loop_geometry(v, loop)
        if g.cap_area <= max_hole_area * surface_area:
            small.append(loop)
            geometry.append(g)
    pairs = _bridge_pairs(v, small, labels, geometry) if labels is not None and len(small) > 1 else []
    bridged = {k for pair in pairs for k in pair}
    strips = [bridge_faces(v, small[i], small[j]) for i, j in pairs]
    loops, centers, fans = [], [], []
    for k, loop in enumerate(small):
        if k in bridged:
            continue
        i = n + len(centers)
        # the loop runs along its faces' winding; the fan runs the shared edges the other way
        fans.append(np.stack([np.roll(loop, -1), loop, np.full(len(loop), i)], axis=1))
        loops.append(loop)
        centers.append(geometry[k].center)
    centers_a = np.asarray(centers).reshape(-1, 3)
    fan = np.vstack(fans) if fans else np.zeros((0, 3), dtype=np.int64)
    strip = np.vstack(strips) if strips else np.zeros((0, 3), dtype=np.int64)
    allv = np.vstack([v, centers_a])
    closing = np.vstack([fan, strip])
    area = float(0.5 * np.linalg.norm(np.cross(allv[closing[:, 1]] - allv[closing[:, 0]],
                                               allv[closing[:, 2]] - allv[closing[:, 0]]), axis=1).sum())
    return HoleFill(tuple(loops), centers_a, fan, area, tuple((small[i], small[j]) for i, j in pairs), strip)
