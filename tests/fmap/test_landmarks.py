"""Landmarks: checks, the landmark functions, holding the pairs, and a match they decide."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import ellipsoid, exact_or_adjacent, inverse_permutation, permuted_copy

import shapecorr
from shapecorr.core import DatasetError, SettingsError
from shapecorr.core.indices import read_landmarks
from shapecorr.fmap.landmarks import (check_landmarks, enforce_landmarks, landmark_errors, landmark_functions,
                                      landmark_times)
from shapecorr.fmap.prepare import prepare_shape


@pytest.mark.parametrize("bad, words", [
    ([], "no pairs"),
    ([[1, 2, 3]], "shape (1, 3)"),
    ([[0.5, 2]], "whole numbers"),
    ([[0, 10]], "target vertex 10, but the target has 10 vertices"),
    ([[-1, 0]], "source vertex -1"),
    ([[1, 2], [1, 3]], "source vertex 1 is in more than one pair"),
    ([[1, 2], [3, 2]], "target vertex 2 is in more than one pair"),
])
def test_check_landmarks_says_what_is_wrong(bad, words):
    with pytest.raises(SettingsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_landmarks(bad, 10, 10)
    assert check_landmarks([[1, 2], [3.0, 4]], 10, 10).dtype == np.int64


def test_enforce_and_errors():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 2, 0]])
    p21, p12 = np.array([0, 0, 0]), np.array([1, 1, 1])
    lm = np.array([[2, 1]])
    assert landmark_errors(p21, lm, v).tolist() == [2.0]
    q21, q12 = enforce_landmarks(p21, p12, lm)
    assert q21.tolist() == [0, 2, 0] and q12.tolist() == [1, 1, 1] and p21.tolist() == [0, 0, 0]  # copies
    assert landmark_errors(q21, lm, v).tolist() == [0.0]


def test_landmark_functions_peak_at_their_landmark_and_fall_off():
    shape, _ = ellipsoid(n_lat=16, n_lon=20, radii=(1.0, 0.7, 0.5))
    P = prepare_shape(shape, 40)
    ids = np.array([0, shape.n_vertices - 1])  # the two poles
    times = landmark_times(P.evals, P.evals)
    f = landmark_functions(P.evals, P.evecs, ids, times)
    assert f.shape == (shape.n_vertices, 2 * len(times))
    np.testing.assert_allclose(f[ids, np.arange(2)], 1.0)  # the first time's columns
    z = P.shape.vertices[:, 2]
    for col in range(f.shape[1]):  # the north pole's functions fall towards the south and back
        rho = np.corrcoef(f[:, col], z if col % 2 == 0 else -z)[0, 1]
        assert rho > 0.5


def test_read_landmarks_json_and_text(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"pairs": [[1, 2], [3, 4]]}))
    (tmp_path / "b.json").write_text("[[5, 6]]")
    (tmp_path / "c.txt").write_text("# source target\n7 8\n\n9, 10  # a comment\n")
    assert read_landmarks(tmp_path / "a.json").tolist() == [[1, 2], [3, 4]]
    assert read_landmarks(tmp_path / "b.json").tolist() == [[5, 6]]
    assert read_landmarks(tmp_path / "c.txt").tolist() == [[7, 8], [9, 10]]
    (tmp_path / "d.txt").write_text("1 2 3\n")
    (tmp_path / "e.json").write_text('{"pairs": [[1, 2],')
    (tmp_path / "f.json").write_text('{"pairs": [[1.5, 2]]}')
    (tmp_path / "g.json").write_text('{"landmarks": []}')
    for name, words in (("d.txt", ":1: expected two vertex indices"), ("e.json", "not valid JSON"),
                        ("f.json", "whole numbers"), ("g.json", '"pairs"'), ("missing.txt", "no such landmark file")):
        with pytest.raises(DatasetError, match=words):
            read_landmarks(tmp_path / name)


@pytest.fixture(scope="module")
def two_fold():
    """An ellipsoid tapered along z: its only orientation-preserving self-map besides the identity
    is the half turn about z, (x, y) -> (-x, -y); and a moved, permuted copy of it."""
    shape, _ = ellipsoid(n_lat=12, n_lon=16, radii=(1.0, 0.7, 1.6), taper=0.35)
    n_lon = 16
    turn = np.arange(shape.n_vertices)
    for j in range(1, 12):
        for k in range(n_lon):
            turn[1 + (j - 1) * n_lon + k] = 1 + (j - 1) * n_lon + (k + n_lon // 2) % n_lon
    copy, perm = permuted_copy(shape, seed=5, rigid=True)
    return shape, copy, perm, turn


@pytest.mark.parametrize("which", ["identity", "half turn"])
def test_landmarks_decide_between_the_symmetric_maps(two_fold, which):
    """Both maps fit the shapes equally; the landmarks say which is meant, and the match follows
    them (one of the two runs goes against what the shapes alone would give) and holds them."""
    src, tgt, perm, turn = two_fold
    truth = perm if which == "identity" else turn[perm]  # target vertex j -> source vertex
    inv = inverse_permutation(truth)
    ring = lambda j, k: 1 + (j - 1) * 16 + k  # noqa: E731
    sources = np.array([ring(3, 1), ring(6, 5), ring(9, 2), ring(5, 12)])  # not symmetric under the half turn
    lm = np.stack([sources, inv[sources]], axis=1)
    m = shapecorr.match(src, tgt, landmarks=lm)
    np.testing.assert_array_equal(m.p2p_21[lm[:, 1]], lm[:, 0])
    np.testing.assert_array_equal(m.p2p_12[lm[:, 0]], lm[:, 1])
    exact, near = exact_or_adjacent(src, m.p2p_21, truth)
    assert near > 0.9, (which, exact, near, m.info["init"])
    assert m.info["landmarks"]["pairs"] == 4


def test_match_refuses_bad_landmarks_before_any_work(two_fold):
    src, tgt, _, _ = two_fold
    with pytest.raises(SettingsError, match="target vertex 9999"):
        shapecorr.match(src, tgt, landmarks=[[0, 9999]])
