"""Small generated shapes shared by the core, spectral, fmap, pipeline and CLI tests.

Everything is deterministic (fixed seeds) and small (a few hundred vertices), so the tests
need neither ``../shared`` nor a GPU and stay fast on two cores.

Conventions (as in the library): ``perm`` of a permuted copy says that vertex ``j`` of the
copy is vertex ``perm[j]`` of the original, i.e. ``perm`` *is* the exact ``p2p_21``
(copy -> original) and ``inverse(perm)`` the exact ``p2p_12``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shapecorr import Shape


# ----------------------------------------------------------------------------- meshes
def icosphere(subdivisions: int = 2, radius: float = 1.0) -> Shape:
    """A closed, outward-oriented icosphere (42, 162, 642, 2562 vertices for 1..4)."""
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Shape(np.asarray(ico.vertices), np.asarray(ico.faces), name=f"icosphere{subdivisions}")


def capsule(height: float = 1.0, radius: float = 0.4, count=(16, 16)) -> Shape:
    """A closed capsule along z (a rounded cylinder)."""
    import trimesh

    cap = trimesh.creation.capsule(height=height, radius=radius, count=list(count))
    return Shape(np.asarray(cap.vertices), np.asarray(cap.faces), name="capsule")


def ellipsoid(n_lat: int = 12, n_lon: int = 16, radii=(1.0, 0.7, 0.5), bend: float = 0.0,
              taper: float = 0.0):
    """A UV ellipsoid, exactly symmetric under x -> -x. Returns ``(shape, mirror)``.

    ``mirror[i]`` is the vertex at the mirrored position of vertex ``i`` (so ``mirror`` is the
    left-right flipped self-map). ``bend`` moves points along y by ``bend * z**2`` (breaks
    y -> -y), ``taper`` scales x by ``1 + taper * z`` (breaks z -> -z); both keep the
    x-symmetry. With both non-zero the *only* non-trivial isometric self-map is the
    left-right flip ``mirror`` (no orientation-preserving symmetry). Faces are oriented outward.
    """
    if n_lon % 2:
        raise ValueError("n_lon must be even for the mirror table")
    verts = [(0.0, 0.0, 1.0)]
    for j in range(1, n_lat):
        th = np.pi * j / n_lat
        for k in range(n_lon):
            ph = 2 * np.pi * k / n_lon
            verts.append((np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)))
    verts.append((0.0, 0.0, -1.0))
    v = np.asarray(verts) * np.asarray(radii)
    v[:, 1] += bend * v[:, 2] ** 2
    v[:, 0] *= 1.0 + taper * v[:, 2]

    def vid(j, k):  # ring j in 1..n_lat-1
        return 1 + (j - 1) * n_lon + (k % n_lon)

    south = len(verts) - 1
    faces = []
    for k in range(n_lon):
        faces.append((0, vid(1, k), vid(1, k + 1)))
        faces.append((south, vid(n_lat - 1, k + 1), vid(n_lat - 1, k)))
    for j in range(1, n_lat - 1):
        for k in range(n_lon):
            a, b, c, d = vid(j, k), vid(j, k + 1), vid(j + 1, k), vid(j + 1, k + 1)
            faces += [(a, c, b), (b, c, d)]
    mirror = np.arange(len(v))
    for j in range(1, n_lat):
        for k in range(n_lon):
            mirror[vid(j, k)] = vid(j, n_lon // 2 - k)
    return Shape(v, np.asarray(faces, dtype=np.int64), name="ellipsoid"), mirror


def bumpy(subdivisions: int = 3) -> Shape:
    """A closed blob with *no* symmetry at all (distinct Laplace eigenvalues, no isometric
    self-map but the identity), outward-oriented; 642 vertices for ``subdivisions=3``."""
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=subdivisions)
    p = np.asarray(ico.vertices)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    r = (1.0 + 0.15 * np.sin(2.1 * x + 0.4) + 0.10 * np.cos(2.7 * y - 0.9)
         + 0.08 * np.sin(3.3 * z + 1.3) + 0.12 * x * y + 0.06 * y * z * z)
    v = p * r[:, None] * np.array([1.0, 0.75, 0.55])
    return Shape(v, np.asarray(ico.faces), name="bumpy")


def grid(nx: int = 9, ny: int = 7, h: float = 0.1) -> Shape:
    """A flat open grid (a disk, with a boundary); vertex ``(i, j)`` is ``i * ny + j``."""
    xs, ys = np.meshgrid(np.arange(nx) * h, np.arange(ny) * h, indexing="ij")
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(nx * ny)], 1)
    f = []
    for i in range(nx - 1):
        for j in range(ny - 1):
            a, b, c, d = i * ny + j, i * ny + j + 1, (i + 1) * ny + j, (i + 1) * ny + j + 1
            f += [(a, c, b), (b, c, d)]
    return Shape(v, np.asarray(f, dtype=np.int64), name="grid")


def tube(n_around: int = 32, n_rings: int = 41, length: float = 4.0, radius: float = 0.5) -> Shape:
    """A closed cylinder along z (rings of ``n_around`` vertices, a fan at each end), wound outward."""
    t = np.linspace(0, 2 * np.pi, n_around, endpoint=False)
    z = np.linspace(-length / 2, length / 2, n_rings)
    ring = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
    v = np.vstack([np.column_stack([ring, np.full(n_around, zi)]) for zi in z]
                  + [[[0, 0, -length / 2]], [[0, 0, length / 2]]])
    faces = []
    for r in range(n_rings - 1):
        for i in range(n_around):
            a, b = r * n_around + i, r * n_around + (i + 1) % n_around
            faces += [(a, b, b + n_around), (a, b + n_around, a + n_around)]
    bottom, top = len(v) - 2, len(v) - 1
    last = (n_rings - 1) * n_around
    for i in range(n_around):
        faces += [(bottom, (i + 1) % n_around, i), (top, last + i, last + (i + 1) % n_around)]
    return Shape(v, np.asarray(faces))


def tube_with_band_cut(width: float = 0.4):
    """A closed tube eight diameters long, and the same with a band of faces all round its middle
    (|z| < width / 2) removed: two pieces, each with one loop facing the other."""
    whole = tube()
    v, f = whole.vertices, whole.faces
    drop = (np.abs(v[f][:, :, 2]) < width / 2).any(axis=1)
    f = f[~drop]
    used = np.unique(f)
    new = np.full(len(v), -1)
    new[used] = np.arange(len(used))
    return whole, Shape(v[used], new[f])


def one_triangle(kind: str = "right") -> Shape:
    """The right isosceles triangle (0,0,0), (1,0,0), (0,1,0), or an equilateral one."""
    if kind == "right":
        v = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    else:
        v = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, np.sqrt(3) / 2, 0.0]]
    return Shape(np.asarray(v), np.array([[0, 1, 2]]), name=f"triangle_{kind}")


# ----------------------------------------------------------------------------- variants
def inverse_permutation(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


def permuted_copy(shape: Shape, seed: int = 0, *, shuffle_faces: bool = True, rigid: bool = False):
    """``(copy, perm)``: the same shape with vertices (and faces) in a random order.

    Vertex ``j`` of the copy is vertex ``perm[j]`` of ``shape``. With ``rigid`` the copy is
    also rotated and translated (the intrinsic geometry is unchanged).
    """
    rng = np.random.default_rng(seed)
    n = shape.n_vertices
    perm = rng.permutation(n)
    v = shape.vertices[perm]
    if rigid:
        q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        if np.linalg.det(q) < 0:  # a rotation, not a reflection
            q[:, 0] *= -1
        v = v @ q.T + rng.standard_normal(3)
    faces = None
    if shape.faces is not None:
        faces = inverse_permutation(perm)[shape.faces]
        if shuffle_faces:
            faces = faces[rng.permutation(len(faces))]
            faces = np.roll(faces, rng.integers(3), axis=1)  # same orientation, other first corner
    return Shape(v, faces, name=f"{shape.name}_perm"), perm


def mirrored_copy(shape: Shape) -> Shape:
    """The reflection ``x -> -x`` with face orientation flipped (normals stay outward).

    Vertex ``i`` of the copy is the mirror image of vertex ``i``: the map by index is the
    (orientation-reversing) isometry between them."""
    v = shape.vertices * np.array([-1.0, 1.0, 1.0])
    faces = None if shape.faces is None else shape.faces[:, ::-1]
    return Shape(v, faces, name=f"{shape.name}_mirror")


def folded(sheet: Shape, degrees: float) -> Shape:
    """The sheet (in the z = 0 plane) folded about the line x = middle, its far half turned by
    ``degrees`` out of the plane (up for positive angles): an isometric fold."""
    v = sheet.vertices.copy()
    mid = 0.5 * (v[:, 0].min() + v[:, 0].max())
    far = v[:, 0] > mid
    a = np.deg2rad(degrees)
    d = v[far, 0] - mid
    v[far, 0], v[far, 2] = mid + d * np.cos(a), d * np.sin(a)
    return Shape(v, sheet.faces, name=f"folded {degrees}")


def l_sheet() -> Shape:
    """A flat L of unequal arms (a grid with one corner cut away): no symmetry of the plane, so
    only the mirror image turned over fits it as well as itself."""
    full = grid(24, 20, 0.05)
    v = full.vertices
    cut = (v[:, 0] > 0.6 * v[:, 0].max()) & (v[:, 1] > 0.4 * v[:, 1].max())
    faces = full.faces[~cut[full.faces].any(axis=1)]
    used = np.unique(faces)
    index = np.full(full.n_vertices, -1)
    index[used] = np.arange(len(used))
    return Shape(v[used], index[faces], name="L")


def with_moved_normals(mesh: Shape, moved: Shape, perm: np.ndarray) -> Shape:
    """``moved`` (a rigidly moved, permuted point cloud of ``mesh``: vertex ``j`` is ``perm[j]``)
    with the mesh's vertex normals turned the same way, as a scanner's file would carry them."""
    from shapecorr.deform.rigid import best_rotation

    return moved.copy(point_normals=mesh.vertex_normals[perm] @ best_rotation(mesh.vertices[perm], moved.vertices).T)


def slab_points(n: int = 40, h: float = 0.05, thickness: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """``(points, outward normals)`` of the two big faces of a slab thinner than the point
    spacing (top +z, bottom -z), plus its four sides: what no neighbourhood of points orients."""
    g = np.stack(np.meshgrid(np.arange(n) * h, np.arange(n) * h, indexing="ij"), -1).reshape(-1, 2)
    top = np.column_stack([g, np.full(len(g), thickness)])
    bottom = np.column_stack([g, np.zeros(len(g))])
    side = (n - 1) * h
    t = np.arange(n) * h
    z = np.full(n, 0.5 * thickness)
    rims = [np.column_stack([t, np.zeros(n), z]), np.column_stack([t, np.full(n, side), z]),
            np.column_stack([np.zeros(n), t, z]), np.column_stack([np.full(n, side), t, z])]
    rim_normals = [np.tile(d, (n, 1)) for d in ([0, -1, 0], [0, 1, 0], [-1, 0, 0], [1, 0, 0])]
    points = np.vstack([top, bottom] + rims)
    normals = np.vstack([np.tile([0, 0, 1.0], (len(g), 1)), np.tile([0, 0, -1.0], (len(g), 1))] + rim_normals)
    return points, normals.astype(np.float64)


def point_cloud(shape: Shape) -> Shape:
    """The vertices of a mesh as a point cloud."""
    return Shape(shape.vertices, None, name=f"{shape.name}_pc")


def feature_operators_of_copies(shape: Shape, settings, config, seed: int = 3) -> tuple[dict, np.ndarray]:
    """The learned-feature operators of ``shape``, of a permuted and rigidly moved copy and of
    its mirror image (``{"orig", "copy", "mirror"}``), prepared as the matcher does, and the
    copy's permutation."""
    from shapecorr.pipeline import prepare
    from shapecorr.learn import surface_operators

    copy, perm = permuted_copy(shape, seed=seed, rigid=True)
    out = {}
    for name, sh in (("orig", shape), ("copy", copy), ("mirror", mirrored_copy(shape))):
        P = prepare(sh, settings, cache=False)
        assert P.vertex_normals is not None
        out[name] = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, config)
    return out, perm


