"""scripts/bench_classes.py: per-class tables, and merging shards of runs without mixing code."""

import json

import pytest

from tests.helpers import load_script


def _row(a, b, err):
    return {"source": a, "target": b, "mean_error_x100": err}


def _write(path, pairs, n_pairs=4, complete=True):
    path.write_text(json.dumps({"n_pairs": n_pairs, "complete": complete, "pairs": pairs}))
    return path


def test_merge_takes_each_pair_once_and_filters_methods():
    bc = load_script("bench_classes")
    a = {"pairs": {"ours": [_row("cat0", "cat1", 2.0)], "pyfmaps": [_row("cat0", "cat1", 9.0)]}}
    b = {"pairs": {"ours": [_row("dog0", "dog1", 99.0)], "pyfmaps": [_row("cat0", "cat1", 9.0),
                                                                     _row("dog0", "dog1", 4.0)]}}
    merged = bc.merge_runs([("a", a, None), ("b", b, {"pyfmaps"})])
    assert sorted((r["source"], r["mean_error_x100"]) for r in merged["ours"]) == [("cat0", 2.0)]
    assert sorted((r["source"], r["mean_error_x100"]) for r in merged["pyfmaps"]) == [("cat0", 9.0), ("dog0", 4.0)]
    # only pairs every method has are tabled
    rows = bc.common_rows(merged)
    assert set(rows["ours"]) == set(rows["pyfmaps"]) == {("cat0", "cat1")}


def test_merge_refuses_two_different_results_for_one_pair():
    bc = load_script("bench_classes")
    a = {"pairs": {"ours": [_row("cat0", "cat1", 2.0)]}}
    b = {"pairs": {"ours": [_row("cat0", "cat1", 2.5)]}}
    with pytest.raises(bc.MergeError, match="cat0 -> cat1"):
        bc.merge_runs([("a", a, None), ("b", b, None)])


def test_parse_source():
    bc = load_script("bench_classes")
    assert bc.parse_source("x/bench.json") == (bc.Path("x/bench.json"), None)
    assert bc.parse_source("x/bench.json:pyfmaps,ours") == (bc.Path("x/bench.json"), {"pyfmaps", "ours"})


def test_cli_tables_per_class_and_odd_pairs(tmp_path, capsys):
    bc = load_script("bench_classes")
    f1 = _write(tmp_path / "s1.json", {"ours": [_row("cat1", "cat3", 2.0), _row("cat0", "cat2", 6.0)]})
    f2 = _write(tmp_path / "s2.json", {"ours": [_row("dog1", "dog3", 4.0)]})
    out = tmp_path / "classes.md"
    assert bc.main([str(f1), str(f2), "--expect", "3", "--out", str(out)]) == 0
    text = out.read_text()
    assert "3 of 3 pairs (complete)" in text
    assert "| cat | 2 | 4.00 / 4.00 / 1 |" in text
    assert "| dog | 1 | 4.00 / 4.00 / 0 |" in text
    assert "| all | 3 | 4.00 / 4.00 / 1 |" in text
    # odd-numbered pairs only: cat1->cat3 and dog1->dog3
    assert "| all | 2 | 3.00 / 3.00 / 0 |" in text
    f3 = _write(tmp_path / "s3.json", {"ours": [_row("cat1", "cat3", 2.5)]})
    assert bc.main([str(f1), str(f3)]) == 2
    assert "cat1 -> cat3" in capsys.readouterr().err
