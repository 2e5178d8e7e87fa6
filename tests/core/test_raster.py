"""The NumPy rasterizer: exact coverage, the nearest surface wins, texture lookup, splats."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.core.raster import (
    UP_AXES,
    camera_basis,
    camera_direction,
    lambert,
    rasterize_points,
    rasterize_triangles,
    sample_texture,
    up_rotation,
)


def _square(x0, y0, x1, y1):
    """Two triangles covering the axis-aligned rectangle [x0, x1] x [y0, y1] (pixel units)."""
    xy = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    return xy, np.array([[0, 1, 2], [0, 2, 3]])


def test_a_rectangle_covers_exactly_its_pixels_once():
    # pixel centres (i + 0.5) strictly inside [2.2, 7.8] x [1.2, 4.8]: columns 2..7, rows 1..4
    xy, faces = _square(2.2, 1.2, 7.8, 4.8)
    frag = rasterize_triangles(xy, np.zeros(4), faces, (10, 12))
    rows, cols = np.divmod(frag.pixel, 12)
    assert len(frag.pixel) == len(np.unique(frag.pixel)) == 6 * 4
    assert set(cols) == set(range(2, 8)) and set(rows) == set(range(1, 5))
    assert np.allclose(frag.bary.sum(1), 1.0) and frag.bary.min() >= -1e-9


def test_barycentric_coordinates_reproduce_the_pixel_centre():
    xy = np.array([[1.0, 1.0], [30.0, 4.0], [8.0, 25.0]])
    frag = rasterize_triangles(xy, np.zeros(3), np.array([[0, 1, 2]]), (32, 32))
    rows, cols = np.divmod(frag.pixel, 32)
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    assert np.allclose(frag.bary @ xy, centres)
    # the triangle's area (1/2 |cross|) is about the number of pixels it covers
    area = 0.5 * abs(29 * 24 - 3 * 7)
    assert abs(len(frag.pixel) - area) < 0.1 * area


def test_the_nearest_surface_wins_whatever_the_drawing_order():
    back_xy, f = _square(0, 0, 10, 10)
    front_xy, _ = _square(5, 0, 10, 10)  # covers the right half, nearer the camera (depth 1 > 0)
    xy = np.vstack([back_xy, front_xy])
    depth = np.r_[np.zeros(4), np.ones(4)]
    for faces in (np.vstack([f, f + 4]), np.vstack([f + 4, f])):
        frag = rasterize_triangles(xy, depth, faces, (10, 10))
        assert len(frag.pixel) == 100
        cols = frag.pixel % 10
        front = np.isin(faces[frag.face, 0], [4])
        assert np.array_equal(front, cols >= 5)


def test_large_triangles_are_split_into_chunks(monkeypatch):
    from shapecorr.core import raster

    monkeypatch.setattr(raster, "_MAX_CANDIDATES", 50)
    xy, faces = _square(0, 0, 40, 30)
    frag = rasterize_triangles(xy, np.zeros(4), faces, (30, 40))
    assert np.array_equal(np.sort(frag.pixel), np.arange(1200))


def test_off_screen_and_edge_on_triangles_draw_nothing():
    xy = np.array([[-20.0, -20.0], [-5.0, -20.0], [-5.0, -2.0], [1.0, 1.0], [5.0, 5.0], [9.0, 9.0]])
    frag = rasterize_triangles(xy, np.zeros(6), np.array([[0, 1, 2], [3, 4, 5]]), (10, 10))
    assert len(frag.pixel) == 0 and frag.bary.shape == (0, 3)


def test_splats_are_discs_and_nearer_splats_cover_farther_ones():
    frag = rasterize_points(np.array([[20.0, 20.0]]), np.zeros(1), 6.0, 0.01, (40, 40))
    assert abs(len(frag.pixel) - np.pi * 36) < 8
    assert np.allclose(np.linalg.norm(frag.normal, axis=1), 1.0)
    centre = frag.normal[np.argmin(np.abs(frag.pixel - (20 * 40 + 20)))]
    assert centre[2] > 0.95  # the middle of the disc faces the camera
    frag = rasterize_points(np.array([[20.0, 20.0], [22.0, 20.0]]), np.array([0.0, 1.0]), 6.0, 0.01, (40, 40))
    assert frag.point[frag.pixel == 20 * 40 + 21].tolist() == [1]


def test_texture_lookup_at_texel_centres_and_orientation():
    img = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)  # 4 rows, 3 columns
    # texel (row r, col c) has its centre at u = (c + 0.5) / 3, v = 1 - (r + 0.5) / 4
    r, c = np.meshgrid(np.arange(4), np.arange(3), indexing="ij")
    uv = np.stack([(c.ravel() + 0.5) / 3, 1 - (r.ravel() + 0.5) / 4], axis=1)
    assert np.allclose(sample_texture(img, uv), img.reshape(-1, 3))
    # half way between two columns: the mean of both
    mid = sample_texture(img, np.array([[1.0 / 3, 1 - 0.5 / 4]]))
    assert np.allclose(mid[0], (img[0, 0].astype(float) + img[0, 1]) / 2)


def test_camera_basis_and_lambert():
    R = camera_basis((0, 0, 1), (0, 1, 0))
    assert np.allclose(R, np.eye(3))
    R = camera_basis((1.0, 0.45, -0.9), (0, 1, 0))
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="parallel"):
        camera_basis((0, 2, 0), (0, 1, 0))
    light = np.array([0.0, 0.0, 1.0])
    i = lambert(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), light, ambient=0.25)
    assert np.allclose(i, [1.0, 1.0, 0.25])  # two-sided; grazing light leaves the ambient part


@pytest.mark.parametrize("axis", UP_AXES)
def test_up_rotation_is_a_rotation_taking_y_to_the_axis(axis):
    R = up_rotation(axis)
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    expected = np.zeros(3)
    expected["xyz".index(axis[-1])] = -1.0 if axis.startswith("-") else 1.0
    assert np.allclose(R @ [0.0, 1.0, 0.0], expected)
    view, up = camera_direction((1.0, 0.45, -0.9), axis)
    assert np.allclose(up, expected)
    # the same viewpoint relative to the shape: the angle between view and up is kept
    assert view @ up == pytest.approx(0.45)


def test_camera_direction_keeps_vectors_and_refuses_unknown_axes():
    view, up = camera_direction((1, 2, 3), (0, 0, 1))
    assert np.allclose(view, [1, 2, 3]) and np.allclose(up, [0, 0, 1])
    assert np.allclose(up_rotation("+Z"), up_rotation("z"))
    with pytest.raises(ValueError, match="choose one of y, z, x"):
        up_rotation("w")


def test_texture_lookup_outside_the_unit_square_repeats_or_clamps():
    img = np.zeros((2, 4, 3))
    img[:, 0] = 10.0  # left column
    img[:, 3] = 30.0  # right column
    at_right_edge = np.array([[1.0, 0.25]])  # between the right column's centre and the next repeat
    assert np.allclose(sample_texture(img, at_right_edge, outside="repeat"), 20.0)  # half left, half right
    assert np.allclose(sample_texture(img, at_right_edge, outside="clamp"), 30.0)
    # a whole period further gives the same texel with "repeat"
    uv = np.array([[0.125, 0.25], [1.125, -0.75], [-0.875, 2.25]])
    assert np.allclose(sample_texture(img, uv), 10.0)
    with pytest.raises(ValueError, match="outside"):
        sample_texture(img, uv, outside="mirror")


def test_texture_lookup_of_a_grey_image_gives_three_channels():
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    uv = np.array([[0.5, 0.75]])  # centre of row 0, column 1
    assert np.allclose(sample_texture(grey, uv), [[1.0, 1.0, 1.0]])
