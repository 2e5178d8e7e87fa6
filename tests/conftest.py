"""Suite-wide fixtures: every test gets its own derived-data cache folder under ``tmp_path``.

Nothing is ever written to the user's cache (``~/.cache/shapecorr``) or next to the data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/helpers.py is importable as ``helpers`` from every test module (also from the
# sub-packages tests/core, tests/spectral, ... whose rootdir is not on sys.path otherwise).
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Point the shapecorr disk cache at a fresh tmp folder for every test (and reset it)."""
    import shapecorr

    cache = tmp_path / "shapecorr-cache"
    monkeypatch.setenv("SHAPECORR_CACHE_DIR", str(cache))  # also for subprocesses
    shapecorr.set_cache_dir(cache)
    yield cache
    shapecorr.set_cache_dir("default")


@pytest.fixture
def cache_dir(_cache_in_tmp):
    """The per-test cache folder (already active)."""
    return _cache_in_tmp
