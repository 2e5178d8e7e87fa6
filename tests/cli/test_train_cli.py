"""``shapecorr train`` end to end on a tiny folder of generated blobs: the model and its
companions are written, the model loads without torch and works in ``shapecorr.match``;
an existing model is never overwritten without --resume or --force; bad arguments end with one
line and exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import bumpy, permuted_copy, write_off

import shapecorr
from shapecorr.cli import main
from shapecorr.learn import FeatureModel
from shapecorr.learn.augment import bent


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """Three bent, permuted copies of a 642-vertex blob (one group, no ground truth)."""
    folder = tmp_path_factory.mktemp("blobs")
    rng = np.random.default_rng(0)
    for i in range(3):
        c, _ = permuted_copy(bent(bumpy(3), rng, 0.4), seed=i)
        write_off(folder / f"blob{i}.off", c.vertices, c.faces)
    return folder


def test_train_writes_a_model_that_matches_and_refuses_to_overwrite(blobs, tmp_path, capsys):
    out = tmp_path / "models" / "blobs.pt"
    args = ["train", str(blobs), "--out", str(out), "--steps", "3", "--augment", "0", "--init", "faust_r_wks",
            "--seed", "1", "-q"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == str(out) and summary["steps"] == 3
    for suffix in (".pt", ".npz", ".ckpt.pt", ".csv", ".png", ".md"):
        assert out.with_suffix(suffix).exists(), suffix
    card = out.with_suffix(".md").read_text()
    assert "shapecorr train" in card and "--steps 3" in card and "init: faust_r_wks" in card
    model = FeatureModel.load(out.with_suffix(".npz"))
    assert model.meta["self_supervised"] and model.meta["steps_done"] == 3
    # the model runs in the matcher
    a, b = shapecorr.load(blobs / "blob0.off"), shapecorr.load(blobs / "blob1.off")
    match = shapecorr.match(a, b, feature_model=str(out.with_suffix(".npz")))
    assert match.p2p_21.shape == (b.n_vertices,)

    mtime = out.stat().st_mtime_ns
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists; give --resume" in err[0] and "--force" in err[0]
    assert out.stat().st_mtime_ns == mtime  # untouched
    # --resume of a finished run: nothing left to do, the model is written again
    assert main([*args, "--resume"]) == 0
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize("extra, message", [
    (["--out", "model.npz"], "the model is written as a .pt file"),
    (["--out", "m.pt", "--steps", "0"], "--steps 0: give at least 1"),
    (["--out", "m.pt", "--resume"], "--resume: no checkpoint"),
    (["--out", "m.pt", "--resolution", "5000"], "--resolution 5000: give two vertex counts"),
    (["--out", "m.pt", "--resume", "--force"], "contradict"),
    (["--out", "m.pt", "--regularizer", "prior", "--k", "20"], "models 30 x 30 maps"),
    (["--out", "m.pt", "--prior", "prior_k30_humans"], "used only with --regularizer prior"),
    (["--out", "m.pt", "--regularizer", "prior", "--prior", "no_such_prior"], "no prior named"),
    (["--out", "m.pt", "--k", "1"], "--k 1: give at least 2"),
])
def test_bad_arguments_end_with_one_line(blobs, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(blobs), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert list(tmp_path.iterdir()) == [] or all(p.name == "shapecorr-cache" for p in tmp_path.iterdir())


def test_train_with_the_learned_prior_as_regularizer(blobs, tmp_path, capsys):
    """--regularizer prior: the loss's maps take the prior's size, the loss has the prior's term
    and no orthogonality/commutativity, and the card and the model's record say so."""
    out = tmp_path / "prior.pt"
    assert main(["train", str(blobs), "--out", str(out), "--steps", "2", "--augment", "0", "--init", "faust_r_wks",
                 "--regularizer", "prior", "-q"]) == 0
    capsys.readouterr()
    model = FeatureModel.load(out.with_suffix(".npz"))
    weights = model.meta["settings"]["weights"]
    assert weights["regularizer"] == "prior" and weights["prior"] == "prior_k30"
    terms = set(model.meta["history"][-1]) if model.meta["history"] else set()
    assert "prior" in terms and not {"orth", "lap"} & terms
    card = out.with_suffix(".md").read_text()
    assert "learned prior `prior_k30`" in card and "--regularizer prior" in card


def test_a_folder_without_meshes_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "no meshes" in capsys.readouterr().err
