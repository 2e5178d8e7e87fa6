import numpy as np
import pytest

from shapecorr.eval import Dataset, DatasetError, all_pairs, find_pairs_file, read_pairs, read_vts


def test_read_vts_is_one_based(tmp_path):
    p = tmp_path / "a.vts"
    p.write_text("1\n5\n3\n")
    idx = read_vts(p)
    assert idx.dtype == np.int64
    assert idx.tolist() == [0, 4, 2]
    assert read_vts(p, n_vertices=5).tolist() == [0, 4, 2]
    with pytest.raises(DatasetError, match="only 4"):
        read_vts(p, n_vertices=4)
    p.write_text("0\n1\n")
    with pytest.raises(DatasetError, match="1-based"):
        read_vts(p)
    p.write_text("1.5\n")
    with pytest.raises(DatasetError):
        read_vts(p)
    p.write_text("abc\n")
    with pytest.raises(DatasetError):
        read_vts(p)
    with pytest.raises(DatasetError, match="no such"):
        read_vts(tmp_path / "missing.vts")


def test_read_pairs_tab_and_space(tmp_path):
    p = tmp_path / "pairs.txt"
    p.write_text("tr_reg_002\ttr_reg_007\n# comment\n\ncat0 cat1\n dog1.off   dog2 \n")
    assert read_pairs(p) == [("tr_reg_002", "tr_reg_007"), ("cat0", "cat1"), ("dog1", "dog2")]
    p.write_text("a b c\n")
    with pytest.raises(DatasetError, match=":1:"):
        read_pairs(p)
    p.write_text("\n# nothing\n")
    with pytest.raises(DatasetError, match="no pairs"):
        read_pairs(p)


def test_all_pairs():
    assert all_pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert len(all_pairs([f"tr_reg_{i:03d}" for i in range(80, 100)])) == 190


def test_dataset(tiny_dataset, tmp_path):
    ds = Dataset(tiny_dataset)
    assert ds.names == ["ell_a", "ell_b", "ell_c"]
    assert ds.gt("ell_a")[0] == 0 and ds.has_sym("ell_a")
    assert find_pairs_file(tiny_dataset) == tiny_dataset / "test_pairs.txt"
    assert ds.test_split() == [("ell_a", "ell_b"), ("ell_a", "ell_c")]
    ds.check_pairs([("ell_a", "ell_b")])
    n = len(ds.gt("ell_a"))
    with pytest.raises(DatasetError, match="only"):
        ds.gt("ell_a", n_vertices=n - 1)  # checked also when the file is already read
    with pytest.raises(DatasetError, match="nope"):
        ds.check_pairs([("ell_a", "nope")])
    (tiny_dataset / "corres" / "ell_c.vts").unlink()
    with pytest.raises(DatasetError, match="ell_c.vts"):
        ds.check_pairs([("ell_a", "ell_c")])
    with pytest.raises(DatasetError, match="no such"):
        Dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no shapes"):
        Dataset(tmp_path / "empty")
