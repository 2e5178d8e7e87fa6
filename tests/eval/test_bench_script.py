"""scripts/bench_match.py end to end on a tiny generated dataset (ours only: pyfmaps needs
more vertices than the tiny meshes have for its 200-eigenpair preprocessing)."""

import json

import pytest
from helpers import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_match")


def test_bench_pairs_and_scale(bench, tiny_dataset, tmp_path):
    out = tmp_path / "bench"
    rc = bench.main([str(tiny_dataset), "--methods", "ours", "--preset", str(tiny_dataset / "tiny.yaml"),
                     "--out", str(out), "--scale", "--scale-pairs", "1", "--scale-levels", "0", "1",
                     "--scale-points", "30", "--eval-cache", str(tmp_path / "evcache")])
    assert rc == 0
    res = json.loads((out / "bench.json").read_text())
    assert res["complete"] and res["n_pairs"] == 2
    s = res["summary"]["ours"]
    assert s["n_pairs"] == 2 and s["time_warm_median_s"] > 0 and 0 <= s["flip_rate"] <= 1
    md = (out / "bench_results.md").read_text()
    assert "| shapecorr (default) | 2 |" in md and "## Scale" in md
    assert (out / "pck.png").exists() and (out / "pairs.csv").exists()
    scale = json.loads((out / "scale.json").read_text())
    levels = sorted(r["level"] for r in scale["rows"])
    assert levels == [0, 1], scale["rows"]
    big = [r for r in scale["rows"] if r["level"] == 1][0]
    assert big["n_source"] > 3 * [r for r in scale["rows"] if r["level"] == 0][0]["n_source"]
    assert big["peak_rss_mb"] > 0 and big["n_points"] == 30


def test_bench_bad_dataset(bench, tmp_path, capsys):
    assert bench.main([str(tmp_path / "missing")]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
