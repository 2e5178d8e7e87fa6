"""The PLY reader: triangle strips, polygons of mixed sizes, both binary byte orders, ASCII,
colours, UVs, and faces that cannot be read (an error, never a silent point cloud)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import bumpy

from shapecorr import load, save
from shapecorr.core import ShapeParseError, ShapeWarning
from shapecorr.core.ply import strips_to_triangles

# a 2 x 4 grid in the plane z = 0:   4 5 6 7
#                                    0 1 2 3
GRID = np.array([[x, y, 0.0] for y in (0, 1) for x in range(4)])
# a strip over the first two cells ending in a repeated vertex (zero-area strip artefacts that
# keep the parity), a restart (-1), and a strip over the last cell
STRIP = [0, 4, 1, 5, 2, 6, 6, 6, -1, 2, 6, 3, 7]
# the triangles it stands for, all wound clockwise seen from +z like the first one
EXPECT = [[0, 4, 1], [1, 4, 5], [1, 5, 2], [2, 5, 6], [2, 6, 3], [3, 6, 7]]


def _header(fmt: str, n_vertices: int, elements: str) -> bytes:
    return (f"ply\nformat {fmt} 1.0\ncomment written by a test\nelement vertex {n_vertices}\n"
            f"property float x\nproperty float y\nproperty float z\n{elements}end_header\n").encode()


def _write_strip_ply(path, fmt: str, strips: list[list[int]]):
    head = _header(fmt, len(GRID), f"element tristrips {len(strips)}\nproperty list int int vertex_indices\n")
    if fmt == "ascii":
        body = "".join(" ".join(f"{c:g}" for c in v) + "\n" for v in GRID)
        body += "".join(f"{len(s)} " + " ".join(map(str, s)) + "\n" for s in strips)
        path.write_bytes(head + body.encode())
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        body = GRID.astype(order + "f4").tobytes()
        for s in strips:
            body += np.array([len(s), *s], dtype=order + "i4").tobytes()
        path.write_bytes(head + body)
    return path


def _normalized(faces):
    """Each triangle rotated to start at its smallest index (winding kept), rows sorted."""
    f = np.asarray(faces)
    r = np.argmin(f, axis=1)
    rolled = np.stack([np.roll(row, -k) for row, k in zip(f, r)])
    return rolled[np.lexsort(rolled.T[::-1])]


def test_strips_alternate_winding_and_skip_their_artefacts():
    got = strips_to_triangles(np.array(STRIP))
    np.testing.assert_array_equal(_normalized(got), _normalized(EXPECT))
    # an unsigned index list writes the restart -1 as its largest value
    np.testing.assert_array_equal(strips_to_triangles(np.array(STRIP).astype(np.uint32)), got)
    normals = np.cross(GRID[got[:, 1]] - GRID[got[:, 0]], GRID[got[:, 2]] - GRID[got[:, 0]])
    assert (normals[:, 2] < 0).all()  # one winding for all


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize("split", [False, True], ids=["one-strip", "two-strip-rows"])
def test_tristrips_ply_is_read_as_a_mesh(tmp_path, fmt, split):
    strips = [STRIP[:8], STRIP[9:]] if split else [STRIP]  # several rows: each is a strip
    p = _write_strip_ply(tmp_path / "strips.ply", fmt, strips)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        s = load(p)
    assert s.is_mesh and s.n_vertices == 8
    np.testing.assert_array_equal(_normalized(s.faces), _normalized(EXPECT))
    np.testing.assert_array_equal(s.vertices, GRID)
    # the strip artefacts are dropped silently; the grid's outline is the only issue
    assert [w.message.kind for w in rec if issubclass(w.category, ShapeWarning)] == ["open_boundary"]
    assert s.area == pytest.approx(3.0)


def test_mixed_triangles_and_quads_in_binary(tmp_path):
    """Lists of varying length (a triangle, a quad, a triangle) are read row by row."""
    head = _header("binary_little_endian", len(GRID), "element face 3\nproperty list uchar int vertex_indices\n")
    body = GRID.astype("<f4").tobytes()
    for poly in ([0, 1, 4], [1, 2, 6, 5], [2, 3, 6]):
        body += np.array([len(poly)], "u1").tobytes() + np.array(poly, "<i4").tobytes()
    (tmp_path / "mixed.ply").write_bytes(head + body)
    s = load(tmp_path / "mixed.ply", warn=False)
    np.testing.assert_array_equal(s.faces, [[0, 1, 4], [1, 2, 6], [1, 6, 5], [2, 3, 6]])


def test_ascii_ply_with_colours_uvs_and_an_edge_element(tmp_path):
    text = ("ply\nformat ascii 1.0\nelement vertex 3\nproperty double x\nproperty double y\n"
            "property double z\nproperty float s\nproperty float t\nproperty uchar red\n"
            "property uchar green\nproperty uchar blue\nelement face 1\n"
            "property list uchar uint vertex_index\nelement edge 1\nproperty int vertex1\n"
            "property int vertex2\nend_header\n"
            "0 0 0 0.0 0.5 255 0 0\n1 0 0 1.0 0.5 0 255 0\n0 1 0 0.0 1.0 0 0 255\n3 0 1 2\n0 1\n")
    (tmp_path / "c.ply").write_text(text)
    s = load(tmp_path / "c.ply", warn=False)
    np.testing.assert_array_equal(s.faces, [[0, 1, 2]])
    np.testing.assert_array_equal(s.vertex_colors, [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    assert s.vertex_colors.dtype == np.uint8
    np.testing.assert_array_equal(s.uv, [[0, 0.5], [1, 0.5], [0, 1]])


def test_saved_ply_reads_back_exactly(tmp_path):
    src = bumpy(1)
    got = load(save(src, tmp_path / "b.ply"))
    np.testing.assert_array_equal(got.faces, src.faces)
    np.testing.assert_allclose(got.vertices, src.vertices, atol=1e-6)  # float32 storage


@pytest.mark.parametrize("element", [
    "element face 1\nproperty list uchar int corners\n",  # faces without a vertex index list
    "element tristrips 1\nproperty int length\n",
])
def test_faces_that_cannot_be_read_are_an_error_not_a_point_cloud(tmp_path, element):
    row = "3 0 1 2\n" if "list" in element else "3\n"
    (tmp_path / "f.ply").write_text(_header("ascii", 3, element).decode() + "0 0 0\n1 0 0\n0 1 0\n" + row)
    with pytest.raises(ShapeParseError, match="no vertex_indices list"):
        load(tmp_path / "f.ply")


def test_strips_of_only_artefacts_are_an_error(tmp_path):
    p = _write_strip_ply(tmp_path / "a.ply", "ascii", [[0, 0, 1, 1]])
    with pytest.raises(ShapeParseError, match="no usable triangle"):
        load(p)


@pytest.mark.parametrize("content", [
    (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
     b"end_header\n0 0 0\n1 0 0\n"),  # truncated
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
     b"property float z\nend_header\n\x00\x00\x00\x00"),  # truncated
    b"ply\nformat ascii 1.0\nelement vertex 1\nproperty quaternion x\nend_header\n0\n",  # unknown type
    b"ply\nformat ebcdic 1.0\nelement vertex 1\nproperty float x\nend_header\n0\n",
    b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n0\n",  # no y, z
])
def test_garbled_ply_is_a_parse_error(tmp_path, content):
    (tmp_path / "g.ply").write_bytes(content)
    with pytest.raises(ShapeParseError, match="could not parse"):
        load(tmp_path / "g.ply")
