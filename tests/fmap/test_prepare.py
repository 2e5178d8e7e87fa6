"""prepare_shapes: two shapes prepared at once (one in a forked child) give exactly the
sequential results, and any failure of the child falls back to preparing here."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from shapecorr.fmap import prepare as prep
from shapecorr.fmap.prepare import prepare_shape, prepare_shapes
from tests.helpers import icosphere

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forked path runs on Linux only")


def _bent_sphere():
    s = icosphere(3)
    v = s.vertices.copy()
    v[:, 0] *= 1.0 + 0.3 * v[:, 2]
    return s, s.copy(vertices=v, name="bent")


@linux_only
def test_forked_preparation_equals_sequential(monkeypatch):
    a, b = _bent_sphere()
    monkeypatch.setattr(prep, "_fork_pays", lambda shapes, device: True)
    forked = prepare_shapes((a, b), (20, 30), cache=False)
    here = tuple(prepare_shape(sh, k, cache=False) for sh, k in zip((a.copy(), b.copy()), (20, 30)))
    for p, q in zip(forked, here):
        assert p.evecs.shape == q.evecs.shape
        np.testing.assert_array_equal(p.evals, q.evals)
        np.testing.assert_array_equal(p.evecs, q.evecs)
        np.testing.assert_array_equal(p.shape.vertices, q.shape.vertices)
        assert p.sign == q.sign


@linux_only
def test_follow_up_work_runs_in_each_shapes_process(monkeypatch):
    """``then`` runs right after each shape's preparation, the second shape's in the child (on
    one thread), and its results come back next to the prepared shapes."""
    a, b = _bent_sphere()
    monkeypatch.setattr(prep, "_fork_pays", lambda shapes, device: True)
    parent = os.getpid()

    def then(i, P, threads):
        return i, os.getpid() == parent, threads, float(P.evals[1])

    (P1, r1), (P2, r2) = prepare_shapes((a, b), (20, 30), cache=False, then=then)
    assert r1 == (0, True, 1, float(P1.evals[1]))
    assert r2 == (1, False, 1, float(P2.evals[1]))
    serial = prepare_shapes((a, b), (20, 30), cache=False, then=then, parallel=False)
    assert [r[1][:3] for r in serial] == [(0, True, None), (1, True, None)]


@linux_only
def test_child_failure_is_redone_here():
    parent = os.getpid()

    def second():
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return "done here"

    assert prep._first_here_second_forked(lambda: "first", second) == ("first", "done here")


@linux_only
def test_child_that_dies_is_redone_here():
    parent = os.getpid()

    def second():
        if os.getpid() != parent:
            os._exit(3)
        return "done here"

    assert prep._first_here_second_forked(lambda: 1, second) == (1, "done here")


@linux_only
def test_error_in_this_process_stops_the_child():
    def first():
        raise ValueError("bad first shape")

    with pytest.raises(ValueError, match="bad first shape"):
        prep._first_here_second_forked(first, lambda: np.zeros(2_000_000))  # 16 MB: blocks on the pipe


def test_small_shapes_and_threads_stay_in_process():
    a, b = _bent_sphere()  # 642 vertices: below PARALLEL_MIN_VERTICES
    assert a.n_vertices < prep.PARALLEL_MIN_VERTICES
    assert not prep._fork_pays((a, b), "cpu")
    big = icosphere(4)  # 2562 vertices
    assert not prep._fork_pays((big, big), "cuda")


def test_mismatched_lengths():
    a, b = _bent_sphere()
    with pytest.raises(ValueError, match="2 shapes but 1"):
        prepare_shapes((a, b), (20,))
