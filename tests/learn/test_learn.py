"""Learned features: tangent gradients with known answers, the network's invariances (frame,
vertex order, rigid motion) and its sensitivity to reflection, model files, and a short
training run on generated shapes that must learn something."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import (
    bumpy,
    feature_operators_of_copies,
    grid,
    icosphere,
    inverse_permutation,
    permuted_copy,
    write_off,
)

from shapecorr.pipeline import load_preset, prepare
from shapecorr.learn import (
    DEFAULT_MODEL,
    FeatureModel,
    FeatureModelError,
    FeatureNet,
    FeatureNetConfig,
    gradient_operators,
    load_feature_model,
    surface_operators,
    tangent_frames,
)
from shapecorr.learn.features import WEIGHTS_DIR
from shapecorr.learn.train import (
    TrainSettings,
    feature_match_distance,
    load_training_shapes,
    train_features,
)

TINY = FeatureNetConfig(in_dim=16, width=16, n_blocks=2, out_dim=8, k_input=20, k_diffusion=20)


def test_tangent_frames_are_right_handed_and_orthonormal():
    rng = np.random.default_rng(0)
    n = rng.standard_normal((50, 3))
    e1, e2 = tangent_frames(n)
    nn = n / np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(np.cross(e1, e2), nn, atol=1e-12)
    np.testing.assert_allclose((e1 * nn).sum(1), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1, atol=1e-12)


def test_gradient_of_a_linear_function_on_a_plane_is_exact():
    g = grid(9, 7)
    normals = np.tile([0.0, 0.0, 1.0], (g.n_vertices, 1))
    Gx, Gy = gradient_operators(g.vertices, g.edges, normals, reg=0.0)
    a = np.array([0.7, -1.3, 0.0])
    f = g.vertices @ a
    e1, e2 = tangent_frames(normals)
    np.testing.assert_allclose(Gx @ f, e1 @ a, atol=1e-9)
    np.testing.assert_allclose(Gy @ f, e2 @ a, atol=1e-9)
    np.testing.assert_allclose(Gx @ np.ones(g.n_vertices), 0, atol=1e-12)  # constants have no gradient


def test_gradient_on_a_sphere_is_tangent_and_close_to_the_true_one():
    s = icosphere(4)  # 2562 vertices
    normals = s.vertices / np.linalg.norm(s.vertices, axis=1, keepdims=True)
    Gx, Gy = gradient_operators(s.vertices, s.edges, normals)
    f = s.vertices[:, 2]
    e1, e2 = tangent_frames(normals)
    grad3 = (Gx @ f)[:, None] * e1 + (Gy @ f)[:, None] * e2
    true = np.array([0, 0, 1.0]) - normals[:, 2:3] * normals  # projection of the z axis
    np.testing.assert_allclose((grad3 * normals).sum(1), 0, atol=1e-12)  # tangent by construction
    err = np.linalg.norm(grad3 - true, axis=1)  # |true| <= 1: absolute = relative error
    assert err.mean() < 2e-3 and err.max() < 1e-2  # measured: 1.3e-3 and 7.7e-3


@pytest.fixture(scope="module")
def blob_ops():
    return feature_operators_of_copies(bumpy(3), load_preset("default", k_final=30, k_init=15, k_descriptor=30), TINY)


def test_features_follow_vertex_order_and_ignore_rigid_motion(blob_ops):
    ops, perm = blob_ops
    torch.manual_seed(0)
    model = FeatureModel(FeatureNet(TINY))
    f, fc = model.features(ops["orig"]), model.features(ops["copy"])
    # the eigenvector signs may differ between the copies, but the network only uses sign-free
    # quantities (WKS, diffusion, gradient products): features are equal up to float error
    np.testing.assert_allclose(fc, f[perm], atol=2e-3)


def test_features_are_not_reflection_invariant(blob_ops):
    """The gradient products see handedness: a mirrored copy gets different features, and the
    difference comes from them (with the gradient terms zeroed the mirror is invisible)."""
    ops, _ = blob_ops
    torch.manual_seed(0)
    net = FeatureNet(TINY)
    with torch.no_grad():  # stronger gradient terms than at initialisation, to see them clearly
        for b in net.blocks:
            b.gradients.im.weight.mul_(30.0)
    model = FeatureModel(net)  # a copy of the weights as they are now
    f, fm = model.features(ops["orig"]), model.features(ops["mirror"])
    assert np.abs(f - fm).max() > 0.05
    with torch.no_grad():
        for b in net.blocks:
            b.gradients.im.weight.zero_()  # keep only the reflection-symmetric cos part
    model = FeatureModel(net)
    f, fm = model.features(ops["orig"]), model.features(ops["mirror"])
    np.testing.assert_allclose(f, fm, atol=2e-3)


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_model_save_load_roundtrip_and_bad_files(tmp_path, blob_ops, suffix):
    ops, _ = blob_ops
    torch.manual_seed(1)
    model = FeatureModel(FeatureNet(TINY), {"note": "test"})
    path = model.save(tmp_path / f"m{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{suffix}"]  # no temporary file left
    back = FeatureModel.load(path)
    assert back.meta == {"note": "test"} and back.config == TINY
    for k, w in model.net.state_dict().items():
        np.testing.assert_array_equal(back.net.state_dict()[k], w)
    np.testing.assert_array_equal(back.features(ops["orig"]), model.features(ops["orig"]))
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(b"not a model")
    with pytest.raises(FeatureModelError, match=r"bad\.(npz|pt): not a readable shapecorr feature model"):
        FeatureModel.load(bad)
    with pytest.raises(FileNotFoundError, match="bundled: faust_r_wks, faust_r_wks_pc"):
        FeatureModel.load("no_such_model")
    with pytest.raises(FeatureModelError, match="saved as .npz"):
        model.save(tmp_path / "m.pth")


@pytest.mark.parametrize("name", [DEFAULT_MODEL, "faust_r_wks_pc"])
def test_bundled_model_never_saw_the_test_split_and_its_card_is_accurate(name):
    """The training and validation shapes recorded in the file exclude FAUST_r 080-099, and the
    validation history in the file is the one the model card (weights/README.md) states."""
    model = load_feature_model(name)
    trained = {n.split("~")[0] for n in model.meta["train_shapes"]} | {n.split("~")[0] for n in model.meta["val_shapes"]}
    assert {n for n in trained if n.startswith("tr_reg_")} == trained
    index = lambda names: {int(n.split("~")[0][-3:]) for n in names}
    assert index(model.meta["train_shapes"]) == set(range(70))
    assert index(model.meta["val_shapes"]) == set(range(70, 80))
    card = " ".join((WEIGHTS_DIR / "README.md").read_text().split())  # runs of spaces as one
    steps = {"faust_r_wks": [500, 1000, 1500, 2000], "faust_r_wks_pc": [500, 1000]}[name]
    assert [h["step"] for h in model.meta["history"]] == steps
    for h in model.meta["history"]:
        assert f"| {h['step']} | {h['val_distance']:.2f} |" in card, h


def test_training_on_generated_shapes_learns_the_correspondence(tmp_path):
    """Four bent/permuted copies of a bumpy sphere with their ground truth written like FAUST_r;
    a short training run must match held-out points much better than the untrained network."""
    base = bumpy(3)
    rng = np.random.default_rng(0)
    names = []
    (tmp_path / "corres").mkdir()
    for i in range(4):
        copy, perm = permuted_copy(base, seed=10 + i, rigid=True)
        v = copy.vertices * (1 + 0.05 * rng.standard_normal(3))  # mild anisotropic stretch
        name = f"s_{i:03d}"
        write_off(tmp_path / f"{name}.off", v, copy.faces)
        # template = the base shape's vertices: template point t is vertex inv(perm)[t] of the copy
        np.savetxt(tmp_path / "corres" / f"{name}.vts", inverse_permutation(perm) + 1, fmt="%d")
        names.append(name)
    settings = load_preset("default", k_final=30, k_init=15, k_descriptor=30)
    shapes = load_training_shapes(tmp_path, names, TINY, progress=False)
    pairs = [(0, 1), (2, 3), (1, 2)]
    torch.manual_seed(0)
    untrained = feature_match_distance(FeatureModel(FeatureNet(TINY)), shapes, pairs)
    model = train_features(shapes, TrainSettings(steps=200, lr=5e-3, n_points=256, config=TINY), progress=False)
    trained = feature_match_distance(model, shapes, pairs)
    assert trained < 0.5 * untrained, (untrained, trained)
    assert model.meta["train_shapes"] == names


def test_training_data_errors_name_the_file(tmp_path):
    write_off(tmp_path / "a.off", icosphere(1).vertices, icosphere(1).faces)
    with pytest.raises(FileNotFoundError, match=r"corres.*a\.vts"):
        load_training_shapes(tmp_path, ["a"], TINY, progress=False)
    with pytest.raises(FileNotFoundError, match="no mesh named b"):
        load_training_shapes(tmp_path, ["b"], TINY, progress=False)


def test_stretch_augmentation_changes_proportions_not_connectivity():
    from shapecorr.learn.train import stretched

    s = bumpy(2)
    t = stretched(s, np.random.default_rng(0), amount=0.3)
    np.testing.assert_array_equal(t.faces, s.faces)
    e = s.edges
    ratio = np.linalg.norm(t.vertices[e[:, 0]] - t.vertices[e[:, 1]], axis=1) / \
        np.linalg.norm(s.vertices[e[:, 0]] - s.vertices[e[:, 1]], axis=1)
    # the known answer: t = (s - mean) A with A symmetric positive definite (three orthogonal
    # axes) whose eigenvalues, the stretch factors, lie in exp([-0.3, 0.3])
    centered = s.vertices - s.vertices.mean(0)
    A = np.linalg.lstsq(centered, t.vertices, rcond=None)[0]
    np.testing.assert_allclose(centered @ A, t.vertices, atol=1e-12)
    np.testing.assert_allclose(A, A.T, atol=1e-12)
    factors = np.linalg.eigvalsh(A)
    assert np.all(np.abs(np.log(factors)) <= 0.3) and factors.max() / factors.min() > 1.05  # not a similarity
    assert np.exp(-0.3) - 1e-12 <= ratio.min() and ratio.max() <= np.exp(0.3) + 1e-12
    assert stretched(s, np.random.default_rng(0), amount=0.3).vertices.tolist() == t.vertices.tolist()  # seeded


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_features_on_cuda_equal_the_cpu_ones():
    """The bundled model gives the same features on the GPU (float32 tolerance), and a whole
    match with device="cuda" runs the learned init there."""
    import shapecorr

    s = load_preset("default", k_final=30, k_init=15, k_descriptor=30)
    shape = bumpy(3)
    P = prepare(shape, s, cache=False)
    cpu = load_feature_model(DEFAULT_MODEL, device="cpu")
    gpu = load_feature_model(DEFAULT_MODEL, device="cuda")
    f_cpu = cpu.features(surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, cpu.config))
    f_gpu = gpu.features(surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, gpu.config,
                                           device="cuda"))
    np.testing.assert_allclose(f_gpu, f_cpu, atol=1e-4)
    copy, perm = permuted_copy(shape, seed=5, rigid=True)
    m = shapecorr.match(shape, copy, "default", device="cuda", k_final=30, k_init=15, k_descriptor=30)
    assert m.info["init"] == "learned" and (m.p2p_21 == perm).mean() > 0.95


def test_training_on_point_clouds_and_fine_tuning(tmp_path):
    """``point_clouds=True`` adds every shape as a point cloud of its vertices (same ground
    truth); ``init`` starts from a model's weights (fine-tuning), recorded in the metadata."""
    base = bumpy(2)
    (tmp_path / "corres").mkdir()
    names = []
    for i in range(2):
        copy, perm = permuted_copy(base, seed=30 + i, rigid=True)
        write_off(tmp_path / f"p_{i}.off", copy.vertices, copy.faces)
        np.savetxt(tmp_path / "corres" / f"p_{i}.vts", inverse_permutation(perm) + 1, fmt="%d")
        names.append(f"p_{i}")
    settings = load_preset("default", k_final=30, k_init=15, k_descriptor=30)
    shapes = load_training_shapes(tmp_path, names, TINY, progress=False, point_clouds=True)
    assert [s.name for s in shapes] == ["p_0", "p_0~pc", "p_1", "p_1~pc"]
    assert shapes[1].ops.grad_x.shape == shapes[0].ops.grad_x.shape and np.array_equal(shapes[1].gt, shapes[0].gt)
    torch.manual_seed(0)
    start = FeatureModel(FeatureNet(TINY), {"name": "start"})
    tuned = train_features(shapes, TrainSettings(steps=3, lr=1e-9, n_points=64, config=TINY), progress=False,
                           init=start)
    assert tuned.meta["init"] == "start"
    for k, w in start.net.state_dict().items():  # a vanishing learning rate keeps the starting weights
        np.testing.assert_allclose(tuned.net.state_dict()[k], w, atol=1e-6)
