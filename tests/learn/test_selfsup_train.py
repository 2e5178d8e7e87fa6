"""Self-supervised training: groups and folders, augmentation (remeshing to a resolution,
near-isometric bending), a short run that lowers the loss, and an interrupted run that resumes
from its checkpoint to exactly the weights of an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import bumpy, inverse_permutation, permuted_copy, write_off

from shapecorr.core.errors import SettingsError
from shapecorr.learn import FeatureModel, FeatureNetConfig, load_feature_model
from shapecorr.learn import selfsup_train as st
from shapecorr.learn.augment import (
    AugmentSettings,
    bent,
    decimated,
    have_pymeshlab,
    random_variant,
    remeshed,
)
from shapecorr.learn.selfsup import LossWeights
from shapecorr.learn.selfsup_train import (
    SelfSupSettings,
    ShapeSource,
    TrainFiles,
    build_pool,
    draw_pair,
    find_shapes,
    group_of,
    step_loss,
    train_selfsup,
)

TINY = FeatureNetConfig(in_dim=16, width=16, n_blocks=2, out_dim=16, k_input=20, k_diffusion=20)


def test_groups_are_names_without_their_number():
    assert [group_of(n) for n in ("cat10", "tr_reg_012", "cow", "horse-3", "x1y2")] == [
        "cat", "tr_reg", "cow", "horse", "x1y"]


def test_find_shapes_pairs_meshes_with_their_ground_truth(tmp_path):
    s = bumpy(1)
    (tmp_path / "sub").mkdir()
    for name in ("cat0", "cat1", "dog0"):
        write_off(tmp_path / "sub" / f"{name}.off", s.vertices, s.faces)
    (tmp_path / "sub" / "corres").mkdir()
    np.savetxt(tmp_path / "sub" / "corres" / "cat1.vts", np.arange(1, s.n_vertices + 1), fmt="%d")
    (tmp_path / "notes.txt").write_text("not a mesh")
    found = find_shapes(tmp_path)
    assert [(f.name, f.group, f.gt_path is not None) for f in found] == [
        ("cat0", "cat", False), ("cat1", "cat", True), ("dog0", "dog", False)]
    with pytest.raises(Exception, match="no meshes"):
        find_shapes(tmp_path / "sub" / "corres")


def test_bending_is_smooth_and_keeps_vertex_order():
    s = bumpy(3)
    b = bent(s, np.random.default_rng(0), 0.3)
    e = s.edges
    before = np.linalg.norm(s.vertices[e[:, 0]] - s.vertices[e[:, 1]], axis=1)
    after = np.linalg.norm(b.vertices[e[:, 0]] - b.vertices[e[:, 1]], axis=1)
    rel = np.abs(after / before - 1)
    assert np.median(rel) < 0.05 and np.abs(b.vertices - s.vertices).max() > 0.05  # it moved, edges nearly kept
    np.testing.assert_array_equal(b.faces, s.faces)


def test_decimation_and_remeshing_reach_about_the_asked_resolution():
    s = bumpy(4)  # 2562 vertices
    d = decimated(s, 800)
    assert 700 <= d.n_vertices <= 900 and abs(d.area / s.area - 1) < 0.05
    assert decimated(s, 5000) is s
    if not have_pymeshlab():
        pytest.skip("pymeshlab is not installed")
    rng = np.random.default_rng(0)
    for n, aniso in ((1500, 1.0), (4000, 2.5)):
        r = remeshed(s, n, anisotropy=aniso, rng=rng)
        assert 0.7 * n <= r.n_vertices <= 1.3 * n and abs(r.area / s.area - 1) < 0.05
    v = random_variant(s, rng, AugmentSettings(resolution=(500, 1500)))
    assert 300 <= v.n_vertices <= 2000
    with pytest.raises(SettingsError, match="AugmentSettings.resolution"):
        AugmentSettings(resolution=(5000, 2000))


def test_pairs_are_drawn_within_a_group():
    class It:
        def __init__(self, group):
            self.group = group

    pool = [It("a"), It("a"), It("b"), It("b"), It("c")]
    rng = np.random.default_rng(0)
    for _ in range(50):
        i, j = draw_pair(pool, rng)
        assert i != j and (pool[i].group == pool[j].group or pool[i].group == "c")


def blob_sources(tmp_path, n: int = 3) -> list[ShapeSource]:
    """A blob and bent, permuted copies of it, written as meshes of one group (with ground
    truth files: copy vertex j is blob vertex perm[j])."""
    rng = np.random.default_rng(0)
    base = bumpy(3)
    out = []
    for i in range(n):
        c, perm = permuted_copy(bent(base, rng, 0.5), seed=i)
        path = write_off(tmp_path / f"blob{i}.off", c.vertices, c.faces)
        (tmp_path / "corres").mkdir(exist_ok=True)
        gt = tmp_path / "corres" / f"blob{i}.vts"
        np.savetxt(gt, inverse_permutation(perm) + 1, fmt="%d")  # template point t = blob vertex t
        out.append(ShapeSource(path, f"blob{i}", "blob", gt))
    return out


def pool_loss(net, pool, settings) -> float:
    """The loss summed over every ordered pair of the pool, with fixed random subsets."""
    total = 0.0
    with torch.no_grad():
        for i in range(len(pool)):
            for j in range(len(pool)):
                if i != j:
                    rng = np.random.default_rng(0)
                    loss, _ = step_loss(net, pool[i], pool[j], settings, rng, torch.Generator().manual_seed(0))
                    total += float(loss)
    return total


def test_a_short_training_run_lowers_the_loss_and_writes_its_files(tmp_path):
    sources = blob_sources(tmp_path)
    init = load_feature_model("faust_r_wks")
    pool = build_pool(sources, init.config, k_loss=20, progress=False)
    assert [it.gt is not None for it in pool] == [True] * 3
    s = SelfSupSettings(steps=30, lr=1e-3, tune_blocks=1, sup_weight=0.0, checkpoint_every=10, val_every=10)
    before = pool_loss(init.torch_net(), pool, s)
    out = tmp_path / "out" / "m.pt"
    model = train_selfsup(pool, s, out, init=init, val=pool, progress=False, command="test command",
                          data=st.data_summary(["blobs"], sources, pool, 0, None))
    after = pool_loss(model.torch_net(), pool, s)
    assert after < 0.7 * before  # measured: about 0.4
    files = TrainFiles(out)
    assert all(p.exists() for p in files.all())
    back = FeatureModel.load(files.npz)
    np.testing.assert_array_equal(back.net.state_dict()["last.weight"], model.net.state_dict()["last.weight"])
    card = files.card.read_text()
    assert "test command" in card and "3 shapes in 1 groups (3 with ground truth)" in card
    rows = files.csv.read_text().splitlines()
    assert rows[0].startswith("step,loss,bij,orth,lap,couple") and len(rows) == 1 + 4  # steps 1, 10, 20, 30
    assert [h["step"] for h in model.meta["history"] if h["val_distance"] is not None] == [10, 20, 30]
    # only the last block and the output layer changed. The frozen diffusion times go through
    # log and exp (the network learns log t), which may move them by an ulp on some CPUs' libm
    for k, v in model.net.state_dict().items():
        same = np.allclose(v, init.net.state_dict()[k], rtol=1e-6, atol=0.0)
        assert same == (not k.startswith(("blocks.3.", "last."))), k


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    sources = blob_sources(tmp_path, 2)
    pool = build_pool(sources, TINY, k_loss=10, progress=False)
    s = SelfSupSettings(steps=6, lr=3e-3, checkpoint_every=2, val_every=100, sup_weight=1.0,
                        weights=LossWeights(couple_points=200))
    straight = train_selfsup(pool, s, tmp_path / "a.pt", config=TINY, progress=False)
    assert "sup" in straight.meta["history"][-1]  # both blobs have ground truth: the supervised term ran

    calls = {"n": 0}
    real = st.step_loss

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "step_loss", failing)
    with pytest.raises(KeyboardInterrupt):
        train_selfsup(pool, s, tmp_path / "b.pt", config=TINY, progress=False)
    assert not (tmp_path / "b.pt").exists() and (tmp_path / "b.ckpt.pt").exists()
    monkeypatch.setattr(st, "step_loss", real)
    resumed = train_selfsup(pool, s, tmp_path / "b.pt", config=TINY, progress=False, resume=True)
    for k, v in straight.net.state_dict().items():
        np.testing.assert_allclose(resumed.net.state_dict()[k], v, rtol=0, atol=1e-6)
    with pytest.raises(SettingsError, match="written with other settings"):
        train_selfsup(pool, SelfSupSettings(steps=7), tmp_path / "b.pt", config=TINY, progress=False, resume=True)


def test_wake_diffusion_times_moves_only_zero_times_to_the_wake_time():
    """A network of the first kind (every time exactly 0, read back at the floor) gets the wake
    time on the blocks asked for; times already learned are left as they are."""
    from shapecorr.learn.diffusionnet import FeatureNet

    net = FeatureNet(FeatureNetConfig(width=8, n_blocks=3))
    learned = net.blocks[0].diffusion.time.detach().clone()
    for block in net.blocks[1:]:
        block.diffusion.set_time(torch.zeros(8))
    net.blocks[2].diffusion.set_time(torch.tensor([0.0, 0.5] * 4))
    assert st.wake_diffusion_times(net, first=1) == 8 + 4
    torch.testing.assert_close(net.blocks[0].diffusion.time, learned)  # not asked for
    torch.testing.assert_close(net.blocks[1].diffusion.time, torch.full((8,), st.WAKE_TIME))
    torch.testing.assert_close(net.blocks[2].diffusion.time, torch.tensor([st.WAKE_TIME, 0.5] * 4))
    assert st.wake_diffusion_times(net) == 0  # nothing left at 0
