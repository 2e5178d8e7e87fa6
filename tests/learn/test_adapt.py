"""Test-time adaptation: on a deliberately perturbed network, a few steps of the
self-supervised loss on the pair itself make the feature map of a blob and its bent, permuted
copy much better; the given model is not changed; the same seed gives the same features;
zero steps give the model's own features; bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import bumpy, permuted_copy

from shapecorr.core.errors import SettingsError
from shapecorr.fmap.convert import knn_blocked
from shapecorr.fmap.prepare import prepare_shape
from shapecorr.learn import (
    FeatureModel,
    NumpyFeatureNet,
    load_feature_model,
    surface_operators,
)
from shapecorr.learn.adapt import adapt_features, frozen_prefix, head
from shapecorr.learn.selfsup import SpectralData


def bent(shape, amount: float = 0.6):
    """``shape`` twisted about the x axis by an angle growing along x (a smooth, nearly
    isometric deformation; vertex order unchanged)."""
    v = shape.vertices.copy()
    a = amount * v[:, 0]
    c, s = np.cos(a), np.sin(a)
    v[:, 1], v[:, 2] = c * v[:, 1] - s * v[:, 2], s * v[:, 1] + c * v[:, 2]
    return shape.copy(vertices=v)


@pytest.fixture(scope="module")
def pair():
    """A 642-vertex blob and a bent, permuted, rigidly moved copy (copy vertex j is blob vertex
    perm[j]), prepared as the matcher does; the bundled model's last block and output layer
    perturbed by noise of the size of their weights."""
    base = bumpy(3)
    copy, perm = permuted_copy(bent(base), seed=4, rigid=True)
    model = load_feature_model("faust_r_wks")
    rng = np.random.default_rng(0)
    noisy_weights = {k: v + v.std() * rng.standard_normal(v.shape).astype(np.float32)
                     if k.startswith(("blocks.3.", "last.")) else v for k, v in model.net.state_dict().items()}
    noisy = FeatureModel(NumpyFeatureNet(model.config, noisy_weights))
    Ps = [prepare_shape(s, 100, cache=False) for s in (base, copy)]
    ops = [surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, model.config) for P in Ps]
    specs = [SpectralData.from_numpy(P.evals, P.evecs, P.mass, 20) for P in Ps]
    return noisy, Ps, ops, specs, perm


def map_error(Ps, perm, fx, fy) -> float:
    """Mean distance (x100, unit-area blob) from each copy vertex's feature nearest neighbour
    on the blob to its true match."""
    p = knn_blocked(fy, fx)
    return 100 * float(np.linalg.norm(Ps[0].shape.vertices[p] - Ps[0].shape.vertices[perm], axis=1).mean())


def test_adaptation_improves_a_perturbed_pair_and_leaves_the_model_alone(pair):
    noisy, Ps, ops, specs, perm = pair
    weights_before = {k: v.copy() for k, v in noisy.net.state_dict().items()}
    before = map_error(Ps, perm, noisy.features(ops[0]), noisy.features(ops[1]))
    seen = []
    steps = 100
    fx, fy = adapt_features(noisy, ops[0], ops[1], specs[0], specs[1], steps=steps, seed=0,
                            progress=lambda step, total, loss: seen.append((step, total, loss)))
    after = map_error(Ps, perm, fx, fy)
    # measured with the bundled model of 2026-12-02: 8.57 -> 6.57 after 50 steps, 3.38 after 100
    # (other noise seeds: 8.95 -> 4.03, 9.26 -> 4.56); the unperturbed model itself gives 8.60
    assert after < 0.6 * before
    assert [s[:2] for s in seen] == [(i, steps) for i in range(1, steps + 1)] and seen[-1][2] < 0.5 * seen[0][2]
    assert fx.dtype == np.float32 and fx.shape == (Ps[0].shape.n_vertices, noisy.config.out_dim)
    np.testing.assert_allclose(np.linalg.norm(fy, axis=1), 1, atol=1e-5)
    for k, v in noisy.net.state_dict().items():
        np.testing.assert_array_equal(v, weights_before[k])


def test_adaptation_is_deterministic_and_zero_steps_give_the_models_features(pair):
    noisy, _, ops, specs, _ = pair
    a = adapt_features(noisy, ops[0], ops[1], specs[0], specs[1], steps=3, seed=7)
    b = adapt_features(noisy, ops[0], ops[1], specs[0], specs[1], steps=3, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    fx0, _ = adapt_features(noisy, ops[0], ops[1], specs[0], specs[1], steps=0)
    np.testing.assert_allclose(fx0, noisy.features(ops[0]), atol=1e-4)
    assert np.abs(a[0] - fx0).max() > 1e-3  # three steps did change something


def test_frozen_prefix_and_head_compose_to_the_network(pair):
    from shapecorr.learn.diffusionnet import FeatureNet, TorchOperators

    noisy, _, ops, _, _ = pair
    net = FeatureNet.from_weights(noisy.config, noisy.net.state_dict())
    t = TorchOperators.from_numpy(ops[0])
    with torch.no_grad():
        full = net(t)
        for j in (0, 2, 4):
            torch.testing.assert_close(head(net, frozen_prefix(net, t, j), t, j), full)


@pytest.mark.parametrize("kw, match", [({"steps": -1}, "steps must be an integer >= 0"),
                                       ({"lr": 0.0}, "learning rate must be a finite number > 0"),
                                       ({"tune_blocks": 5}, "tune_blocks must be an integer from 0 to 4")])
def test_bad_settings_are_refused(pair, kw, match):
    noisy, _, ops, specs, _ = pair
    with pytest.raises(SettingsError, match=match):
        adapt_features(noisy, ops[0], ops[1], specs[0], specs[1], **kw)
    with pytest.raises(ValueError, match="shape y: spectral data of 5 vertices but operators of 642"):
        adapt_features(noisy, ops[0], ops[1], specs[1], SpectralData.from_numpy(np.arange(3.0), np.ones((5, 3)),
                                                                               np.ones(5), 3))
