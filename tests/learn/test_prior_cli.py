"""``shapecorr prior train`` and ``shapecorr prior sample`` end to end on a tiny data set."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from shapecorr.cli import main
from shapecorr.learn.prior import PriorData

K = 8


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 24
    maps = np.repeat(np.eye(K)[None], n, 0) * np.where(rng.random((n, K, K)) < 0.5, -1, 1)
    maps += 0.05 * rng.standard_normal((n, K, K))
    path = tmp_path_factory.mktemp("prior_data") / "maps.npz"
    PriorData(maps, [f"a{i}" for i in range(n)], [f"b{i}" for i in range(n)], ["pair"] * n,
              ["human"] * (n // 2) + ["cat"] * (n - n // 2)).save(path)
    return path


TRAIN = ["--batch", "8", "--channels", "8,16", "--val-every", "5", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def trained(data_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("prior_run") / "run"
    rc = main(["prior", "train", str(data_file), "--out", str(out), "--steps", "10", *TRAIN])
    return out, rc


def test_train_writes_model_checkpoints_log_and_plot(trained):
    out, rc = trained
    assert rc == 0
    for name in ("prior.pt", "log.csv", "loss.png", "train.json", "checkpoints/step_000005.pt",
                 "checkpoints/step_000010.pt"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [5, 10]
    assert all(np.isfinite(float(r["val_loss"])) for r in rows)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / "train.json").read_text())
    assert meta["n_train"] + meta["n_val"] == 24 and meta["settings"]["steps"] == 10


def test_train_refuses_an_existing_run_and_resumes_one(trained, data_file, capsys):
    out, _ = trained
    rc = main(["prior", "train", str(data_file), "--out", str(out), "--steps", "15", *TRAIN])
    assert rc == 2 and "--resume" in capsys.readouterr().err
    rc = main(["prior", "train", str(data_file), "--out", str(out), "--steps", "15", "--resume", *TRAIN])
    assert rc == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [5, 10, 15]


def test_train_on_one_category(data_file, tmp_path):
    rc = main(["prior", "train", str(data_file), "--out", str(tmp_path / "h"), "--steps", "5", "--categories",
               "human", *TRAIN])
    assert rc == 0
    meta = json.loads((tmp_path / "h" / "train.json").read_text())
    assert meta["data_counts"] == {"pair/human": 12}


def test_sample_writes_the_picture_next_to_real_maps(trained, data_file, tmp_path):
    out, _ = trained
    rc = main(["prior", "sample", "--model", str(out / "prior.pt"), "--out", str(tmp_path / "s"), "--n", "3",
               "--steps", "4", "--data", str(data_file)])
    assert rc == 0
    assert (tmp_path / "s" / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = np.load(tmp_path / "s" / "samples.npy")
    assert samples.shape == (3, K, K) and (samples >= 0).all()
    stats = json.loads((tmp_path / "s" / "stats.json").read_text())
    assert stats["real"]["n"] == 3 and 0 <= stats["sampled"]["diagonal_fraction"] <= 1
    # without --data the examples stored in the model are shown; the same seed gives the same samples
    rc = main(["prior", "sample", "--model", str(out / "prior.pt"), "--out", str(tmp_path / "t"), "--n", "3",
               "--steps", "4"])
    assert rc == 0
    np.testing.assert_array_equal(np.load(tmp_path / "t" / "samples.npy"), samples)
    assert json.loads((tmp_path / "t" / "stats.json").read_text())["real"]["n"] >= 1


def test_errors_are_one_line_with_status_2(data_file, tmp_path, capsys):
    assert main(["prior", "train", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["prior", "train", str(data_file), "--out", str(tmp_path / "x"), "--channels", "8,a"]) == 2
    assert "--channels" in capsys.readouterr().err
    assert main(["prior", "sample", "--model", "no_such_prior", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "no prior named" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y").exists()
