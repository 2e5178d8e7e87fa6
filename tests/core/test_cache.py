"""The derived-data cache: memory + disk, keyed by content and every parameter, never trusted
when corrupt, and switchable off."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import shapecorr
from shapecorr.core import cache as cache_mod
from shapecorr.core import get_cache, set_cache_dir
from shapecorr.spectral import eigenbasis, laplacian

from helpers import bumpy


class Counter:
    """A compute function that records how often it ran."""

    def __init__(self, seed=0):
        self.calls = 0
        self.seed = seed

    def __call__(self):
        self.calls += 1
        rng = np.random.default_rng(self.seed)
        return {"dense": rng.standard_normal((7, 3)), "scalar": 2.5,
                "sparse": sp.random(6, 6, density=0.4, random_state=self.seed, format="csr")}


def _fresh(shape):
    """An equal shape without the in-memory memo (as after a restart)."""
    return shape.copy()


def _entries(cache_dir):
    return sorted(cache_dir.glob("*.npz"))


def test_autouse_fixture_points_the_cache_at_tmp(cache_dir):
    assert get_cache().root == cache_dir


def test_hit_returns_the_same_values_without_recomputing(cache_dir):
    s = bumpy(1)
    comp = Counter()
    first = s.derived("demo", {"a": 1}, comp)
    assert comp.calls == 1 and len(_entries(cache_dir)) == 1
    again = s.derived("demo", {"a": 1}, comp)  # memory hit
    assert again is first and comp.calls == 1
    disk = _fresh(s).derived("demo", {"a": 1}, comp)  # disk hit
    assert comp.calls == 1
    np.testing.assert_array_equal(disk["dense"], first["dense"])
    assert disk["dense"].dtype == first["dense"].dtype
    assert float(disk["scalar"]) == 2.5
    assert sp.issparse(disk["sparse"])
    np.testing.assert_array_equal(disk["sparse"].toarray(), first["sparse"].toarray())


def test_key_changes_with_params_kind_and_content(cache_dir):
    s = bumpy(1)
    comp = Counter()
    s.derived("demo", {"a": 1}, comp)
    s.derived("demo", {"a": 2}, comp)
    s.derived("other", {"a": 1}, comp)
    moved = s.copy(vertices=s.vertices * 1.0001)
    moved.derived("demo", {"a": 1}, comp)
    as_float32 = s.copy(vertices=s.vertices.astype(np.float32).astype(np.float64))
    as_float32.derived("demo", {"a": 1}, comp)
    assert comp.calls == 5 and len(_entries(cache_dir)) == 5
    keys = {cache_mod.make_key(s.content_hash, "demo", {"a": 1}),
            cache_mod.make_key(s.content_hash, "demo", {"a": 2}),
            cache_mod.make_key(s.content_hash, "other", {"a": 1}),
            cache_mod.make_key(moved.content_hash, "demo", {"a": 1})}
    assert len(keys) == 4
    # parameter order does not matter
    assert cache_mod.make_key("h", "k", {"a": 1, "b": 2}) == cache_mod.make_key("h", "k", {"b": 2, "a": 1})
    # faces are part of the content
    assert s.copy(faces=s.faces[:, [1, 2, 0]]).content_hash != s.content_hash


def test_spectral_data_is_keyed_by_k_and_laplacian_kind(cache_dir):
    s = bumpy(2)
    b10 = eigenbasis(s, 10)
    b12 = eigenbasis(_fresh(s), 12)
    bc = eigenbasis(_fresh(s), 10, laplacian_kind="cotan")
    names = [p.name for p in _entries(cache_dir)]
    assert sum(n.startswith("eigenbasis-") for n in names) == 3
    assert sum(n.startswith("laplacian-") for n in names) == 2
    np.testing.assert_allclose(b12.evals[:10], b10.evals, rtol=1e-8, atol=1e-10)
    assert not np.allclose(bc.evals[1:], b10.evals[1:], rtol=1e-6)  # robust != cotan on this mesh
    again = eigenbasis(_fresh(s), 10)
    np.testing.assert_array_equal(again.evecs, b10.evecs)


def _corrupt_entry(path, how):
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"not an npz at all")
    elif how == "tampered":  # a valid npz whose values no longer match the stored checksum
        with np.load(path) as z:
            flat = {k: z[k] for k in z.files}
        flat["dense"] = flat["dense"] + 1.0
        with open(path, "wb") as fh:
            np.savez(fh, **flat)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "garbage", "tampered"])
def test_corrupt_entry_is_detected_and_rebuilt(cache_dir, how):
    s = bumpy(1)
    comp = Counter()
    good = s.derived("demo", {"a": 1}, comp)
    (entry,) = _entries(cache_dir)
    _corrupt_entry(entry, how)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        rebuilt = _fresh(s).derived("demo", {"a": 1}, comp)
    assert comp.calls == 2  # recomputed, not trusted
    np.testing.assert_array_equal(rebuilt["dense"], good["dense"])
    # and the entry on disk is valid again
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        third = _fresh(s).derived("demo", {"a": 1}, comp)
    assert comp.calls == 2
    np.testing.assert_array_equal(third["dense"], good["dense"])


def test_set_cache_dir_none_disables_the_disk_cache(tmp_path, cache_dir):
    set_cache_dir(None)
    assert get_cache() is None
    s = bumpy(1)
    comp = Counter()
    s.derived("demo", {"a": 1}, comp)
    _fresh(s).derived("demo", {"a": 1}, comp)
    assert comp.calls == 2  # only the in-memory memo remains
    laplacian(s)
    assert not cache_dir.exists() or _entries(cache_dir) == []
    other = tmp_path / "elsewhere"
    shapecorr.set_cache_dir(other)
    laplacian(_fresh(s))
    assert len(_entries(other)) == 1


def test_disk_false_skips_the_disk(cache_dir):
    s = bumpy(1)
    comp = Counter()
    s.derived("demo", {"a": 1}, comp, disk=False)
    assert _entries(cache_dir) == []
    laplacian(s, cache=False)
    assert _entries(cache_dir) == []


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SHAPECORR_CACHE_DIR", str(tmp_path / "env"))
    assert cache_mod.default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("SHAPECORR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.default_cache_dir() == tmp_path / "xdg" / "shapecorr"
    set_cache_dir("default")
    assert get_cache().root == tmp_path / "xdg" / "shapecorr"
    monkeypatch.setenv("SHAPECORR_NO_CACHE", "1")
    assert get_cache() is None


def test_unwritable_cache_does_not_break_computation(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    set_cache_dir(blocker / "sub")  # cannot be created: its parent is a file
    s = bumpy(1)
    L, mass = laplacian(s)
    assert L.shape == (s.n_vertices, s.n_vertices)
