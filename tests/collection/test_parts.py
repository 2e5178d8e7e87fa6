"""Shape graph and template choice, the output folder and composition, the in-process executor."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.collection import (
    CollectionFolder,
    InProcessExecutor,
    compose,
    graph,
    make_executor,
)
from shapecorr.collection.store import write_indices, write_text
from shapecorr.core import MatchFileError, SettingsError


# ----------------------------------------------------------------------------- graph
def test_medoid_is_the_middle_of_a_line():
    sigs = [np.array([0.0, x]) for x in (0.0, 1.0, 2.5, 3.0, 10.0)]
    assert graph.medoid(sigs) == 2  # sums: 16.5, 13.5, 12.5, 13, 34.5 ... the smallest at 2.5


def test_medoid_matches_a_naive_loop_and_samples_large_collections():
    rng = np.random.default_rng(0)
    sigs = list(rng.standard_normal((40, 3)))
    sums = [sum(float(np.linalg.norm(a - b)) for b in sigs) for a in sigs]
    assert graph.medoid(sigs) == int(np.argmin(sums))
    sampled = graph.medoid(sigs, sample=10, seed=1)  # the medoid of a seeded sample of 10
    assert sampled == graph.medoid(sigs, sample=10, seed=1) and 0 <= sampled < 40


def test_signature_skips_the_constant_mode_and_is_log():
    ev = np.array([0.0, 1.0, np.e, np.e ** 2])
    np.testing.assert_allclose(graph.signature(ev, 3), [0.0, 1.0, 2.0])


def test_nearest_neighbours_and_graph():
    sigs = [np.array([x]) for x in (0.0, 1.0, 2.1, 3.3, 4.6)]
    nn = graph.nearest_neighbours(sigs, 2)
    assert nn[0].tolist() == [1, 2]
    assert nn[2].tolist() == [1, 3]
    assert nn[4].tolist() == [3, 2]
    edges = graph.shape_graph(sigs, 1, template=2)
    # nearest: 0->1, 1->0, 2->1 (template: left out), 3->2 (template: out), 4->3
    assert edges == [(0, 1), (3, 4)]
    assert graph.nearest_neighbours(sigs[:1], 3).shape == (1, 0)


def test_distances_in_blocks_give_the_same_medoid_and_neighbours():
    """Blocks of rows (flat memory in the number of shapes) change nothing: blocks of 3 and of
    7 rows against one block, and the neighbours against a naive loop."""
    rng = np.random.default_rng(5)
    sigs = list(rng.standard_normal((50, 4)))
    assert graph.medoid(sigs, block=3) == graph.medoid(sigs, block=7) == graph.medoid(sigs, block=50)
    nn = graph.nearest_neighbours(sigs, 3, block=7)
    np.testing.assert_array_equal(nn, graph.nearest_neighbours(sigs, 3, block=50))
    for i, row in enumerate(nn):
        d = [float(np.linalg.norm(sigs[i] - s)) if j != i else np.inf for j, s in enumerate(sigs)]
        assert row.tolist() == list(np.argsort(d, kind="stable")[:3])


def test_signatures_of_different_lengths_are_cut_to_the_shortest():
    assert graph.medoid([np.zeros(5), np.ones(3), np.full(4, 0.4)]) == 2


# ----------------------------------------------------------------------------- store
@pytest.fixture
def fake_collection(tmp_path):
    """Template T (4 vertices), A (3 vertices), B (5 vertices) with hand-written maps."""
    f = CollectionFolder(tmp_path / "out")
    write_text(f.template_path, "T\n/somewhere/T.off\n")
    maps = {"T": ([0, 1, 2, 3], [0, 1, 2, 3]), "A": ([3, 0, 1], [1, 2, 2, 0]), "B": ([0, 0, 1, 2, 3], [1, 2, 3, 4])}
    for name, (to_t, from_t) in maps.items():
        write_indices(f.to_template_path(name), to_t)
        write_indices(f.from_template_path(name), from_t)
    return f, maps


def test_compose_is_the_composition_of_the_files(fake_collection):
    f, maps = fake_collection
    p2p_ab, p2p_ba = compose(f, "A", "B")
    assert p2p_ab.tolist() == [np.array(maps["B"][1])[t] for t in maps["A"][0]]
    assert p2p_ab.tolist() == [4, 1, 2]
    assert p2p_ba.tolist() == [1, 1, 2, 2, 0]
    assert f.names() == ["A", "B", "T"]
    assert f.template() == "T" and f.template_file() == "/somewhere/T.off"
    # through the template itself: the map to the template
    assert compose(f, "A", "T")[0].tolist() == maps["A"][0]


def test_compose_errors_name_the_problem(fake_collection, tmp_path):
    f, _ = fake_collection
    with pytest.raises(MatchFileError, match="no map for 'C'"):
        compose(f, "A", "C")
    with pytest.raises(MatchFileError, match="not a collection output"):
        compose(tmp_path, "A", "B")
    write_indices(f.to_template_path("A"), [9, 0, 1])  # beyond the template
    with pytest.raises(MatchFileError, match="different runs"):
        compose(f, "A", "B")


def test_atomic_writes_leave_no_partial_files(tmp_path):
    write_indices(tmp_path / "m.txt", np.arange(3))
    assert (tmp_path / "m.txt").read_text() == "0\n1\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.txt"]


# ----------------------------------------------------------------------------- executors
def _square(x):
    return x * x


def _boom(x):
    raise ValueError(f"bad {x}")


def test_in_process_executor_defers_and_resolves_handles():
    ex = InProcessExecutor()
    big = ex.put(np.arange(4))
    h = ex.call(np.sum, big)
    h2 = ex.call(_square, h)  # a handle as an argument stands for its value
    assert ex.get(h2) == 36
    bad = ex.call(_boom, 3)
    done = list(ex.as_completed([h, bad, h2]))
    assert done == [h, bad, h2]
    with pytest.raises(ValueError, match="bad 3"):
        ex.get(bad)
    with pytest.raises(ValueError, match="bad 3"):  # again, as Ray does
        ex.get(bad)


def test_collection_settings_check_the_gallery_up_axis():
    from shapecorr.collection import CollectionSettings

    assert CollectionSettings(gallery_up="-z").gallery_up == "-z"
    with pytest.raises(SettingsError, match="gallery_up: up axis 'north'"):
        CollectionSettings(gallery_up="north")


def test_make_executor_choices():
    assert isinstance(make_executor("local"), InProcessExecutor)
    with pytest.raises(SettingsError, match="engine="):
        make_executor("spark")
    with pytest.raises(SettingsError, match="address"):
        make_executor("local", address="ray://x:1")


def test_task_window_streams_every_result_and_error(tmp_path):
    """More tasks than the in-flight window, given as a generator: every result comes back once
    (on the in-process engine in the order given), a failing task as its exception, and the
    calls are read only as the window moves (no list of all pending tasks)."""
    from shapecorr.collection.run import CollectionSettings, _Run
    from shapecorr.collection.work import WorkContext
    from shapecorr.config import load_preset

    run = _Run(WorkContext(load_preset(), str(tmp_path), None), CollectionSettings(), progress=False)
    run.ex = InProcessExecutor()
    read = []

    def calls():
        for i in range(150):
            read.append(i)
            yield i, _boom if i == 70 else _square, (i,)

    stream = run._map(calls(), 150, "test", "item")
    first = next(stream)
    assert first == (0, 0) and len(read) == 65  # the window (64) and the one sent in place of the first
    out = [first] + list(stream)
    assert [k for k, _ in out] == list(range(150))
    assert [r for k, r in out if k != 70] == [i * i for i in range(150) if i != 70]
    assert isinstance(out[70][1], ValueError)


# ----------------------------------------------------------------------------- batching (Ray's tasks)
def test_batch_size_from_the_measured_cost_and_the_workers():
    from shapecorr.collection.engine import Batching

    b = Batching(target_s=1.0, tasks_per_worker=4, max_items=256)
    assert b.size(1000, 2, 0, 0.0) == 1  # nothing measured yet: one call per task
    assert b.size(1000, 2, 10, 0.5) == 20  # 50 ms a call: 20 calls make a second
    assert b.size(1000, 2, 4, 12.0) == 1  # 3 s a call: one per task
    assert b.size(40, 2, 10, 0.01) == 5  # 40 calls on 2 workers: at least 8 tasks
    assert b.size(None, 2, 10, 0.0) == 256  # free calls, no total: the cap
    assert Batching(target_s=0.0, max_items=1).size(1000, 2, 10, 0.5) == 1
    for bad in (dict(target_s=-1.0), dict(target_s=float("nan")), dict(tasks_per_worker=0), dict(max_items=1.5),
                dict(probes=0)):
        with pytest.raises(SettingsError, match="batching"):
            Batching(**bad)


class _Unpicklable(Exception):
    def __init__(self, a, b):  # pickling passes one argument back: unpickling fails
        super().__init__(f"{a}/{b}")


def _raise_unpicklable(x):
    raise _Unpicklable(x, "no")


def test_run_batch_runs_each_call_with_the_shared_values_and_keeps_errors_apart():
    from shapecorr.collection.engine import BatchItemError, _Shared, run_batch

    out, cpu = run_batch(pow, [(2, _Shared(0)), (3, _Shared(0)), (_Shared(1), 2)], 3, 5)
    assert out == [(True, 8), (True, 27), (True, 25)] and cpu >= 0.0
    out, _ = run_batch(_boom, [(1,), (2,)])
    assert [ok for ok, _ in out] == [False, False] and str(out[1][1]) == "bad 2"
    (ok, err), = run_batch(_raise_unpicklable, [(7,)])[0]
    assert not ok and isinstance(err, BatchItemError) and str(err) == "_Unpicklable: 7/no"


class _Batching(InProcessExecutor):
    """The in-process executor under another name, so that :func:`stream` batches its calls as
    on Ray (each task still runs here when its result is asked for); it counts the tasks."""

    name = "test-batches"
    workers = 2

    def __init__(self):
        self.batches: list = []

    def call(self, fn, *args):
        self.batches.append(len(args[1]))
        return super().call(fn, *args)


def test_stream_on_ray_batches_calls_and_returns_each_result_once():
    from shapecorr.collection.engine import Batching, stream

    ex = _Batching()
    shared = ex.put(3)
    calls = [(i, pow, (i, shared)) for i in range(100)] + [(100 + i, _boom, (i,)) for i in range(5)]
    sent = []
    out = dict(stream(ex, iter(calls), on_submit=sent.append, total=len(calls),
                      batching=Batching(target_s=1e9, tasks_per_worker=2, probes=1)))
    assert sorted(out) == list(range(105))
    assert all(out[i] == i ** 3 for i in range(100))
    assert all(isinstance(out[100 + i], ValueError) for i in range(5))
    assert sent == ex.batches and sum(sent) == 105
    # two probes of one call, then batches of at most 105 / (2 x 2) -> 27; a batch never mixes functions
    assert ex.batches[:2] == [1, 1] and max(ex.batches) == 27 and ex.batches[-1] == 5
    # one call per task when asked (Ray's own cost is measured so)
    ex = _Batching()
    list(stream(ex, iter(calls[:10]), total=10, batching=Batching(target_s=0.0, max_items=1)))
    assert ex.batches == [1] * 10


def test_task_threads_change_the_match_settings_but_not_what_is_redone(tmp_path):
    from shapecorr.collection import collection
    from shapecorr.collection.work import WorkContext
    from shapecorr.config import load_preset

    ms = load_preset()
    one = WorkContext(ms, str(tmp_path), None, threads=1)
    assert one.match_settings.feature_threads == 1 and ms.feature_threads is None
    assert one.key == WorkContext(ms, str(tmp_path), None).key  # a rerun with other threads reuses the results
    fixed = load_preset(feature_threads=3)
    assert WorkContext(fixed, str(tmp_path), None, threads=1).match_settings.feature_threads == 3  # the preset's
    for bad in (0, 1.5):
        with pytest.raises(SettingsError, match="threads="):
            collection(tmp_path, out=tmp_path / "out", engine="local", threads=bad)
