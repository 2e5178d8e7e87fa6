"""The shared evaluation loop: known answers on a tiny dataset with identity ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.eval import Dataset, DatasetError, PairEvaluator


def test_identity_and_mirror_maps_have_known_measures(tiny_dataset):
    ds = Dataset(tiny_dataset)
    ev = PairEvaluator(ds)
    ev.check([("ell_a", "ell_b")])
    n = ev.shape("ell_b").n_vertices
    row, errors = ev.evaluate("ell_a", "ell_b", np.arange(n), np.arange(n))
    assert row["mean_error_x100"] == 0.0 and row["flipped"] is False
    assert row["coverage_21"] == 1.0 and row["coverage_12"] == 1.0
    assert (row["source"], row["target"], row["n_source"], row["n_target"]) == ("ell_a", "ell_b", n, n)
    assert errors.shape == (n,) and not errors.any()
    mirror = ds.gt("ell_b", sym=True)  # identity ground truth: the mirrored truth is the mirror map
    row, _ = ev.evaluate("ell_a", "ell_b", mirror)
    assert row["flipped"] and row["flipped_whole"] and row["mean_error_sym_x100"] == 0.0
    assert row["mean_error_x100"] > 10


def test_geodesics_are_kept_for_the_last_sources_only(tiny_dataset):
    ev = PairEvaluator(Dataset(tiny_dataset), keep_geodesics=1)
    d_a = ev.distances("ell_a")
    assert ev.distances("ell_a") is d_a
    ev.distances("ell_b")
    assert ev.distances("ell_a") is not d_a  # evicted, rebuilt


def test_bad_pairs_fail_before_any_work(tiny_dataset):
    ev = PairEvaluator(Dataset(tiny_dataset))
    with pytest.raises(DatasetError, match="not in"):
        ev.check([("ell_a", "nobody")])
    (tiny_dataset / "corres" / "ell_c.vts").write_text("1\n2\n")
    with pytest.raises(DatasetError, match="differ in length"):
        ev.evaluate("ell_a", "ell_c", np.arange(ev.shape("ell_c").n_vertices))
