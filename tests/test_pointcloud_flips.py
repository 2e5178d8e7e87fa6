"""Left from right on point clouds: the pipeline's orientation term, orientation scores,
confidence gate and axiomatic fallback with estimated normals and local triangles
(``shapecorr.core.pointcloud``), on generated shapes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, ellipsoid, exact_or_adjacent, inverse_permutation, mirrored_copy, permuted_copy, point_cloud

from shapecorr import match
from shapecorr.config import SolveSettings
from shapecorr.core import LowConfidenceWarning
from shapecorr.fmap import fmap_to_p2p, p2p_to_fmap
from shapecorr.pipeline import (
    FEATURE_SOLVES,
    POINT_CLOUD_ORIENT_MULTIPLIERS,
    Candidate,
    assess,
    confidence_descriptors,
    load_preset,
    point_cloud_solve,
    prepare,
)

SMALL = dict(k_init=15, k_final=30, k_descriptor=30, point_cloud_surface="none")  # tiny shapes, the point path


@pytest.fixture(scope="module")
def blob_pc():
    return point_cloud(bumpy(3))  # 642 points, no symmetry


def _assessed(P1, P2, p2p_21: np.ndarray, k: int = 30) -> Candidate:
    """A given vertex map between prepared shapes, as the pipeline assesses a candidate."""
    C = p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, P2.mass, k1=k, k2=k)
    p2p_12 = fmap_to_p2p(C.T, P2.evecs[:, :k], P1.evecs[:, :k])
    return assess(Candidate("given", k, None, C, p2p_21, p2p_12), P1, P2,
                  (confidence_descriptors(P1), confidence_descriptors(P2)))


@pytest.mark.parametrize("preset", ["default", "axiomatic"])
@pytest.mark.parametrize("seed", [22, 25])
def test_symmetric_point_cloud_is_not_flipped(seed, preset):
    """A left-right symmetric shape (no other symmetry) as a point cloud against a permuted,
    moved point-cloud copy: WKS cannot tell the identity from the mirror map; the learned
    features (default) and the orientation term on estimated normals (axiomatic) return the
    identity, scored as orientation-preserving, and the mirror map is scored as a flip."""
    e, mirror = ellipsoid(16, 24, bend=0.15, taper=0.3)
    t, perm = permuted_copy(point_cloud(e), seed=seed, rigid=True)
    m = match(point_cloud(e), t, preset, **SMALL)
    exact, near = exact_or_adjacent(e, m.p2p_21, perm)  # adjacency of the mesh the points came from
    flipped, _ = exact_or_adjacent(e, m.p2p_21, mirror[perm])
    assert exact >= 0.9 and near >= 0.98
    assert flipped < 0.2
    assert m.info["orientation_score_smooth"] > 0.8 and m.info["orientation_score"] > 0.5
    assert not m.info["confidence_low"]
    s = load_preset(preset, **SMALL)
    P1, P2 = prepare(point_cloud(e), s), prepare(t, s)
    flip = _assessed(P1, P2, mirror[perm])
    assert flip.orientation_score_smooth < -0.8 and flip.orientation_score < -0.5
    assert flip.confidence.low and flip.trust < 0.05  # a whole mirror image is not trusted


@pytest.mark.parametrize("preset", ["default", "axiomatic"])
def test_mirrored_point_cloud_is_not_matched_by_its_reflection(blob_pc, preset):
    """The mirror image of an asymmetric shape, as a permuted point cloud: the reflection is the
    only isometry, and it reverses orientation; the orientation-aware match does not return it
    (and keeps its orientation score positive)."""
    mir, perm = permuted_copy(point_cloud(mirrored_copy(bumpy(3))), seed=7)
    m = match(blob_pc, mir, preset, **SMALL)
    reflection = perm  # vertex j of the copy is the mirror image of vertex perm[j]
    assert (m.p2p_21 == reflection).mean() < 0.5
    assert m.info["orientation_score_smooth"] > 0


def test_reflection_of_a_point_cloud_gets_low_confidence(blob_pc):
    """Without the orientation term the reflection is what the solver finds; the point-cloud
    orientation scores then read about -1 and the confidence gate leaves it untrusted, where the
    correct map to a permuted copy scores about +1 and is trusted."""
    s = load_preset("default", **SMALL)
    mir = point_cloud(mirrored_copy(bumpy(3)))
    P1, P2 = prepare(blob_pc, s), prepare(mir, s)
    n = blob_pc.n_vertices
    flip = _assessed(P1, P2, np.arange(n))
    assert flip.orientation_score_smooth < -0.8
    assert flip.confidence.low and flip.trust < 0.05
    assert "mirror" in flip.confidence.advice or "orientation" in flip.confidence.advice.lower()
    t, perm = permuted_copy(blob_pc, seed=9, rigid=True)
    good = _assessed(P1, prepare(t, s), perm)
    assert good.orientation_score_smooth > 0.8 and not good.confidence.low


def test_orientation_blind_match_of_a_mirror_point_cloud_is_flagged(blob_pc):
    """An orientation-blind solve (no orientation term, no flip check) of a mirrored point cloud
    finds the reflection; the pipeline flags it as reversing and not trusted."""
    mir = point_cloud(mirrored_copy(bumpy(3)))
    with pytest.warns(LowConfidenceWarning, match="mirrored"):
        m = match(blob_pc, mir, "fast", init="axiomatic", w_orient=1e-12, flip_check=False, **SMALL)
    assert (m.p2p_21 == np.arange(blob_pc.n_vertices)).mean() > 0.8
    assert m.info["orientation_score_smooth"] < -0.8
    assert m.info["confidence_low"]


def test_untrusted_learned_map_of_point_clouds_runs_the_fallback(blob_pc):
    """Point-cloud pairs get the axiomatic fallback (orientation term on estimated normals) when
    the learned map is not trusted (forced here by ``fallback_below=1``), with the point-cloud
    w_orient multipliers; the best candidate is still the permutation."""
    t, perm = permuted_copy(blob_pc, seed=11, rigid=True)
    m = match(blob_pc, t, "default", fallback_below=1.0, **SMALL)
    assert m.info["axiomatic_fallback"]
    fallback = [c for c in m.info["candidates"] if c["init"] == "axiomatic_fallback"]
    assert fallback and all(c["orientation_score_smooth"] is not None for c in fallback)
    # first the exact solves on the learned features, every one of them (capped by the basis)
    solves = [(c["k_init"], c["w_orient_multiplier"]) for c in m.info["candidates"] if c["init"] == "features_fallback"]
    assert solves == [(k, w) for k, w in FEATURE_SOLVES if k <= min(m.info["k_basis"])] and solves
    assert exact_or_adjacent(bumpy(3), m.p2p_21, perm)[1] >= 0.98
    exact, _ = exact_or_adjacent(bumpy(3), m.p2p_12, inverse_permutation(perm))
    assert exact >= 0.9


def test_point_cloud_solve_adds_the_point_cloud_multipliers_once():
    solve = SolveSettings(orient_candidates=(1.0, 3.0))
    got = point_cloud_solve(solve).orient_candidates
    assert got[:2] == (1.0, 3.0)
    assert sorted(got) == sorted(set((1.0, 3.0) + POINT_CLOUD_ORIENT_MULTIPLIERS))


def test_meshes_fall_back_without_the_point_cloud_candidates():
    """Two meshes whose learned map is not trusted (forced by ``fallback_below=1``) run the exact
    solves on the learned features first, every one of them, and then the axiomatic fallback
    with the solve's own multipliers (not the point-cloud ones); the most trusted map is the
    permutation. Adaptation is decided on the learned map alone (trusted here: no adaptation)."""
    blob = bumpy(3)
    t, perm = permuted_copy(blob, seed=11, rigid=True)
    m = match(blob, t, "default", fallback_below=1.0, **SMALL)
    kinds = [c["init"] for c in m.info["candidates"]]
    solves = [(c["k_init"], c["w_orient_multiplier"]) for c in m.info["candidates"] if c["init"] == "features_fallback"]
    assert solves == [(k, w) for k, w in FEATURE_SOLVES if k <= min(m.info["k_basis"])] and solves
    assert kinds[0] == "learned" and kinds[1:1 + len(solves)] == ["features_fallback"] * len(solves)
    assert "axiomatic_fallback" in kinds and not m.info["adaptation"]["ran"]
    mults = [c["w_orient_multiplier"] for c in m.info["candidates"] if c["init"] == "axiomatic_fallback"]
    assert set(mults) <= set(load_preset("default").fallback_solve_settings().orient_candidates)
    assert exact_or_adjacent(blob, m.p2p_21, perm)[1] >= 0.98


def test_an_untrusted_fallback_map_does_not_replace_the_learned_map_of_a_point_cloud():
    """On a pair with a point cloud the fallback's most trusted map replaces the learned map only
    when it is trusted itself; on two meshes the most trusted map wins as always."""
    from types import SimpleNamespace

    from shapecorr.pipeline import _Run

    def cand(kind, value, low):
        c = Candidate(kind, 30, None, np.eye(2), np.zeros(2, int), np.zeros(2, int))
        c.confidence = SimpleNamespace(value=value, low=low)
        return c

    learned, weak, strong = cand("learned", 0.2, True), cand("features_fallback", 0.4, True), \
        cand("features_fallback", 0.9, False)
    run = _Run(load_preset("default"), "cpu", None, None)
    for kinds, expect_weak in (((False, True), learned), ((True, True), weak)):
        run.P1, run.P2 = (SimpleNamespace(shape=SimpleNamespace(is_mesh=m)) for m in kinds)
        assert run._select_fallback([learned, weak], learned) is expect_weak
        assert run._select_fallback([learned, weak, strong], learned) is strong
