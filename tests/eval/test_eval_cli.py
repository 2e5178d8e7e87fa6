import csv
import json

import numpy as np
import pytest

import shapecorr
from shapecorr.cli import main


def test_eval_end_to_end(tiny_dataset, tmp_path, capsys):
    """The real matcher on two deformed ellipsoids: every field present, each measure consistent
    with the others and with pairs.csv."""
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_dataset), "--pairs", str(tiny_dataset / "test_pairs.txt"), "--out", str(out),
               "--preset", str(tiny_dataset / "tiny.yaml")])
    assert rc == 0
    err = capsys.readouterr().err
    assert "[1/2] ell_a -> ell_b" in err and "[2/2]" in err
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["n_pairs"] == 2 and [(p["source"], p["target"]) for p in res["pairs"]] == \
        [("ell_a", "ell_b"), ("ell_a", "ell_c")]
    n = shapecorr.load(tiny_dataset / "ell_a.off").n_vertices
    for p in res["pairs"]:
        assert p["n_source"] == p["n_target"] == p["n_points"] == n
        assert 0.0 <= p["confidence"] <= 1.0 and "total" in p["timings"]
    means = [p["mean_error_x100"] for p in res["pairs"]]
    assert res["summary"]["mean_error_x100"] == pytest.approx(np.mean(means))
    assert res["summary"]["median_error_x100"] == pytest.approx(np.median(means))
    assert res["summary"]["flip_rate"] == np.mean([p["flipped"] for p in res["pairs"]])
    assert (out / "pck.png").stat().st_size > 1000
    with open(out / "pairs.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["mean_error_x100"]) for r in rows] == pytest.approx(means)
    pck = res["pck"]["values"]
    assert all(b >= a for a, b in zip(pck, pck[1:]))


def test_eval_measures_known_maps_exactly(tiny_dataset, tmp_path, monkeypatch, capsys):
    """With the matcher replaced by known maps, the measures are known exactly: the true map
    (identity) has error 0, AUC 1 and full coverage; its mirror image is a flip whose error
    against the mirrored truth is 0."""
    import shapecorr.pipeline
    from shapecorr.eval import read_vts
    from shapecorr.result import Match

    mirror = read_vts(tiny_dataset / "corres" / "ell_c.sym.vts")  # 0-based
    n = len(mirror)

    def known_match(source, target, *args, **kwargs):
        p2p = np.arange(n) if target.name == "ell_b" else mirror
        return Match(p2p_21=p2p, p2p_12=p2p, fmap_12=np.eye(4), info={"confidence": 0.5}, timings={"total": 0.0})

    monkeypatch.setattr(shapecorr.pipeline, "match", known_match)
    out = tmp_path / "out"
    assert main(["eval", str(tiny_dataset), "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    right, flipped = res["pairs"]
    assert right["mean_error_x100"] == 0.0 and right["median_error_x100"] == 0.0
    assert right["auc"] == pytest.approx(1.0) and right["coverage_21"] == right["coverage_12"] == 1.0
    assert right["flipped"] is False and right["frac_nearer_sym"] == 0.0
    assert flipped["flipped"] is True and flipped["flipped_whole"] is True
    assert flipped["mean_error_sym_x100"] == 0.0 and flipped["mean_error_x100"] > 10
    assert flipped["coverage_21"] == 1.0  # a mirror is a bijection too
    assert res["summary"]["flip_rate"] == 0.5 and res["summary"]["n_flipped"] == 1
    assert res["summary"]["mean_error_unflipped_x100"] == 0.0


def test_eval_limit_quiet_and_default_pairs(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_dataset), "--out", str(out), "--preset", str(tiny_dataset / "tiny.yaml"),
               "--limit", "1", "--quiet", "--points", "50"])
    assert rc == 0
    assert capsys.readouterr().err == ""
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["n_pairs"] == 1 and res["pairs"][0]["n_points"] == 50
    assert (res["pairs"][0]["source"], res["pairs"][0]["target"]) == ("ell_a", "ell_b")  # the first listed


@pytest.mark.parametrize("case, message", [
    ("missing_dir", "no such folder"),
    ("missing_pairs", "no such file"),
    ("unknown_name", "not in"),
    ("missing_vts", "missing ground truth"),
    ("bad_preset", "unknown preset"),
    ("bad_limit", "--limit"),
    ("out_is_file", "not a folder"),
    ("bad_vts", "1-based"),
])
def test_eval_bad_input_exit_2(tiny_dataset, tmp_path, capsys, case, message):
    ds, pairs = tiny_dataset, tiny_dataset / "test_pairs.txt"
    extra = ["--preset", str(tiny_dataset / "tiny.yaml")]
    if case == "missing_dir":
        ds = tmp_path / "nowhere"
    elif case == "missing_pairs":
        pairs = tmp_path / "nopairs.txt"
    elif case == "unknown_name":
        pairs = tmp_path / "p.txt"
        pairs.write_text("ell_a ell_zzz\n")
    elif case == "missing_vts":
        (tiny_dataset / "corres" / "ell_b.vts").unlink()
    elif case == "bad_preset":
        extra = ["--preset", "no_such_preset"]
    elif case == "bad_limit":
        extra += ["--limit", "0"]
    elif case == "bad_vts":
        (tiny_dataset / "corres" / "ell_b.vts").write_text("0\n1\n2\n")
    out = tmp_path / "out"
    if case == "out_is_file":
        out.write_text("x")
    rc = main(["eval", str(ds), "--pairs", str(pairs), "--out", str(out)] + extra)
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("shapecorr eval: error:") and message in err[0], err
    assert not out.exists() or case == "out_is_file"


def test_eval_missing_model_is_one_line_and_exit_2(tiny_dataset, tmp_path, capsys):
    rc = main(["eval", str(tiny_dataset), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "none.npz")])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1
    assert lines[0].startswith("shapecorr eval: error: --model ") and "none.npz: no such file" in lines[0]
    assert not (tmp_path / "o").exists()