def vertex_adjacency(shape: Shape):
    """Sparse boolean adjacency (mesh edges) including the diagonal."""
    import scipy.sparse as sp

    e = shape.edges
    n = shape.n_vertices
    a = sp.coo_matrix((np.ones(len(e), dtype=bool), (e[:, 0], e[:, 1])), shape=(n, n))
    return (a + a.T + sp.identity(n, dtype=bool, format="coo")).tocsr()


def exact_or_adjacent(shape: Shape, found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """``(fraction exact, fraction exact or one edge away)`` of a vertex map on ``shape``."""
    found = np.asarray(found)
    truth = np.asarray(truth)
    adj = vertex_adjacency(shape)
    near = np.asarray(adj[found, truth]).ravel()
    return float((found == truth).mean()), float(near.mean())


# ----------------------------------------------------------------------------- files
def write_off(path, vertices, faces) -> Path:
    """A plain OFF file written by hand (independent of shapecorr's writer)."""
    path = Path(path)
    with open(path, "w") as fh:
        fh.write(f"OFF\n{len(vertices)} {0 if faces is None else len(faces)} 0\n")
        for p in vertices:
            fh.write(f"{p[0]:.17g} {p[1]:.17g} {p[2]:.17g}\n")
        for t in (faces if faces is not None else []):
            fh.write(f"{len(t)} " + " ".join(str(int(i)) for i in t) + "\n")
    return path


def write_texture(path, size: int = 16) -> Path:
    """A small RGB PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return Path(path)


def load_script(name: str):
    """``scripts/NAME.py`` imported as a module (registered under ``NAME``, so its dataclasses
    find their module; ``scripts/`` on the path, so it can import its sibling scripts)."""
    import importlib.util
    import sys

    scripts = Path(__file__).resolve().parents[1] / "scripts"
    if str(scripts) not in sys.path:
        sys.path.insert(0, str(scripts))
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
