"""The learned prior as the regularizer of the functional-map layer and the self-supervised
loss (shapecorr.learn.prior.distill), and zero-shot matching with it (the ``zeroshot`` preset):
known answers are the bundled prior's held-out ground-truth maps (low) against random matrices
(high), and a shape against a bent, vertex-permuted copy of itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import bumpy

from shapecorr.core import SettingsError
from shapecorr.fmap.prepare import prepare_shape
from shapecorr.learn.fmap_layer import fmap_from_features
from shapecorr.learn.prior import load_prior
from shapecorr.learn.prior.data import bend
from shapecorr.learn.prior.distill import prior_entry_mask, prior_penalty
from shapecorr.learn.selfsup import LossWeights, SpectralData, unsupervised_pair_loss


@pytest.fixture(scope="module")
def prior():
    return load_prior("prior_k30")


@pytest.fixture(scope="module")
def maps(prior):
    """Held-out ground-truth maps ``|C|`` with random eigenfunction signs, and random matrices
    with rows of unit norm (the scale of a map)."""
    rng = np.random.default_rng(0)
    real = np.asarray(prior.meta["examples"], dtype=np.float32)
    signed = real * np.where(rng.random(real.shape) < 0.5, -1, 1)
    rand = rng.standard_normal(real.shape).astype(np.float32) / np.sqrt(30)
    return torch.from_numpy(signed), torch.from_numpy(rand)


def test_entry_mask_is_low_on_real_maps_and_high_on_random_ones(prior, maps):
    real, rand = maps
    D = prior_entry_mask(prior).float()
    assert D.shape == (30, 30) and float(D.min()) == 0.0
    np.testing.assert_array_equal(D.min(dim=1).values.numpy(), 0.0)  # each row has a free entry
    e_real = (D * real ** 2).sum(dim=(1, 2))
    e_rand = (D * rand ** 2).sum(dim=(1, 2))
    assert float(e_real.max()) * 3 < float(e_rand.min())
    # the free entries are near the diagonal, as in real maps: the diagonal costs far less than the corners
    assert float(torch.diagonal(D).mean()) < 0.1 * float(D[20:, :5].mean())


def test_entry_mask_is_deterministic_and_refuses_larger_maps(prior):
    np.testing.assert_array_equal(prior_entry_mask(prior, 12).numpy(), prior_entry_mask(prior, 12).numpy())
    with pytest.raises(SettingsError, match="at most 30"):
        prior_entry_mask(prior, 31)


def test_penalty_is_low_on_real_maps_and_high_on_random_ones(prior, maps):
    real, rand = maps
    e_real = torch.stack([prior_penalty(c, prior) for c in real])
    e_rand = torch.stack([prior_penalty(c, prior) for c in rand])
    assert float(e_real.max()) < float(e_rand.min())
    assert float(prior_penalty(real, prior)) == pytest.approx(float(e_real.sum()), rel=1e-5)  # a batch sums


def test_penalty_gradient_step_moves_a_noisy_map_toward_the_real_one(prior, maps):
    real, _ = maps
    C0 = real[0] + 0.15 * torch.from_numpy(np.random.default_rng(3).standard_normal((30, 30)).astype(np.float32))
    C = C0.clone().requires_grad_(True)
    prior_penalty(C, prior).backward()
    C1 = (C - 2e-4 * C.grad).detach()
    assert float(prior_penalty(C1, prior)) < float(prior_penalty(C0, prior))
    assert float(torch.linalg.norm(C1.abs() - real[0].abs())) < float(torch.linalg.norm(C0.abs() - real[0].abs()))


@pytest.fixture(scope="module")
def blob():
    """An asymmetric blob and a vertex-permuted copy made by permuting the arrays."""
    P = prepare_shape(bumpy(3), 40, cache=False)
    perm = np.random.default_rng(5).permutation(P.shape.n_vertices)
    sx = SpectralData.from_numpy(P.evals, P.evecs, P.mass, 30, dtype=torch.float64)
    sy = SpectralData.from_numpy(P.evals, P.evecs[perm], P.mass[perm], 30, dtype=torch.float64)
    return P, perm, sx, sy


def test_layer_with_the_prior_mask_recovers_the_true_map_of_a_permuted_copy(blob, prior):
    _, perm, sx, sy = blob
    f = torch.nn.functional.normalize(torch.from_numpy(np.random.default_rng(0).standard_normal((len(perm), 64))), dim=1)
    D = prior_entry_mask(prior)
    C = fmap_from_features(f, f[perm], sx, sy, lam=0.03, mask=D)
    np.testing.assert_allclose(C.numpy(), np.eye(30), atol=0.05)  # the same eigenbasis: the identity
    with pytest.raises(ValueError, match="mask"):
        fmap_from_features(f, f[perm], sx, sy, mask=D[:10])


def test_prior_loss_replaces_orthogonality_and_commutativity_and_prefers_the_true_map(blob):
    P, perm, sx, sy = blob
    phi = P.evecs[:, 1:9]
    fx = torch.from_numpy(np.concatenate([np.abs(phi), phi[:, :4] * phi[:, 4:8], P.shape.vertices ** 2], axis=1))
    order = np.argsort(P.shape.vertices[:, 0])  # a reflection-like wrong map
    swap = np.empty_like(order)
    swap[order] = order[::-1]
    w = LossWeights(couple_points=None, regularizer="prior")
    good, parts = unsupervised_pair_loss(fx, fx[perm], sx, sy, w)
    bad, _ = unsupervised_pair_loss(fx, fx[swap][perm], sx, sy, w)
    assert set(parts) == {"bij", "prior", "couple"}
    assert float(good) < 0.5 * float(bad)
    g = fx.clone().requires_grad_(True)
    unsupervised_pair_loss(g, fx[perm], sx, sy, w)[0].backward()
    assert torch.isfinite(g.grad).all() and float(g.grad.abs().sum()) > 0
    small = SpectralData.from_numpy(P.evals, P.evecs, P.mass, 20)
    with pytest.raises(SettingsError, match="30 x 30"):
        unsupervised_pair_loss(fx.float(), fx[perm].float(), small, small, w)


@pytest.mark.parametrize("kw, match", [({"regularizer": "diffusion"}, "regularizer"),
                                       ({"prior_w": -1.0}, "prior_w"),
                                       ({"regularizer": "prior", "bij": 0, "couple": 0, "prior_w": 0}, "weight 0")])
def test_prior_loss_settings_are_validated(kw, match):
    with pytest.raises(SettingsError, match=match):
        LossWeights(**kw)


def _bent_permuted_copy():
    """A small shape and a copy bent at one joint with its vertices permuted, ``(shape, copy,
    perm)``: vertex ``j`` of ``copy`` is vertex ``perm[j]`` of ``shape``, bent."""
    from shapecorr.core import Shape

    shape = bumpy(3)
    rng = np.random.default_rng(1)
    bent = bend(shape.vertices, rng, n_joints=1, max_angle=0.4)
    perm = rng.permutation(shape.n_vertices)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return shape, Shape(bent[perm], inv[shape.faces], name="copy"), perm


def test_zeroshot_recovers_a_bent_permuted_copy():
    """The ``zeroshot`` preset (a random network trained on this pair with the prior as its
    regularizer; no trained feature model) maps a bent, vertex-permuted copy of a shape back."""
    from shapecorr import match

    shape, copy, perm = _bent_permuted_copy()
    stages = []
    m = match(shape, copy, "zeroshot", zeroshot_steps=8, k_final=40, use_fallback=False, cache=False, feature_threads=1,
              progress=lambda stage, frac: stages.append(stage))
    assert m.info["init"] == "zeroshot" and m.info["feature_model"] is None
    assert any(s.startswith("zero-shot step 8/8") for s in stages)  # progress while it runs
    d = np.linalg.norm(shape.vertices[m.p2p_21] - shape.vertices[perm], axis=1)  # target j is source perm[j]
    assert np.mean(d) < 0.03 * np.ptp(shape.vertices, axis=0).max()
    assert np.mean(m.p2p_21 == perm) > 0.5


def test_zeroshot_settings_are_validated():
    from shapecorr.config import load_preset

    s = load_preset("zeroshot")
    assert s.init == "zeroshot" and s.zeroshot_regularizer == "prior"
    with pytest.raises(SettingsError, match="zeroshot_regularizer"):
        load_preset("zeroshot", zeroshot_regularizer="none")
    with pytest.raises(SettingsError, match="zeroshot_prior"):
        load_preset("zeroshot", zeroshot_prior="no_such_prior")
    with pytest.raises(SettingsError, match="zeroshot_steps"):
        load_preset("zeroshot", zeroshot_steps=-1)


def _mirrored_pair(seed: int = 2):
    """A blob symmetric under x -> -x (and with no other symmetry), and its mirror image with
    its vertices permuted: ``(shape, mirror, perm, sym)``. Mirror vertex j is the reflection of
    shape vertex ``perm[j]``, which lies where shape vertex ``sym[perm[j]]`` is: the
    orientation-preserving map sends mirror vertex j to ``sym[perm[j]]`` (the same place), the
    mirror-image one to ``perm[j]`` (the same label: intrinsically as good, orientation reversed)."""
    import trimesh
    from scipy.spatial import cKDTree

    from shapecorr.core import Shape

    ico = trimesh.creation.icosphere(subdivisions=3)
    p = np.asarray(ico.vertices)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    r = 1.0 + 0.15 * np.cos(2.1 * x) + 0.10 * np.cos(2.7 * y - 0.9) + 0.08 * np.sin(3.3 * z + 1.3) + 0.06 * y * z * z
    v = p * r[:, None] * np.array([1.0, 0.75, 0.55])
    shape = Shape(v, np.asarray(ico.faces), name="symmetric")
    dist, sym = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    assert dist.max() < 1e-9  # the blob is exactly symmetric (the icosphere is)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(v))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    mirror = Shape(mirrored[perm], inv[np.asarray(ico.faces)][:, ::-1], name="mirror")  # rewound: outward again
    return shape, mirror, perm, sym


def test_orientation_term_tells_a_map_from_its_mirror_image():
    """On a shape and its mirror image the same-label map is intrinsically perfect (the functional
    map is the identity up to signs), but it reverses orientation: the orientation term is about
    4 for it and about 0 for the orientation-preserving map (the same places)."""
    from shapecorr.fmap import p2p_to_fmap
    from shapecorr.learn.selfsup import orientation_loss
    from shapecorr.pipeline import zeroshot_orientation_operators
    from shapecorr.config import SolveSettings

    shape, mirror, perm, sym = _mirrored_pair()
    P1, P2 = (prepare_shape(s, 30, cache=False) for s in (shape, mirror))
    O1, O2 = (torch.as_tensor(o) for o in zeroshot_orientation_operators(P1, P2, 20, SolveSettings()))
    assert O1.shape == O2.shape == (50, 20, 20)
    same_label = torch.as_tensor(p2p_to_fmap(perm, P1.evecs, P2.evecs, P2.mass, k1=20, k2=20))
    same_place = torch.as_tensor(p2p_to_fmap(sym[perm], P1.evecs, P2.evecs, P2.mass, k1=20, k2=20))
    assert float(orientation_loss(same_label, O1, O2)) > 3.0
    assert float(orientation_loss(same_place, O1, O2)) < 0.5
    # without orientation operators the loss has no such term, with them it is weighted in
    spec = [SpectralData.from_numpy(P.evals, P.evecs, P.mass, k=20, orient=O.numpy()) for P, O in ((P1, O1), (P2, O2))]
    f = torch.randn(shape.n_vertices, 8, generator=torch.Generator().manual_seed(0))
    _, parts = unsupervised_pair_loss(f, f[torch.as_tensor(perm)], spec[0], spec[1], LossWeights(orient=2.0))
    assert parts["orient"] > 0
    _, parts = unsupervised_pair_loss(f, f[torch.as_tensor(perm)], spec[0], spec[1], LossWeights())
    assert "orient" not in parts


def test_zeroshot_does_not_match_a_mirrored_copy_as_a_flip():
    """The ``zeroshot`` preset's map from a symmetric shape to its permuted mirror image is the
    orientation-preserving one (mirror vertices go to the same places), not the mirror-image
    map that every intrinsic term likes as much (the same labels). (On this clean, rigid case
    the random network's orientation-sensitive features find it even without the orientation
    term; the term's own known answer is the test above.)"""
    from shapecorr import match

    shape, mirror, perm, sym = _mirrored_pair()
    m = match(shape, mirror, "zeroshot", zeroshot_steps=8, k_final=40, use_fallback=False, cache=False,
              feature_threads=1)
    place = np.linalg.norm(shape.vertices[m.p2p_21] - shape.vertices[sym[perm]], axis=1).mean()
    label = np.linalg.norm(shape.vertices[m.p2p_21] - shape.vertices[perm], axis=1).mean()
    assert place < 0.03 * np.ptp(shape.vertices, axis=0).max() < label


def test_zeroshot_retries_other_starts_only_while_untrusted():
    """``zeroshot_retries``: an untrusted zero-shot map (two different blobs: no isometry to
    find) is followed by maps from other random starts, each a candidate; a trusted one (a
    bent copy) is not retried."""
    from shapecorr import match
    from shapecorr.core import Shape

    shape = bumpy(3)
    other = Shape(shape.vertices * np.array([1.6, 0.7, 0.9]) + 0.2 * np.sin(3 * shape.vertices[:, [1, 2, 0]]),
                  shape.faces, name="other")
    kw = dict(zeroshot_steps=2, k_final=40, use_fallback=False, cache=False, feature_threads=1, zeroshot_retries=2,
              zeroshot_solves=[])
    with pytest.warns(Warning):
        m = match(shape, other, "zeroshot", **kw)
    tried = [c for c in m.info["candidates"] if c["init"] == "zeroshot"]
    assert len(tried) == 3 and all(c["confidence"] < m.info["confidence_threshold"] for c in tried)
    signals = [tuple(sorted((k, round(v, 6)) for k, v in c["confidence_signals"].items() if v is not None)) for c in tried]
    assert len(set(signals)) == 3  # other starts, other maps
    rng = np.random.default_rng(1)
    copy = Shape(bend(shape.vertices, rng, n_joints=1, max_angle=0.4), shape.faces, name="copy")
    m = match(shape, copy, "zeroshot", **kw)
    assert [c["init"] for c in m.info["candidates"]] == ["zeroshot"] and not m.info["confidence_low"]


def test_zeroshot_retries_are_validated():
    from shapecorr.config import load_preset

    with pytest.raises(SettingsError, match="zeroshot_retries"):
        load_preset("zeroshot", zeroshot_retries=-1)
    with pytest.raises(SettingsError, match="zeroshot_orient"):
        load_preset("zeroshot", zeroshot_orient=-1.0)


def test_zeroshot_solves_are_candidates_on_two_meshes():
    """``zeroshot_solves``: the zero-shot features are also matched by the exact solve, one candidate
    per ``(k_init, w_orient multiplier)``, after the zero-shot map; on a bent, permuted copy each is
    trusted and the kept map recovers the permutation. Empty: only the zero-shot map."""
    from shapecorr import match

    shape, copy, perm = _bent_permuted_copy()
    kw = dict(zeroshot_steps=8, k_final=40, use_fallback=False, cache=False, feature_threads=1)
    m = match(shape, copy, "zeroshot", zeroshot_solves=[[20, 1.0], [30, 10.0]], **kw)
    cands = m.info["candidates"]
    assert [(c["init"], c["k_init"], c["w_orient_multiplier"]) for c in cands] == [
        ("zeroshot", 30, None), ("zeroshot_solve", 20, 1.0), ("zeroshot_solve", 30, 10.0)]
    assert all(c["confidence"] > m.info["confidence_threshold"] for c in cands)
    assert np.mean(m.p2p_21 == perm) > 0.5
    m = match(shape, copy, "zeroshot", zeroshot_solves=[], **kw)
    assert [c["init"] for c in m.info["candidates"]] == ["zeroshot"]


def test_zeroshot_solves_are_validated():
    from shapecorr.config import load_preset
    from shapecorr.learn.prior.zeroshot import ZEROSHOT_SOLVES
    from shapecorr.pipeline import zeroshot_solves

    assert zeroshot_solves(load_preset("zeroshot")) == ZEROSHOT_SOLVES
    assert load_preset("zeroshot", zeroshot_solves=[[20, 1]]).zeroshot_solves == ((20, 1.0),)
    for bad in ([[20]], [[1, 1.0]], [[20, -1.0]], "20,1"):
        with pytest.raises(SettingsError, match="zeroshot_solves"):
            load_preset("zeroshot", zeroshot_solves=bad)


def test_zeroshot_retries_only_while_the_kept_map_is_untrusted(monkeypatch):
    """A retry starts after the fallback, and only while the map kept so far is untrusted: with the
    fallback's trusted map (a bent copy) no retry runs; without the fallback one does."""
    import shapecorr.pipeline as pipeline
    from shapecorr import match
    from shapecorr.core import Shape

    shape = bumpy(3)
    copy = Shape(bend(shape.vertices, np.random.default_rng(1), n_joints=1, max_angle=0.4), shape.faces, name="copy")
    seeds = []

    def noise(P1, P2, k, s, *, device="cpu", progress=None, seed=None):  # features that match nothing
        seeds.append(seed)
        rng = np.random.default_rng(seed)
        return tuple(f / np.linalg.norm(f, axis=1, keepdims=True) for f in
                     (rng.normal(size=(P.shape.n_vertices, 16)) for P in (P1, P2)))

    monkeypatch.setattr(pipeline, "zeroshot_pair_features", noise)
    kw = dict(k_final=40, cache=False, feature_threads=1, zeroshot_retries=1, zeroshot_solves=[])
    m = match(shape, copy, "zeroshot", **kw)
    assert seeds == [0] and m.info["init"] == "axiomatic_fallback" and not m.info["confidence_low"]
    seeds.clear()
    with pytest.warns(Warning):
        m = match(shape, copy, "zeroshot", use_fallback=False, **kw)
    assert seeds == [0, 1] and [c["init"] for c in m.info["candidates"]] == ["zeroshot", "zeroshot"]
