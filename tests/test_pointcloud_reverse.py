"""The learned initial map in both directions on pairs with a point cloud (``learned_reverse``):
when it runs, and that the reverse candidate is a real, assessed map (known answers on
generated shapes)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, exact_or_adjacent, permuted_copy, point_cloud

from shapecorr import match
from shapecorr.config import SettingsError
from shapecorr.pipeline import load_preset, reverse_learned_map

SMALL = dict(k_init=15, k_final=30, k_descriptor=30, point_cloud_surface="none")  # tiny shapes, the point path


@pytest.fixture(scope="module")
def blob_pcs():
    blob = bumpy(3)  # 642 vertices, no symmetry
    t, perm = permuted_copy(point_cloud(blob), seed=21, rigid=True)
    return blob, point_cloud(blob), t, perm


def test_which_pairs_get_the_reverse_map(blob_pcs):
    blob, cloud, _, _ = blob_pcs
    default = load_preset("default")
    assert default.learned_reverse == "point_clouds"
    assert reverse_learned_map(default, cloud, cloud) and reverse_learned_map(default, blob, cloud)
    assert reverse_learned_map(default, cloud, blob)
    assert not reverse_learned_map(default, blob, blob)  # two meshes: unchanged
    assert reverse_learned_map(default.replace(learned_reverse="always"), blob, blob)
    assert not reverse_learned_map(default.replace(learned_reverse="never"), cloud, cloud)
    with pytest.raises(SettingsError, match="unknown learned_reverse 'sometimes'"):
        load_preset("default", learned_reverse="sometimes")


def test_reverse_candidate_recovers_a_permuted_cloud(blob_pcs):
    """A point cloud against a permuted, rigidly moved copy: both the learned map and the reverse
    candidate (made from the source's side) are assessed, and each finds the permutation."""
    blob, cloud, t, perm = blob_pcs
    m = match(cloud, t, "default", **SMALL)
    inits = [c["init"] for c in m.info["candidates"]]
    assert inits[:2] == ["learned", "learned_reverse"]
    exact, near = exact_or_adjacent(blob, m.p2p_21, perm)
    assert exact >= 0.9 and near >= 0.98
    assert not m.info["confidence_low"]
    # the reverse candidate alone: the same map (learned_reverse "never" keeps only the first)
    one = match(cloud, t, "default", learned_reverse="never", **SMALL)
    assert [c["init"] for c in one.info["candidates"]][:1] == ["learned"]
    assert "learned_reverse" not in [c["init"] for c in one.info["candidates"]]
    rev = [c for c in m.info["candidates"] if c["init"] == "learned_reverse"][0]
    assert rev["confidence"] > 0.5 and rev["orientation_score_smooth"] > 0.8


def test_two_meshes_have_no_reverse_candidate(blob_pcs):
    blob, _, _, _ = blob_pcs
    t, perm = permuted_copy(blob, seed=21, rigid=True)
    m = match(blob, t, "default", **SMALL)
    assert "learned_reverse" not in [c["init"] for c in m.info["candidates"]]
    assert np.mean(m.p2p_21 == perm) >= 0.9
