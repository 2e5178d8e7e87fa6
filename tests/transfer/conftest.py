"""Small generated textured meshes for the transfer and render tests (no shared data needed)."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.core import set_cache_dir


@pytest.fixture(autouse=True)
def _no_disk_cache(tmp_path):
    set_cache_dir(tmp_path / "cache")
    yield
    set_cache_dir("default")


def write_texture(path, size: int = 64):
    """A texture whose left half is red, right half blue, with a green gutter column between."""
    from PIL import Image

    img = np.zeros((size, size, 3), dtype=np.uint8)
    x = np.arange(size)
    img[:, x < 0.45 * size] = (220, 30, 30)
    img[:, x > 0.55 * size] = (30, 30, 220)
    img[:, (x >= 0.45 * size) & (x <= 0.55 * size)] = (30, 200, 30)
    Image.fromarray(img).save(path)
    return path


def two_chart_plane(nx: int, ny: int, texture=None, offset: float = 0.0) -> Shape:
    """A unit square grid cut along x = 0.5 into two UV charts.

    Faces left of the cut map to u in [0.02, 0.2], faces right of it to u in [0.8, 0.98]; the
    vertices on the cut have one UV in each chart. ``offset`` shifts the grid lines (so that a
    second grid's triangles straddle the cut).
    """
    xs = np.linspace(0, 1, nx)
    ys = np.linspace(0, 1, ny)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    v = np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], 1)
    if offset:
        v[:, 0] = np.clip(v[:, 0] + offset * np.sin(np.pi * v[:, 0]), 0, 1)
    f = []
    for i in range(nx - 1):
        for j in range(ny - 1):
            a, b, c, d = i * ny + j, (i + 1) * ny + j, i * ny + j + 1, (i + 1) * ny + j + 1
            f += [(a, b, d), (a, d, c)]
    f = np.asarray(f)
    if texture is None:
        return Shape(v, f)
    cent = v[f].mean(1)[:, 0]
    chart = (cent > 0.5).astype(int)
    keys = np.stack([f.ravel(), np.repeat(chart, 3)], 1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    pos = v[uniq[:, 0]]
    left = uniq[:, 1] == 0
    u = np.where(left, 0.02 + 0.18 * np.minimum(pos[:, 0], 0.5) / 0.5,
                 0.8 + 0.18 * (np.maximum(pos[:, 0], 0.5) - 0.5) / 0.5)
    uv = np.stack([u, 0.05 + 0.9 * pos[:, 1]], 1)
    return Shape(v, f, uv=uv, face_uv=inv.reshape(-1, 3), texture=texture, material_name="checker")


def bumpy_blob(subdivisions: int = 3, texture=None) -> Shape:
    """An asymmetric closed blob (no symmetries: distinct Laplace eigenvalues) with a two-chart
    UV atlas (faces with centroid x > 0 in the right half of the atlas)."""
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = np.asarray(ico.vertices) * np.array([1.0, 0.75, 0.55])
    v = v * (1 + 0.12 * np.sin(2.3 * v[:, :1] + 0.7) + 0.08 * np.cos(3.1 * v[:, 1:2] - 0.4 * v[:, 2:3]))
    f = np.asarray(ico.faces)
    if texture is None:
        return Shape(v, f)
    chart = (v[f].mean(1)[:, 0] > 0).astype(int)
    keys = np.stack([f.ravel(), np.repeat(chart, 3)], 1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    p = v[uniq[:, 0]]
    u = 0.25 + 0.2 * p[:, 1] + 0.5 * uniq[:, 1]
    w = 0.5 + 0.4 * p[:, 2] / 0.7
    return Shape(v, f, uv=np.stack([u, w], 1), face_uv=inv.reshape(-1, 3), texture=texture, material_name="blob")


def exact_match(source: Shape, target: Shape, p2p_21, p2p_12, k: int = 20):
    """A Match built from known vertex maps, with its functional map in the pipeline's bases."""
    from shapecorr.fmap import p2p_to_fmap
    from shapecorr.pipeline import Match, load_preset, prepare

    s = load_preset(None, k_init=k, k_final=k, k_descriptor=k, n_descriptors=20, flip_check=False)
    P1, P2 = prepare(source, s), prepare(target, s)
    C = p2p_to_fmap(np.asarray(p2p_21), P1.evecs, P2.evecs, P2.mass, k1=k, k2=k)
    return Match(p2p_21=np.asarray(p2p_21), p2p_12=np.asarray(p2p_12), fmap_12=C, settings=s.to_dict(),
                 info={"k_basis": [P1.evecs.shape[1], P2.evecs.shape[1]]})  # as the pipeline records it


@pytest.fixture
def texture_png(tmp_path):
    return write_texture(tmp_path / "tex.png")


@pytest.fixture
def blob_pair(texture_png):
    """(source with UVs + texture, rotated and permuted copy, Match with the exact maps)."""
    src = bumpy_blob(3, texture=texture_png)
    rng = np.random.default_rng(1)
    n = src.n_vertices
    perm = rng.permutation(n)  # target vertex j is source vertex perm[j]
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    a = 0.7
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    tf = inv[src.faces][rng.permutation(src.n_faces)]
    tgt = Shape(src.vertices[perm] @ R.T + np.array([0.3, -1.0, 2.0]), tf, name="blob_copy")
    return src, tgt, exact_match(src, tgt, perm, inv), perm
