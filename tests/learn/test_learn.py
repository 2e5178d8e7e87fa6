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

from shapecorr.learn import (
    DEFAULT_MODEL,
    FeatureModel,
    FeatureModelError,
    FeatureNet,
    FeatureNetConfig,
    NumpyFeatureNet,
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
from shapecorr.pipeline import load_preset, prepare

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
            b.diffusion.set_time(1e-4)  # little smoothing: long times shrink the gradients they multiply
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
    """The training and validation shapes recorded in the file exclude FAUST_r 080-099 (FAUST_r
    000-069 train, 070-079 validate) and, where TOSCA_r was used, the held-out class (horse) and
    every odd-numbered shape (the benchmark's unseen TOSCA_r shapes); the validation history in
    the file is the one the model card (weights/README.md) states."""
    import re

    model = load_feature_model(name)
    base = lambda names: {n.split("~")[0] for n in names}
    train, val = base(model.meta["train_shapes"]), base(model.meta["val_shapes"])
    faust = lambda names: {int(n[-3:]) for n in names if n.startswith("tr_reg_")}
    assert faust(train) == set(range(70)) and faust(val) == set(range(70, 80)) and val == {
        f"tr_reg_{i:03d}" for i in range(70, 80)}
    tosca = [re.fullmatch(r"([a-z]+)(\d+)", n) for n in train if not n.startswith("tr_reg_")]
    assert all(m and m.group(1) != "horse" and int(m.group(2)) % 2 == 0 for m in tosca)
    card = " ".join((WEIGHTS_DIR / "README.md").read_text().split())  # runs of spaces as one
    assert model.meta["history"]
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
    model = train_features(shapes, TrainSettings(steps=300, lr=5e-3, n_points=256, config=TINY), progress=False)
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
    from shapecorr.learn.augment import stretched

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


def test_diffusion_times_start_spread_learn_and_read_old_files(blob_ops):
    """A new network's times are spread log-uniformly from T_MIN to T_MAX; a training step moves
    them (the first parametrisation, |t| from t = 0, had a zero gradient there: they never
    moved); the weights keep the time itself, and a file's time 0 reads back as no diffusion
    beyond the eigenbasis truncation, as the NumPy network computes it."""
    from shapecorr.learn.diffusionnet import T_MAX, T_MIN, TorchOperators

    torch.manual_seed(0)
    net = FeatureNet(TINY)
    t = net.blocks[0].diffusion.time.detach().numpy()
    np.testing.assert_allclose(t, np.geomspace(T_MIN, T_MAX, TINY.width), rtol=1e-5)
    weights = {k: v.numpy() for k, v in net.state_dict().items()}
    np.testing.assert_allclose(weights["blocks.1.diffusion.time"], t, rtol=1e-6)  # the time, not its log
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    ops_np = blob_ops[0]["orig"]
    ops = TorchOperators.from_numpy(ops_np)
    net(ops).square().mean().backward()
    opt.step()
    assert all(float(b.diffusion.log_time.grad.abs().min()) > 0 for b in net.blocks)
    moved = net.blocks[0].diffusion.time.detach().numpy()
    assert np.all(moved > 0) and np.abs(np.log(moved / t)).max() > 1e-6
    old = dict(weights, **{f"blocks.{i}.diffusion.time": np.zeros(TINY.width, np.float32) for i in range(2)})
    loaded = FeatureNet.from_weights(TINY, old)
    assert float(loaded.blocks[0].diffusion.time.detach().max()) <= 1e-20
    with torch.no_grad():
        theirs = loaded(ops).numpy()
    ours = NumpyFeatureNet(TINY, old)(ops_np)
    np.testing.assert_allclose(theirs, ours, atol=1e-4 * np.abs(ours).max())
    spread = NumpyFeatureNet(TINY, weights)(ops_np)
    assert np.abs(spread - ours).max() > 2e-3 * np.abs(ours).max()  # the times matter (measured: 5e-3)


def test_remeshed_copies_carry_the_ground_truth_and_pairs_stay_in_a_group(tmp_path):
    """variant_with_map: the same draws as random_variant, and each original vertex maps to the
    nearest vertex of the copy (no farther than the copy's longest edge). Shapes of two groups
    with templates of different lengths: every training pair is drawn within one group."""
    from shapecorr.learn.augment import (
        AugmentSettings,
        random_variant,
        variant_with_map,
    )
    from shapecorr.learn.train import _pair_sampler

    s = bumpy(3)
    settings = AugmentSettings(resolution=(300, 500), bend=0.0, stretch=0.0, remesh=False)  # decimation only
    copy, vmap = variant_with_map(s, np.random.default_rng(3), settings)
    assert copy.vertices.tolist() == random_variant(s, np.random.default_rng(3), settings).vertices.tolist()
    assert 250 <= copy.n_vertices <= 550 and vmap.shape == (s.n_vertices,)
    d = np.linalg.norm(copy.vertices[vmap] - s.vertices, axis=1)
    e = copy.edges
    assert d.max() <= np.linalg.norm(copy.vertices[e[:, 0]] - copy.vertices[e[:, 1]], axis=1).max()
    # nearest: no copy vertex is closer to an original vertex than the mapped one
    all_d = np.linalg.norm(s.vertices[:, None] - copy.vertices[None], axis=2)
    np.testing.assert_allclose(d, all_d.min(1), atol=1e-12)

    (tmp_path / "corres").mkdir()
    names = []
    for i, (shape, n_template) in enumerate([(bumpy(2), 120), (bumpy(2), 120), (icosphere(2), 80), (icosphere(2), 80)]):
        name = f"{'ab'[i // 2]}{i}"
        write_off(tmp_path / f"{name}.off", shape.vertices, shape.faces)
        np.savetxt(tmp_path / "corres" / f"{name}.vts", np.arange(n_template) + 1, fmt="%d")
        names.append(name)
    shapes = load_training_shapes(tmp_path, names, TINY, progress=False, remeshed=1,
                                  remesh_settings=AugmentSettings(resolution=(100, 140), remesh=False),
                                  group=lambda n: n[0])
    assert [x.name for x in shapes] == [n + suffix for n in names for suffix in ("", "~r1")]
    assert {x.group for x in shapes} == {"a", "b"} and all(len(x.gt) == (120 if x.group == "a" else 80) for x in shapes)
    draw = _pair_sampler(shapes)
    rng = np.random.default_rng(0)
    pairs = [draw(rng) for _ in range(200)]
    assert all(i != j and shapes[i].group == shapes[j].group for i, j in pairs)
    assert {shapes[i].group for i, _ in pairs} == {"a", "b"}
    model = train_features(shapes, TrainSettings(steps=2, lr=1e-3, n_points=64, config=TINY, time_lr=1e-2),
                           progress=False)
    assert model.meta["groups"] == ["a", "b"]


def test_selfsup_general_never_saw_the_test_shapes():
    """The bundled self-supervised model read no FAUST_r test shape, no odd-numbered TOSCA_r shape
    and no horse (the benchmark's unseen shapes), validated on FAUST_r 070-079, and its card states
    its validation history."""
    import re

    model = load_feature_model("selfsup_general")
    train = {n.split("~")[0] for n in model.meta["train_shapes"]}
    assert {n.split("~")[0] for n in model.meta["val_shapes"]} == {f"tr_reg_{i:03d}" for i in range(70, 80)}
    assert all(int(n[-3:]) < 70 for n in train if n.startswith("tr_reg_"))
    tosca = [re.fullmatch(r"(cat|centaur|david|dog|horse|michael|victoria|wolf)(\d+)", n) for n in train]
    assert [m for m in tosca if m] and all(m.group(1) != "horse" and int(m.group(2)) % 2 == 0 for m in tosca if m)
    card = " ".join((WEIGHTS_DIR / "README.md").read_text().split())
    history = [h for h in model.meta["history"] if h.get("val_distance") is not None]
    assert history
    for h in history:
        assert f"{h['val_distance']:.2f} at step {h['step']}" in card, h
