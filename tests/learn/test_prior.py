"""The learned prior over functional maps: data from ground truth, diffusion training and
sampling on toy distributions with known answers, energy, score and refinement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import bumpy, permuted_copy

from shapecorr.core import SettingsError
from shapecorr.fmap.prepare import prepare_shape
from shapecorr.learn.prior import (
    FmapPrior,
    PriorData,
    PriorNetConfig,
    PriorTrainSettings,
    fmap_from_barycentric,
    fmap_from_correspondence,
    load_denoiser,
    map_statistics,
    prior_energy,
    prior_image,
    refine_toward_prior,
    save_denoiser,
    train_prior,
)
from shapecorr.learn.prior.data import bend, bent_remeshed_copy, midpoint_subdivide
from shapecorr.learn.prior.diffusion import denoising_loss
from shapecorr.learn.prior.train import new_state, validation_loss

K = 8
TINY = PriorNetConfig(k=K, channels=(8, 16), blocks=1, emb=16, groups=4)


# ------------------------------------------------------------------------------- data
def test_a_shape_with_a_permuted_copy_of_itself_gives_a_near_identity_map():
    shape = bumpy(2)
    copy, perm = permuted_copy(shape, 1, rigid=True)  # copy vertex j is shape vertex perm[j]
    P1, P2 = prepare_shape(shape, 12), prepare_shape(copy, 12)
    C = fmap_from_correspondence(P1.evecs, P2.evecs, perm, np.arange(copy.n_vertices), 10)  # (k2, k1)
    A = prior_image(C)
    # the same eigenfunctions up to sign: |C| is the identity
    np.testing.assert_allclose(A, np.eye(10), atol=1e-6)
    assert map_statistics(A)["diagonal_fraction"] > 0.999


def test_a_remeshed_copy_maps_exactly_and_is_near_diagonal():
    shape = bumpy(3)
    dc = bent_remeshed_copy(shape, np.random.default_rng(0), n_joints=0, size_range=(0.8, 0.8))
    assert dc.copy.n_vertices != shape.n_vertices  # another mesh
    P1, P2 = prepare_shape(shape, 14), prepare_shape(dc.copy, 14)
    C12 = fmap_from_barycentric(P1.evecs, shape.faces, dc.face_on_original, dc.bary_on_original, P2.evecs, P2.mass, 10)
    C21 = fmap_from_barycentric(P2.evecs, dc.copy.faces, dc.face_on_copy, dc.bary_on_copy, P1.evecs, P1.mass, 10)
    for C in (C12, C21):
        stats = map_statistics(prior_image(C))
        assert stats["diagonal_fraction"] > 0.9
        assert abs(stats["row_norm"] - 1.0) < 0.05  # an isometry's map is orthogonal
    # the two directions are each other's transpose (adjoint of an isometry)
    np.testing.assert_allclose(np.abs(C12.T), np.abs(C21), atol=0.05)


def test_bend_keeps_vertex_order_and_moves_the_shape():
    v = bumpy(2).vertices
    b = bend(v, np.random.default_rng(2), n_joints=1, max_angle=0.6)
    assert b.shape == v.shape and np.abs(b - v).max() > 1e-3
    vs, fs = midpoint_subdivide(v, bumpy(2).faces)
    assert len(fs) == 4 * len(bumpy(2).faces) and np.allclose(vs[: len(v)], v)


def test_prior_data_round_trip_and_selection(tmp_path):
    maps = np.random.default_rng(0).standard_normal((4, K, K)).astype(np.float32)
    d = PriorData(maps, list("abcd"), list("efgh"), ["pair", "pair", "deformed", "pair"],
                  ["human", "cat", "human", "cat"], {"note": 1})
    d.save(tmp_path / "d.npz")
    e = PriorData.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(e.maps, maps)
    assert e.meta["note"] == 1 and e.counts() == {"deformed/human": 1, "pair/cat": 2, "pair/human": 1}
    assert len(e.select(categories=["human"])) == 2 and len(e.select(kinds=["pair"], categories=["cat"])) == 2
    np.testing.assert_array_equal(e.images(), np.abs(maps))


# ------------------------------------------------------------------------------- toy model
def toy_maps(n: int, seed: int = 0) -> np.ndarray:
    """Near-diagonal 'maps': identity with a small random band (what |C| of real maps looks like)."""
    rng = np.random.default_rng(seed)
    X = np.repeat(np.eye(K)[None], n, 0)
    X += 0.15 * np.abs(rng.standard_normal((n, K, K))) * (np.abs(np.subtract.outer(np.arange(K), np.arange(K))) == 1)
    return X.astype(np.float32)


TWO = np.stack([np.eye(K), np.fliplr(np.eye(K))]).astype(np.float32)  # two far-apart 'maps'


@pytest.fixture(scope="module")
def two_point_prior():
    """A tiny prior trained on two matrices (a known distribution: samples must be one of them)."""
    torch.set_num_threads(1)
    data = np.repeat(TWO, 16, 0)
    s = PriorTrainSettings(steps=250, batch=32, lr=3e-3, warmup=20, ema=0.98, val_fraction=0.0, val_every=250)
    st = train_prior(data, s, TINY)
    return FmapPrior(st.ema, {}, "two")


def test_a_short_training_run_lowers_the_loss():
    torch.set_num_threads(1)
    data = np.repeat(TWO, 16, 0)
    s = PriorTrainSettings(steps=40, batch=16, lr=3e-3, warmup=5, ema=0.0, val_fraction=0.25, val_every=40)
    state = new_state(data, s, TINY)
    val = torch.from_numpy(data[state.val_idx])
    before = validation_loss(state.denoiser, val)
    rows = []
    train_prior(data, s, TINY, state=state, on_eval=lambda st, row: rows.append(row))
    after = validation_loss(state.denoiser, val)
    assert after < 0.8 * before
    assert rows and rows[-1]["step"] == 40 and np.isfinite(rows[-1]["train_loss"])


def test_samples_land_on_the_training_matrices(two_point_prior):
    samples = two_point_prior.sample(8, steps=16, seed=0)
    d = np.sqrt(((samples[:, None] - TWO[None]) ** 2).mean(axis=(2, 3)))  # RMS distance to each
    between = float(np.sqrt(((TWO[0] - TWO[1]) ** 2).mean()))
    assert d.min(1).max() < 0.2 * between
    # deterministic given the seed
    np.testing.assert_array_equal(samples, two_point_prior.sample(8, steps=16, seed=0))


def test_energy_is_low_on_data_and_high_on_a_random_matrix(two_point_prior):
    rng = np.random.default_rng(5)
    clean = torch.from_numpy(TWO[0] * np.where(rng.random((K, K)) < 0.5, -1, 1))  # any signs: |C| is modelled
    random = torch.from_numpy(rng.standard_normal((K, K)).astype(np.float32) * 0.4)
    e = prior_energy(torch.stack([clean, random]), two_point_prior)
    assert e.shape == (2,) and e[0] < 0.5 * e[1]
    assert float(prior_energy(clean, two_point_prior)) == pytest.approx(float(e[0]), rel=1e-5)


@pytest.mark.parametrize("mode", ["full", "sds"])
def test_energy_is_differentiable_and_a_gradient_step_lowers_it(two_point_prior, mode):
    rng = np.random.default_rng(1)
    C = torch.tensor(TWO[0] + 0.2 * rng.standard_normal((K, K)), dtype=torch.float32, requires_grad=True)
    e = prior_energy(C, two_point_prior, mode=mode)
    e.backward()
    assert torch.isfinite(C.grad).all() and C.grad.abs().sum() > 0
    with torch.no_grad():
        C2 = C - 0.05 * C.grad / C.grad.norm()
    assert float(prior_energy(C2, two_point_prior)) < float(e.detach())


def test_refinement_moves_a_noisy_map_toward_the_data_and_keeps_its_signs(two_point_prior):
    rng = np.random.default_rng(3)
    signs = np.where(rng.random((K, K)) < 0.5, -1.0, 1.0)
    clean = TWO[0] * signs
    noisy = clean + 0.15 * rng.standard_normal((K, K))
    out = refine_toward_prior(noisy, two_point_prior, steps=8)
    assert np.linalg.norm(out - clean) < 0.5 * np.linalg.norm(noisy - clean)
    big = np.abs(out) > 0.3
    assert np.all(np.sign(out[big]) == np.sign(noisy[big]))
    # the estimated noise level grows with the noise; a clean map is barely changed
    est = [two_point_prior.estimate_noise_level(np.abs(clean) + s * rng.standard_normal((K, K)))
           for s in (0.02, 0.1, 0.4)]
    assert est[0] < est[1] < est[2]
    assert np.abs(refine_toward_prior(clean, two_point_prior) - clean).max() < 0.1


def test_a_larger_map_is_refined_in_its_leading_block_and_a_smaller_one_is_refused(two_point_prior):
    C = np.random.default_rng(0).standard_normal((K + 3, K + 3))
    out = refine_toward_prior(C, two_point_prior, sigma=0.1, steps=2)
    np.testing.assert_array_equal(out[K:], C[K:])
    np.testing.assert_array_equal(out[:, K:], C[:, K:])
    with pytest.raises(SettingsError, match="at least"):
        refine_toward_prior(C[:K - 1, :K - 1], two_point_prior)


def test_model_file_round_trip(two_point_prior, tmp_path):
    path = save_denoiser(two_point_prior.denoiser, tmp_path / "p.pt", {"hello": "world"})
    den, meta = load_denoiser(path)
    assert meta == {"hello": "world"}
    x = torch.from_numpy(TWO[:1] + 0.1)
    torch.testing.assert_close(den(x, 0.3), two_point_prior.denoiser(x, 0.3))
    loaded = FmapPrior.load(path)
    assert float(loaded.energy(torch.from_numpy(TWO[0]))) == pytest.approx(
        float(two_point_prior.energy(torch.from_numpy(TWO[0]))), rel=1e-6)


def test_denoising_loss_is_per_map():
    s = PriorTrainSettings(steps=1, val_fraction=0.0)
    st = new_state(toy_maps(4), s, TINY)
    loss = denoising_loss(st.denoiser, torch.from_numpy(toy_maps(3)), torch.Generator().manual_seed(0))
    assert loss.shape == (3,) and torch.isfinite(loss).all()


# ------------------------------------------------------------------------ the bundled prior
@pytest.fixture(scope="module")
def bundled():
    from shapecorr.learn.prior import bundled_priors, load_prior

    assert "prior_k30" in bundled_priors()
    return load_prior("prior_k30")


def test_bundled_prior_gives_real_maps_low_energy_and_random_matrices_high(bundled):
    real = np.asarray(bundled.meta["examples"], dtype=np.float32)  # held-out ground-truth |C|
    assert real.shape[1:] == (30, 30) and len(real) >= 4
    rng = np.random.default_rng(0)
    signed = real * np.where(rng.random(real.shape) < 0.5, -1, 1)  # any eigenfunction signs
    rand = rng.standard_normal(real.shape).astype(np.float32) / np.sqrt(30)  # rows of unit norm, like a map
    shuffled = np.stack([r[rng.permutation(30)] for r in real])  # the same entries, rows out of order
    e_real = prior_energy(torch.from_numpy(signed), bundled)
    e_rand = prior_energy(torch.from_numpy(rand), bundled)
    e_shuf = prior_energy(torch.from_numpy(shuffled), bundled)
    assert e_real.max() < e_rand.min() and e_real.max() < e_shuf.min()


def test_bundled_prior_samples_have_the_structure_of_real_maps(bundled):
    samples = bundled.sample(4, steps=8, seed=1)
    real = map_statistics(np.asarray(bundled.meta["examples"]))
    got = map_statistics(samples)
    # near-diagonal: most energy within two of the diagonal, like the real maps; rows near unit norm
    assert got["band_fraction"] > 0.7 and abs(got["band_fraction"] - real["band_fraction"]) < 0.15
    assert abs(got["row_norm"] - real["row_norm"]) < 0.15
    assert map_statistics(np.abs(np.random.default_rng(0).standard_normal((4, 30, 30))))["band_fraction"] < 0.3


def test_scaling_to_an_orthogonal_maps_norm():
    from shapecorr.learn.prior.guidance import scaled_to_orthogonal

    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((K, K)))
    np.testing.assert_allclose(scaled_to_orthogonal(0.26 * q, K), q, atol=1e-12)  # a shrunk orthogonal map
    big = np.random.default_rng(1).standard_normal((K + 2, K + 2))
    assert np.linalg.norm(scaled_to_orthogonal(big, K)[:K, :K]) == pytest.approx(np.sqrt(K))
