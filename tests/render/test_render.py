"""Off-screen rendering: images are produced without a screen and show what they should."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.render import (
    COLOR_SCHEMES,
    correspondence_colors,
    render_correspondence,
    render_shapes,
    render_side_by_side,
    render_textured,
    split_at_uv_seams,
)


def _quad(texture=None, n=6):
    """A square in the xy plane (facing +z) with UVs spanning the whole texture."""
    xs = np.linspace(0, 1, n)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    v = np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], 1)
    f = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, (i + 1) * n + j, i * n + j + 1, (i + 1) * n + j + 1
            f += [(a, b, d), (a, d, c)]
    return Shape(v, np.array(f), uv=v[:, :2].copy(), texture=texture)


def _texture(path):
    """Left half red, right half blue; a green band along the top."""
    from PIL import Image

    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[:, :32] = (230, 20, 20)
    img[:, 32:] = (20, 20, 230)
    img[:8] = (20, 200, 20)
    Image.fromarray(img).save(path)
    return path


def _blob(n_sub=2):
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=n_sub)
    return Shape(np.asarray(ico.vertices) * [1.0, 0.6, 0.4], np.asarray(ico.faces))


def _background_fraction(img):
    return (np.abs(img.astype(int) - 255).sum(-1) < 6).mean()


def test_textured_render_shows_the_texture(tmp_path):
    quad = _quad(_texture(tmp_path / "tex.png"))
    path = tmp_path / "quad.png"
    img = render_textured(quad, path, window_size=(200, 200), view=(0, 0, 1), up=(0, 1, 0), lighting=False)
    assert path.exists() and img.shape == (200, 200, 3) and img.dtype == np.uint8
    cover = 1 - _background_fraction(img)
    assert 0.2 < cover < 0.98  # not blank, not all shape
    r, g, b = (img[..., k].astype(int) for k in range(3))
    red = (r > 150) & (g < 80) & (b < 80)
    blue = (b > 150) & (r < 80) & (g < 80)
    green = (g > 150) & (r < 80) & (b < 80)
    assert red.mean() > 0.05 and blue.mean() > 0.05 and green.mean() > 0.005
    cols = np.arange(200)[None, :].repeat(200, 0)
    rows = np.arange(200)[:, None].repeat(200, 1)
    assert cols[red].mean() < cols[blue].mean()  # u = 0 is on the left
    assert rows[green].mean() < rows[red].mean()  # v = 1 (top row of the image) is on top


def test_split_at_uv_seams_duplicates_seam_vertices():
    quad = _quad()
    v, f, tc = split_at_uv_seams(quad)
    assert len(v) == quad.n_vertices  # per-vertex UVs: nothing to split
    # give the two halves separate UV indices along the middle column: those vertices double
    fuv = quad.faces.copy()
    right = quad.vertices[quad.faces][:, :, 0].min(1) > 0.6 - 1e-9
    fuv[right] = fuv[right] + quad.n_vertices
    uv = np.vstack([quad.uv, quad.uv])
    seam = quad.copy(uv=uv, face_uv=fuv)
    v2, f2, tc2 = split_at_uv_seams(seam)
    n_mid = int((np.abs(quad.vertices[:, 0] - 0.6) < 1e-9).sum())
    assert len(v2) == quad.n_vertices + n_mid
    assert np.allclose(v2[f2], quad.vertices[quad.faces])


@pytest.mark.parametrize("scheme", COLOR_SCHEMES)
def test_correspondence_colors(scheme):
    blob = _blob()
    c = correspondence_colors(blob, scheme)
    assert c.shape == (blob.n_vertices, 3) and c.dtype == np.uint8
    assert c.std(0).max() > 20  # not a flat colour


def test_xyz_colors_follow_a_permutation_and_unknown_scheme():
    blob = _blob()
    perm = np.random.default_rng(0).permutation(blob.n_vertices)
    c = correspondence_colors(blob, "xyz")
    copy = Shape(blob.vertices[perm], None)
    assert np.array_equal(correspondence_colors(copy, "xyz"), c[perm])
    with pytest.raises(ValueError, match="unknown colour scheme"):
        correspondence_colors(blob, "rainbow")


def test_render_correspondence_and_point_clouds(tmp_path):
    blob = _blob()
    cloud = Shape(blob.vertices[::-1].copy(), None)
    p2p = np.arange(blob.n_vertices)[::-1].copy()
    img = render_correspondence(blob, cloud, p2p, tmp_path / "c.png", window_size=(400, 200))
    assert (tmp_path / "c.png").exists() and img.shape == (200, 400, 3)
    for half in (img[:, :200], img[:, 200:]):
        cover = 1 - _background_fraction(half)
        assert 0.03 < cover < 0.9
        assert half.reshape(-1, 3).std(0).max() > 10  # coloured, not uniform
    with pytest.raises(ValueError, match="one entry per target vertex"):
        render_correspondence(blob, cloud, p2p[:-1])


def test_side_by_side_and_bad_inputs(tmp_path):
    quad = _quad(_texture(tmp_path / "tex.png"))
    blob = _blob()
    img = render_side_by_side([quad, blob, blob.copy(vertex_colors=correspondence_colors(blob))],
                              tmp_path / "s.png", window_size=(300, 100))
    assert img.shape == (100, 300, 3)
    with pytest.raises(ValueError):
        render_textured(blob, tmp_path / "x.png")
    with pytest.raises(ValueError):
        render_shapes([])
    with pytest.raises(ValueError, match="colours"):
        render_shapes([blob], colors=[np.zeros((3, 3))])


def test_caption_is_written_at_the_bottom(tmp_path):
    blob = _blob()
    plain = render_correspondence(blob, blob, np.arange(blob.n_vertices), window_size=(400, 200), titles=None)
    img = render_correspondence(blob, blob, np.arange(blob.n_vertices), window_size=(400, 200), titles=None,
                                caption="confidence 0.93")
    changed = np.abs(img.astype(int) - plain.astype(int)).sum(-1) > 0
    rows = np.flatnonzero(changed.any(1))
    assert len(rows) and rows.min() > 150  # only the bottom band changed


def test_pictures_need_no_vtk_or_matplotlib(tmp_path):
    import subprocess
    import sys

    code = ("import sys, numpy as np, shapecorr\n"
            "from shapecorr.render import render_correspondence\n"
            "s = shapecorr.Shape(np.random.default_rng(0).normal(size=(50, 3)), None)\n"
            f"render_correspondence(s, s, np.arange(50), {str(tmp_path / 'p.png')!r})\n"
            "print(sorted(m for m in ('pyvista', 'vtk', 'matplotlib', 'torch') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    assert (tmp_path / "p.png").stat().st_size > 0


def test_a_stray_vertex_changes_neither_framing_nor_colours():
    """A vertex used by no face, far away (imperfect input that is kept): the picture of the
    mesh and the colours of its surface are those of the mesh without it."""
    blob = _blob()
    stray = Shape(np.vstack([blob.vertices, [[50.0, 50.0, 50.0]]]), blob.faces)
    for scheme in ("xyz", "stripes"):
        assert np.array_equal(correspondence_colors(stray, scheme)[:-1], correspondence_colors(blob, scheme))
    a = render_shapes([blob], window_size=(120, 100))
    b = render_shapes([stray], window_size=(120, 100))
    assert np.array_equal(a, b)


def _drawn_pixels(img, n_panels):
    """Per panel, the number of pixels that are not background."""
    not_bg = np.abs(img.astype(int) - 255).sum(-1) >= 6
    return [int(p.sum()) for p in np.array_split(not_bg, n_panels, axis=1)]


def test_same_scale_shows_a_change_of_size():
    """A shape and its copy twice as large: alone, each is drawn at one size (the default); in one
    ``same_scale`` group the copy covers about four times the pixels, as it should."""
    blob = _blob()
    big = blob.copy(vertices=2.0 * blob.vertices)
    alone = _drawn_pixels(render_shapes([blob, big], window_size=(400, 200)), 2)
    assert alone[0] == pytest.approx(alone[1], rel=0.02)
    together = _drawn_pixels(render_shapes([blob, big], window_size=(400, 200), same_scale=(0, 0)), 2)
    assert 3.3 < together[1] / together[0] < 4.7
    assert together[1] == pytest.approx(alone[1], rel=0.02)  # the group's largest keeps its size
    # groups are independent: the pair (0, 0) then a lone shape (1) at its own size
    three = _drawn_pixels(render_shapes([blob, big, blob], window_size=(600, 200), same_scale=("a", "a", "b")), 3)
    assert three[2] == pytest.approx(three[1], rel=0.02)
    with pytest.raises(ValueError, match="one group label per shape"):
        render_shapes([blob, big], same_scale=(0,))


def _drawn_box(img):
    """Height and width (pixels) of the part of a picture that is not background."""
    rows, cols = np.nonzero(np.abs(img.astype(int) - 255).sum(-1) >= 6)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_up_axis_stands_a_z_up_shape_upright():
    """A rod along z (as a standing figure is in TOSCA's files) lies across the picture with the
    default y up and stands upright with ``up="z"``; ``up="-z"`` stands it on its head."""
    import trimesh

    rod = trimesh.creation.box(extents=(0.2, 0.3, 2.0))
    marker = trimesh.creation.box(extents=(0.6, 0.6, 0.2), transform=trimesh.transformations.translation_matrix((0, 0, 1.0)))
    mesh = trimesh.util.concatenate([rod, marker])  # a wide cap at +z
    shape = Shape(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    h, w = _drawn_box(render_shapes([shape], window_size=(300, 300)))
    assert w > 1.5 * h  # lying (seen at a slant)
    up = render_shapes([shape], window_size=(300, 300), up="z")
    h, w = _drawn_box(up)
    assert h > 1.5 * w  # standing
    down = render_shapes([shape], window_size=(300, 300), up="-z")
    drawn_up = np.abs(up.astype(int) - 255).sum(-1) >= 6
    drawn_down = np.abs(down.astype(int) - 255).sum(-1) >= 6
    top = lambda m: m[: m.shape[0] // 2].sum() / m.sum()  # noqa: E731 - the share drawn in the upper half
    assert top(drawn_up) > 0.55 > 0.45 > top(drawn_down)  # the cap on top, then at the bottom
    with pytest.raises(ValueError, match="up axis"):
        render_shapes([shape], up="w")
