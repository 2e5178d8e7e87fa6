import json

import pytest

from shapecorr.cli import main


def test_eval_end_to_end(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_dataset), "--pairs", str(tiny_dataset / "test_pairs.txt"), "--out", str(out),
               "--preset", str(tiny_dataset / "tiny.yaml")])
    assert rc == 0
    err = capsys.readouterr().err
    assert "[1/2] ell_a -> ell_b" in err and "[2/2]" in err
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["n_pairs"] == 2 and len(res["pairs"]) == 2
    for key in ("mean_error_x100", "median_error_x100", "flip_rate", "auc", "coverage_21_mean", "time_median_s"):
        assert key in res["summary"], key
    p = res["pairs"][0]
    assert p["source"] == "ell_a" and p["target"] == "ell_b"
    assert 0 <= p["auc"] <= 1 and 0 < p["coverage_21"] <= 1 and p["mean_error_x100"] >= 0
    assert p["flipped"] in (True, False) and "total" in p["timings"]
    assert (out / "pck.png").stat().st_size > 1000
    assert (out / "pairs.csv").read_text().splitlines()[0].startswith("source,target")
    pck = res["pck"]["values"]
    assert all(b >= a for a, b in zip(pck, pck[1:]))


def test_eval_limit_quiet_and_default_pairs(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_dataset), "--out", str(out), "--preset", str(tiny_dataset / "tiny.yaml"),
               "--limit", "1", "--quiet", "--points", "50"])
    assert rc == 0
    assert capsys.readouterr().err == ""
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["n_pairs"] == 1 and res["pairs"][0]["n_points"] == 50


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
