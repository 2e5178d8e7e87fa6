"""Colours, labels and fields through a map."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.core import TextureError
from shapecorr.transfer import sample_texture, transfer_colors, transfer_field, transfer_labels


def test_sample_texture_uses_obj_orientation():
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[0, 0] = (255, 0, 0)  # top-left pixel = uv (0, 1)
    img[3, 3] = (0, 0, 255)  # bottom-right = uv (1, 0)
    got = sample_texture(img, np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]))
    assert tuple(got[0]) == (255, 0, 0) and tuple(got[1]) == (0, 0, 255)
    assert got.dtype == np.uint8


def test_colors_exact_on_permuted_copy(blob_pair):
    src, tgt, match, perm = blob_pair
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, size=(src.n_vertices, 3)).astype(np.uint8)
    src_c = src.copy(vertex_colors=colors)
    for method in ("spectral", "vertex", "register"):  # register: the default
        out = transfer_colors(match, src_c, tgt, method=method)
        assert out.dtype == np.uint8 and np.array_equal(out, colors[perm]), method
    floats = colors / 255.0
    out = transfer_colors(match, src, tgt, floats)
    assert out.dtype == floats.dtype and np.allclose(out, floats[perm])


def test_colors_from_texture_when_no_vertex_colors(blob_pair):
    src, tgt, match, perm = blob_pair
    out = transfer_colors(match, src, tgt)
    assert out.shape == (tgt.n_vertices, 3) and out.dtype == np.uint8
    # the texture is red on the left chart (x <= 0) and blue on the right one (x > 0)
    x = src.vertices[perm, 0]
    assert (out[x < -0.2, 0] > 150).all() and (out[x > 0.2, 2] > 150).all()


def test_colors_errors(blob_pair):
    src, tgt, match, _ = blob_pair
    plain = Shape(src.vertices, src.faces)
    with pytest.raises(TextureError, match="neither vertex colours nor a UV texture"):
        transfer_colors(match, plain, tgt)
    with pytest.raises(ValueError, match="rows"):
        transfer_colors(match, src, tgt, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown method 'magic'; use one of spectral, vertex, register"):
        transfer_colors(match, src, tgt, method="magic")


def test_colors_to_a_point_cloud_target(blob_pair):
    src, tgt, match, perm = blob_pair
    cloud = Shape(tgt.vertices, None)
    colors = np.arange(src.n_vertices * 3).reshape(-1, 3) % 256
    out = transfer_colors(match, src.copy(vertex_colors=colors.astype(np.uint8)), cloud, method="vertex")
    assert np.array_equal(out, colors[perm])


def test_labels_nearest_and_vote(blob_pair):
    src, tgt, match, perm = blob_pair
    labels = (src.vertices[:, 0] > 0).astype(int) + 2 * (src.vertices[:, 2] > 0.2)
    assert np.array_equal(transfer_labels(match, src, tgt, labels), labels[perm])
    noisy = labels.copy()
    lonely = int(np.argmin(np.abs(src.vertices[:, 0] + 0.5) + np.abs(src.vertices[:, 2])))  # inside label 0
    noisy[lonely] = 7
    voted = transfer_labels(match, src, tgt, noisy, method="vote")
    j = int(np.flatnonzero(perm == lonely)[0])
    assert voted[j] == labels[lonely]  # an isolated label is voted away
    assert np.array_equal(voted, labels[perm])  # and nothing else changes: borders stay
    assert np.array_equal(transfer_labels(match, src, tgt, labels, method="vote", vote_rings=2), labels[perm])
    with pytest.raises(ValueError, match="one entry per source vertex"):
        transfer_labels(match, src, tgt, labels[:-1])
    with pytest.raises(ValueError, match="unknown label method"):
        transfer_labels(match, src, tgt, labels, method="magic")
    for points in ("spectral", "vertex"):  # the default is the registration's points
        assert np.array_equal(transfer_labels(match, src, tgt, labels, points=points), labels[perm]), points
    with pytest.raises(ValueError, match="unknown points 'magic'"):
        transfer_labels(match, src, tgt, labels, points="magic")


def test_fields_spectral_exact_and_fmap_smooth(blob_pair):
    src, tgt, match, perm = blob_pair
    f = src.vertices[:, 0] + 0.5 * src.vertices[:, 1] ** 2
    assert np.allclose(transfer_field(match, src, tgt, f, method="spectral"), f[perm])
    assert np.allclose(transfer_field(match, src, tgt, f, method="vertex"), f[perm])
    assert np.allclose(transfer_field(match, src, tgt, f), f[perm])  # the registration's points, the default
    smooth = transfer_field(match, src, tgt, f, method="fmap")  # band-limited to k = 20
    assert smooth.shape == (tgt.n_vertices,)
    assert np.corrcoef(smooth, f[perm])[0, 1] > 0.98
    vec = np.stack([f, -f], 1)
    assert transfer_field(match, src, tgt, vec, method="fmap").shape == (tgt.n_vertices, 2)
    with pytest.raises(ValueError, match="NaN"):
        transfer_field(match, src, tgt, np.full(src.n_vertices, np.nan))
    with pytest.raises(ValueError, match="unknown field method"):
        transfer_field(match, src, tgt, f, method="magic")
