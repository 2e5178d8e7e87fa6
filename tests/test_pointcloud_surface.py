"""Point clouds matched through a surface reconstructed from them (``point_cloud_surface``),
with today's point path as the fallback; generated shapes with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import bumpy, exact_or_adjacent, icosphere, mirrored_copy, permuted_copy, point_cloud

from shapecorr import Shape, match
from shapecorr.core import LowConfidenceWarning, ShapeWarning

pytest.importorskip("pymeshlab")

SMALL = dict(k_init=15, k_final=30, k_descriptor=30, point_cloud_surface="poisson")


@pytest.fixture(scope="module")
def blob():
    return bumpy(3)  # 642 vertices, no symmetry


def _match(a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowConfidenceWarning)
        return match(a, b, "default", **{**SMALL, **kw})


def test_a_permuted_cloud_is_matched_back_through_its_surface(blob):
    """The points of an asymmetric shape against a permuted, moved copy: matched through the
    reconstructed surfaces, the map is the permutation (exact on most points, else a
    neighbour), not its mirror image, and trusted."""
    target, perm = permuted_copy(point_cloud(blob), seed=3, rigid=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapeWarning)  # no fallback to the point path
        m = _match(point_cloud(blob), target)
    assert m.info["proxy"]["reconstructed"] == [True, True]
    assert m.info["proxy"]["surface_normals"] == ["estimated", "estimated"]  # no file normals
    assert m.info["shape_kinds"] == ["point_cloud", "point_cloud"]
    assert len(m.p2p_21) == blob.n_vertices and len(m.p2p_12) == blob.n_vertices
    exact, near = exact_or_adjacent(blob, m.p2p_21, perm)
    assert exact >= 0.7 and near >= 0.98  # measured: 0.78 and 0.994 (the model before: 0.99, 1.0)
    assert m.info["orientation_score_smooth"] > 0.5 and not m.info["confidence_low"]


def test_the_mirror_image_is_not_matched_by_its_reflection(blob):
    """Against the mirror image of the shape (as a permuted cloud), the only isometry is the
    reflection, which reverses orientation: the map through the surfaces is not it."""
    mirror, perm = permuted_copy(point_cloud(mirrored_copy(blob)), seed=7)
    m = _match(point_cloud(blob), mirror)
    assert m.info["proxy"]["reconstructed"] == [True, True]
    assert (m.p2p_21 == perm).mean() < 0.5


def test_a_cloud_that_cannot_be_reconstructed_is_matched_as_points_with_a_warning():
    """Two separate balls make two surfaces: refused, with a warning, and the pair is matched
    as points as before (the same map as with ``point_cloud_surface: none``)."""
    two = np.r_[icosphere(3).vertices, icosphere(3).vertices * 0.8 + [3.0, 0.0, 0.0]]
    a, (b, _) = Shape(two, None, name="two"), permuted_copy(Shape(two, None, name="two"), seed=1)
    with pytest.warns(ShapeWarning, match="2 connected pieces.*Matched as points"):
        m = _match(a, b)
    assert m.info["proxy"] is None
    np.testing.assert_array_equal(m.p2p_21, _match(a, b, point_cloud_surface="none").p2p_21)


def test_without_pymeshlab_clouds_are_matched_as_points_with_a_warning(blob, monkeypatch):
    import shapecorr.core.reconstruct as reconstruct

    monkeypatch.setattr(reconstruct, "have_pymeshlab", lambda: False)
    with pytest.warns(ShapeWarning, match="needs pymeshlab"):
        m = _match(point_cloud(blob), permuted_copy(point_cloud(blob), seed=2)[0])
    assert m.info["proxy"] is None


def test_of_both_paths_the_more_trusted_map_is_kept():
    """An untrusted map through the surfaces against the points' map: the higher confidence
    wins (the surface on ties), and both confidences are reported."""
    from types import SimpleNamespace

    from shapecorr.pipeline import _more_trusted_of_both_paths

    def result(conf):
        return SimpleNamespace(info={"confidence": conf})

    surface, points = result(0.34), result(0.37)
    assert _more_trusted_of_both_paths(surface, points) is points
    assert points.info["point_cloud_paths"] == {"surface_confidence": 0.34, "points_confidence": 0.37, "kept": "points"}
    surface, points = result(0.3), result(0.3)
    assert _more_trusted_of_both_paths(surface, points) is surface
    assert surface.info["point_cloud_paths"]["kept"] == "surface"


def test_by_default_every_cloud_goes_through_a_surface_and_mixed_keeps_two_clouds_as_points(blob):
    """``point_cloud_surface: poisson`` is the default: two clouds go through their surfaces
    too; ``mixed`` (the default before, kept by the fast, axiomatic and zeroshot presets) matches
    two clouds as points and only a mesh and a cloud through the cloud's surface (kept, or
    compared with the points' map when untrusted)."""
    from shapecorr.config import load_preset

    assert load_preset("default").point_cloud_surface == "poisson"
    assert load_preset("accurate").point_cloud_surface == "poisson"
    for name in ("fast", "axiomatic", "zeroshot"):
        assert load_preset(name).point_cloud_surface == "mixed"
    target = permuted_copy(point_cloud(blob), seed=4)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowConfidenceWarning)
        m = match(point_cloud(blob), target, "default", k_init=15, k_final=30, k_descriptor=30)
    assert m.info["proxy"] is not None or "point_cloud_paths" in m.info
    assert _match(point_cloud(blob), target, point_cloud_surface="mixed").info["proxy"] is None
    m = _match(blob, target, point_cloud_surface="mixed")
    assert m.info["proxy"] is not None or "point_cloud_paths" in m.info
