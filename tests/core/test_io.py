"""Reading and writing shapes: round trips for every format, and every bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import shapecorr
from shapecorr import Shape, load, save
from shapecorr.core import (
    READ_FORMATS,
    WRITE_FORMATS,
    DegenerateFacesError,
    EmptyShapeError,
    FaceIndexError,
    NonFiniteCoordinatesError,
    ShapeError,
    ShapeFileNotFoundError,
    ShapeParseError,
    ShapeWarning,
    UnsupportedFormatError,
)

from helpers import bumpy, write_off, write_texture

DATA = Path(__file__).resolve().parents[2] / "data" / "spot"


def quiet_load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeWarning)
        return load(path, **kw)


@pytest.fixture(scope="module")
def mesh_with_duplicates():
    """A small closed mesh plus two extra vertices that duplicate existing positions: one is
    used by a face (so the mesh has a seam there), one is unreferenced. A loader that merges
    duplicates or reorders vertices changes the vertex count or the order."""
    s = bumpy(1)  # 42 vertices, 80 faces
    n = s.n_vertices
    v = np.vstack([s.vertices, s.vertices[[s.faces[0, 2], 5]]])
    f = s.faces.copy()
    f[0, 2] = n  # face 0 now uses the duplicate of its third corner
    return Shape(v, f, name="dups", validate=False)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("ext", [".off", ".obj", ".ply"])
def test_mesh_round_trip_keeps_vertex_order_and_duplicates(tmp_path, mesh_with_duplicates, ext):
    src = mesh_with_duplicates
    path = save(src, tmp_path / f"m{ext}")
    got = quiet_load(path)
    assert got.n_vertices == src.n_vertices  # duplicates not merged, unreferenced kept
    np.testing.assert_allclose(got.vertices, src.vertices, rtol=0, atol=1e-6)  # same order
    np.testing.assert_array_equal(got.faces, src.faces)
    assert got.n_duplicate_vertices == 2
    assert got.path == path and got.name == "m"


def test_glb_is_read_in_file_order(tmp_path, mesh_with_duplicates):
    import trimesh

    src = mesh_with_duplicates
    path = tmp_path / "m.glb"
    trimesh.Trimesh(src.vertices, src.faces, process=False).export(str(path))
    got = quiet_load(path)
    assert got.n_vertices == src.n_vertices
    np.testing.assert_allclose(got.vertices, src.vertices, atol=1e-6)  # float32 storage
    np.testing.assert_array_equal(got.faces, src.faces)
    with pytest.raises(UnsupportedFormatError, match="cannot write"):
        save(src, tmp_path / "out.glb")


def test_stl_is_a_triangle_soup_unless_merging_is_asked(tmp_path):
    src = bumpy(1)
    path = save(src, tmp_path / "m.stl")
    soup = quiet_load(path)
    # STL has no shared vertices: three per face, in face order, none merged
    assert soup.n_vertices == 3 * src.n_faces
    np.testing.assert_allclose(soup.vertices[soup.faces], src.vertices[src.faces], atol=1e-6)
    merged = quiet_load(path, merge_duplicates=True)
    assert merged.n_vertices == src.n_vertices
    assert merged.n_components == 1 and merged.is_watertight
    np.testing.assert_allclose(merged.vertices[merged.faces], src.vertices[src.faces], atol=1e-6)


@pytest.mark.parametrize("ext", [".xyz", ".txt"])
def test_point_cloud_round_trip(tmp_path, ext):
    rng = np.random.default_rng(0)
    v = rng.standard_normal((50, 3))
    v[7] = v[3]  # a duplicate point is kept
    path = save(Shape(v), tmp_path / f"p{ext}")
    got = quiet_load(path)
    assert got.is_point_cloud and got.faces is None
    np.testing.assert_allclose(got.vertices, v, rtol=1e-8)
    assert got.n_duplicate_vertices == 1


def test_ply_point_cloud_round_trip(tmp_path):
    v = np.random.default_rng(1).standard_normal((40, 3))
    path = save(Shape(v), tmp_path / "p.ply")
    got = quiet_load(path)
    assert got.is_point_cloud
    np.testing.assert_allclose(got.vertices, v, atol=1e-6)


def test_pts_with_count_header_and_xyz_with_colours_and_commas(tmp_path):
    (tmp_path / "a.pts").write_text("3\n0 0 0\n1 0 0\n0 1 0\n")
    got = load(tmp_path / "a.pts")
    np.testing.assert_array_equal(got.vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    (tmp_path / "b.xyz").write_text("# x y z r g b\n0,0,0,255,0,0\n1,0,0,0,128,0\n0,1,0,0,0,7\n")
    got = load(tmp_path / "b.xyz")
    np.testing.assert_array_equal(got.vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(got.vertex_colors, [[255, 0, 0], [0, 128, 0], [0, 0, 7]])


@pytest.mark.parametrize("ext", [".ply", ".xyz"])
def test_point_cloud_normals_round_trip(tmp_path, ext):
    """A point cloud's normals are read (PLY nx ny nz, XYZ columns 4-6) and written back."""
    rng = np.random.default_rng(3)
    v = rng.standard_normal((60, 3))
    n = rng.standard_normal((60, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    got = load(save(Shape(v, point_normals=n), tmp_path / f"p{ext}"))
    np.testing.assert_allclose(got.point_normals, n, atol=1e-6)
    np.testing.assert_allclose(got.vertices, v, atol=1e-8)
    assert got.summary()["has_point_normals"]


def test_xyz_columns_are_told_apart_colours_normals_or_neither(tmp_path):
    (tmp_path / "n.xyz").write_text("0 0 0 0 0 1\n1 0 0 0.6 0.8 0\n0 1 0 -1 0 0\n")
    got = load(tmp_path / "n.xyz")
    np.testing.assert_allclose(got.point_normals, [[0, 0, 1], [0.6, 0.8, 0], [-1, 0, 0]])
    assert got.vertex_colors is None
    (tmp_path / "cn.xyz").write_text("0 0 0 255 0 0 0 0 1\n1 0 0 0 128 0 0 1 0\n0 1 0 0 0 7 1 0 0\n")
    got = load(tmp_path / "cn.xyz")
    np.testing.assert_array_equal(got.vertex_colors, [[255, 0, 0], [0, 128, 0], [0, 0, 7]])
    np.testing.assert_allclose(got.point_normals, [[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    (tmp_path / "other.xyz").write_text("0 0 0 0.5 2 0\n1 0 0 3 1 1\n0 1 0 0 0 0.2\n")  # an intensity, say
    got = load(tmp_path / "other.xyz")
    assert got.point_normals is None and got.vertex_colors is None


def test_unusable_normals_are_dropped_with_a_warning(tmp_path):
    """A zero normal in the file: the file's normals are not used, and the warning says so."""
    rows = np.zeros(4, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")])
    rows["x"], rows["y"], rows["z"] = [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]
    rows["nz"] = [1, 1, 1, 0]
    header = "ply\nformat binary_little_endian 1.0\nelement vertex 4\n" + "".join(
        f"property float {c}\n" for c in ("x", "y", "z", "nx", "ny", "nz")) + "end_header\n"
    path = tmp_path / "zero.ply"
    path.write_bytes(header.encode() + rows.tobytes())
    with pytest.warns(ShapeWarning, match="1 of the file's 4 point normals are zero.*estimated"):
        got = load(path)
    assert got.point_normals is None and got.n_vertices == 4


def test_point_normals_must_fit_the_points_and_leave_with_them():
    v = np.random.default_rng(4).standard_normal((10, 3))
    with pytest.raises(ShapeError, match="point_normals has shape"):
        Shape(v, point_normals=np.ones((9, 3)))
    s = Shape(v, point_normals=np.tile([0.0, 0.0, 1.0], (10, 1)))
    np.testing.assert_array_equal(s.normalized().point_normals, s.point_normals)  # a similarity keeps them
    assert s.copy(vertices=v[:5]).point_normals is None  # other points: not theirs
    assert s.copy(vertices=v + 1.0).point_normals is None  # moved points (a deformation): no longer theirs


def test_vertex_colours_round_trip(tmp_path):
    s = bumpy(1)
    colors = np.random.default_rng(2).integers(0, 256, (s.n_vertices, 3)).astype(np.uint8)
    colored = s.copy(vertex_colors=colors)
    ply = quiet_load(save(colored, tmp_path / "c.ply"))
    np.testing.assert_array_equal(np.asarray(ply.vertex_colors)[:, :3], colors)
    obj = quiet_load(save(colored, tmp_path / "c.obj"))
    np.testing.assert_allclose(np.asarray(obj.vertex_colors, dtype=float), colors / 255.0, atol=1e-5)


def test_polygons_are_fan_triangulated(tmp_path):
    v = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [-0.5, 0.5, 0], [2, 0.5, 0]]
    off = tmp_path / "poly.off"
    write_off(off, v, [[0, 1, 2, 3, 4], [1, 5, 2]])  # a pentagon and a triangle
    got = quiet_load(off)
    np.testing.assert_array_equal(got.faces, [[0, 1, 2], [0, 2, 3], [0, 3, 4], [1, 5, 2]])
    obj = tmp_path / "quad.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
                   "vn 0 0 1\nf 1/1/1 2/2/1 3/3/1 4/4/1\n")
    got = quiet_load(obj)
    np.testing.assert_array_equal(got.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_array_equal(got.face_uv, [[0, 1, 2], [0, 2, 3]])
    assert got.area == pytest.approx(1.0)


def test_obj_negative_indices_and_comments(tmp_path):
    p = tmp_path / "neg.obj"
    p.write_text("# a comment\nv 0 0 0\nv 1 0 0\nv 0 1 0  # trailing comment\nf -3 -2 -1\n")
    got = load(p, warn=False)
    np.testing.assert_array_equal(got.faces, [[0, 1, 2]])


def test_off_with_comments_and_colours_uses_the_general_reader(tmp_path):
    p = tmp_path / "c.off"
    p.write_text("COFF\n# comment\n3 1 0\n0 0 0 255 0 0 255\n1 0 0 0 255 0 255\n0 1 0 0 0 255 255\n3 0 1 2\n")
    got = load(p, warn=False)
    np.testing.assert_array_equal(got.faces, [[0, 1, 2]])
    np.testing.assert_array_equal(np.asarray(got.vertex_colors)[:, :3], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_obj_keeps_uvs_material_and_texture(tmp_path):
    """UV seams (several UVs per vertex) survive a save/load round trip, with the .mtl and the
    texture image written beside the OBJ."""
    s = bumpy(1)
    rng = np.random.default_rng(3)
    face_uv = np.arange(3 * s.n_faces).reshape(-1, 3)  # every corner its own UV: a full seam
    uv = rng.random((3 * s.n_faces, 2))
    tex = write_texture(tmp_path / "tex_src.png")
    src = s.copy(uv=uv, face_uv=face_uv, texture=tex, material_name="skin")
    out = tmp_path / "out"
    path = save(src, out / "textured.obj")
    assert (out / "textured.mtl").exists() and (out / "tex_src.png").exists()
    got = quiet_load(path)
    assert got.has_uv and got.n_vertices == s.n_vertices
    np.testing.assert_allclose(got.uv[got.face_uv], uv[face_uv], atol=1e-8)
    np.testing.assert_array_equal(got.faces, s.faces)
    assert got.material_name == "skin"
    assert got.texture == out / "tex_src.png" and got.texture.exists()


def test_spot_example_keeps_uvs_and_texture():
    spot = quiet_load(DATA / "spot.obj")
    assert spot.n_vertices == 2930 and spot.is_mesh and spot.has_uv
    assert spot.texture is not None and spot.texture.exists()
    assert spot.texture.suffix.lower() == ".png"
    assert spot.face_uv.shape == spot.faces.shape
    vt = [ln.split()[1:3] for ln in (DATA / "spot.obj").read_text().splitlines() if ln.startswith("vt ")]
    np.testing.assert_array_equal(spot.uv, np.asarray(vt, dtype=float))  # every vt, in file order


def test_merge_duplicates_only_on_request(tmp_path, mesh_with_duplicates):
    path = save(mesh_with_duplicates, tmp_path / "d.off")
    kept = quiet_load(path)
    merged = quiet_load(path, merge_duplicates=True)
    assert kept.n_vertices == 44 and merged.n_vertices == 42
    np.testing.assert_allclose(merged.vertices[merged.faces], kept.vertices[kept.faces])
    np.testing.assert_array_equal(merged.vertices, kept.vertices[:42])  # first occurrences, in order


def test_save_refuses_to_overwrite_when_asked(tmp_path):
    s = bumpy(1)
    p = save(s, tmp_path / "a.off")
    with pytest.raises(FileExistsError, match="a.off"):
        save(s, p, overwrite=False)
    with pytest.raises(UnsupportedFormatError, match="cannot write"):
        s.save(tmp_path / "a.vtk")


def test_format_lists():
    for ext in (".off", ".obj", ".ply", ".stl", ".glb", ".xyz", ".pts", ".txt"):
        assert ext in READ_FORMATS
    assert set(WRITE_FORMATS) <= set(READ_FORMATS)


def test_load_normalize_option(tmp_path):
    s = bumpy(1)
    got = quiet_load(save(s, tmp_path / "n.off"), normalize=True)
    assert got.area == pytest.approx(1.0)
    np.testing.assert_allclose(got.to_original(got.vertices), s.vertices, atol=1e-7)


# ----------------------------------------------------------------------------- bad input
def _expect(exc_type, path, match=None, **kw):
    """Loading ``path`` raises ``exc_type`` whose message and ``.path`` name the file."""
    with pytest.raises(exc_type, match=match) as info:
        load(path, **kw)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert isinstance(info.value, ShapeError) and isinstance(info.value, ValueError)
    return info.value


def test_missing_file(tmp_path):
    err = _expect(ShapeFileNotFoundError, tmp_path / "nope.off", match="no such file")
    assert isinstance(err, FileNotFoundError)


def test_folder_is_refused(tmp_path):
    (tmp_path / "dir.off").mkdir()
    _expect(ShapeError, tmp_path / "dir.off", match="folder")


@pytest.mark.parametrize("name", ["shape.vtk", "shape"])
def test_unknown_format(tmp_path, name):
    p = tmp_path / name
    p.write_text("1 2 3\n")
    _expect(UnsupportedFormatError, p, match="unknown shape format")


@pytest.mark.parametrize("ext", [".off", ".obj", ".ply", ".stl", ".glb", ".xyz"])
def test_empty_file(tmp_path, ext):
    p = tmp_path / f"empty{ext}"
    p.write_bytes(b"")
    _expect(EmptyShapeError, p, match="empty")


@pytest.mark.parametrize("name, content", [
    ("zero.off", "OFF\n0 0 0\n"),
    ("novertex.obj", "# only texture coordinates\nvt 0 0\n"),
    ("comments.txt", "# nothing here\n\n"),
])
def test_file_without_any_vertex_is_empty(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    _expect(EmptyShapeError, p)


@pytest.mark.parametrize("name, content", [
    ("letters.off", "OFF\n3 1 0\n0 0 0\n1 zero 0\n0 1 0\n3 0 1 2\n"),
    ("truncated.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n"),
    ("noheader.off", "hello world\n1 2 3\n"),
    ("letters.obj", "v 0 0 0\nv 1 x 0\nv 0 1 0\nf 1 2 3\n"),
    ("badface.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 three\n"),
    ("short.obj", "v 0 0\n"),
    ("twocols.xyz", "1 2\n3 4\n"),
    ("letters.pts", "1 2 a\n"),
    ("badprop.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1 2\n"),
    ("binary.ply", b"\x00\x01garbage\xff\xfe" * 50),
    ("binary.glb", b"glTF\x02\x00\x00\x00garbage" * 5),
    ("latin1.obj", b"v 0 0 0\nv 1 0 0\xe9\n"),
])
def test_garbled_file(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    _expect(ShapeParseError, p, match="could not parse")


def test_garbled_stl_is_a_parse_error(tmp_path):
    p = tmp_path / "binary.stl"
    p.write_bytes(b"\x00\x01garbage\xff\xfe" * 50)
    _expect(ShapeParseError, p)


@pytest.mark.parametrize("name, content", [
    ("nan.off", "OFF\n3 1 0\n0 0 0\n1 nan 0\n0 1 0\n3 0 1 2\n"),
    ("inf.xyz", "0 0 0\n1 inf 0\n0 1 0\n"),
    ("nan.obj", "v 0 0 0\nv 1 0 0\nv NaN 1 0\nf 1 2 3\n"),
])
def test_non_finite_coordinates(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    err = _expect(NonFiniteCoordinatesError, p, match="NaN or infinite")
    assert "vertex" in str(err)


@pytest.mark.parametrize("name, content", [
    ("high.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n"),
    ("negative.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 -1\n"),
    ("high.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n"),
])
def test_face_index_out_of_range(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    _expect(FaceIndexError, p, match="only 3 vertices")


def test_face_uv_index_out_of_range(tmp_path):
    p = tmp_path / "uv.obj"
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nf 1/1 2/2 3/3\n")
    _expect(FaceIndexError, p, match="vt")


def test_degenerate_faces_are_dropped_with_one_warning_or_refused_when_strict(tmp_path):
    # face 1 repeats a vertex, face 2 is collinear (zero area); vertex 4 ends up unreferenced
    v = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [2, 0, 0]]
    p = write_off(tmp_path / "degenerate.off", v, [[0, 1, 2], [1, 1, 3], [0, 1, 4], [1, 3, 2]])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fixed = load(p)
    texts = [str(w.message) for w in rec]
    assert texts[0] == (f"{p}: 2 of 4 faces are degenerate (zero area or a repeated vertex; first: "
                        "face 1 = [1, 1, 3]); dropped them (vertices and their order are kept)")
    assert f"{p}: 1 vertices are used by no face (first: vertex 4); kept" in texts[1]  # reported, kept
    np.testing.assert_array_equal(fixed.vertices, v)  # vertices and their order kept
    np.testing.assert_array_equal(fixed.faces, [[0, 1, 2], [1, 3, 2]])
    err = _expect(DegenerateFacesError, p, match="strict", strict=True)
    assert "2 of 4 faces are degenerate" in str(err) and "also 1 vertices are used by no face" in str(err)


@pytest.mark.parametrize("strict", [False, True])
def test_unusable_input_is_refused_with_or_without_strict(tmp_path, strict):
    p = tmp_path / "both.off"
    p.write_text("OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 0 1\n3 0 1 7\n")
    _expect(FaceIndexError, p, strict=strict)


def test_errors_are_shapecorr_errors():
    assert issubclass(ShapeParseError, shapecorr.ShapecorrError)
    assert issubclass(ShapeFileNotFoundError, FileNotFoundError)
