"""Fixtures shared by the functional-map tests."""

from __future__ import annotations

import pytest

from shapecorr.spectral import eigenbasis

from helpers import bumpy, permuted_copy


@pytest.fixture(scope="module")
def blob():
    s = bumpy(3)  # 642 vertices, no symmetry
    t, perm = permuted_copy(s, seed=12)
    b1 = eigenbasis(s, 40, cache=False)
    b2 = eigenbasis(t, 40, cache=False)
    return s, t, perm, b1, b2
