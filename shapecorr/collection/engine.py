"""Two executors for the same work: Ray (local or a cluster) and in-process (no Ray needed).

The collection's work functions are plain Python functions of arrays and small records; an
executor only decides where they run. Both executors have the same four operations:

- ``put(value)``: a handle to a large, read-only value (Ray: the object store, so a value
  given to many tasks is stored once, not pickled into each task);
- ``call(fn, *args)``: a handle to ``fn(*args)``; handles among ``args`` stand for their
  values (Ray resolves them on the worker, without a round trip through the driver);
- ``get(handle)``: the value, or the task's own exception raised again;
- ``as_completed(handles)``: the handles in the order they finish.

On Ray, :func:`stream` puts several calls of one function in one task (:class:`Batching`): a
task's own cost (submit, schedule, fetch the arguments, return the result: 5-9 ms here) is
then paid once per batch, and the batch size is chosen from the CPU time the calls are
measured to take, so that tiny calls (a 162-vertex shape's match: 30-75 ms) go in batches of
about a second of work and large ones (a 5k-vertex match: 3 s) one per task.

Ray is imported only when a :class:`RayExecutor` is made, so ``import shapecorr`` and the
in-process executor work without it.
"""

from __future__ import annotations

import gc
import itertools
import logging
import math
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..core import SettingsError

log = logging.getLogger(__name__)

RAY_HINT = "install the collection extra: pip install -e '.[collection]' (or pip install ray)"


def ray_available() -> bool:
    """Whether Ray can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


# ----------------------------------------------------------------------------- in-process
class _Deferred:
    """A call not yet run: it runs, once, when its value is first asked for."""

    __slots__ = ("args", "done", "error", "fn", "value")

    def __init__(self, fn: Callable | None, args: tuple, value=None, done: bool = False):
        self.fn, self.args, self.done, self.value, self.error = fn, args, done, value, None

    def resolve(self):
        if not self.done:
            try:
                args = tuple(a.resolve() if isinstance(a, _Deferred) else a for a in self.args)
                self.value = self.fn(*args)
            except Exception as exc:  # kept and raised again by every get(), as Ray does
                self.error = exc
            self.done = True
            self.fn = self.args = None
        if self.error is not None:
            raise self.error
        return self.value


class InProcessExecutor:
    """Runs every call in this process, one after the other, when its result is asked for."""

    name = "in-process"
    workers = 1

    def put(self, value) -> _Deferred:
        return _Deferred(None, (), value=value, done=True)

    def call(self, fn: Callable, *args) -> _Deferred:
        return _Deferred(fn, args)

    def is_handle(self, value) -> bool:
        return isinstance(value, _Deferred)

    def get(self, handle):
        return handle.resolve() if isinstance(handle, _Deferred) else handle

    def as_completed(self, handles: Iterable) -> Iterator:
        for h in handles:
            try:
                self.get(h)
            except Exception:
                pass  # the caller's get() raises it again
            yield h

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------- Ray
class RayExecutor:
    """Runs calls as Ray tasks: on a local Ray started here (``address=None``; ``num_cpus``
    caps its workers, default all cores) or on a running cluster (``address``, e.g.
    ``"ray://head:10001"`` or ``"auto"``). A task whose worker dies is retried (``max_retries``);
    a task that raises is not (its exception is the answer). A local Ray started here is shut
    down by :meth:`close`."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, max_retries: int = 3):
        try:
            import ray
        except ImportError as exc:
            raise SettingsError(f"the Ray engine needs the ray package ({exc}); {RAY_HINT}, or use the "
                                "in-process engine (engine='local').") from exc
        self.ray = ray
        self.max_retries = int(max_retries)
        self._remote: dict[Callable, object] = {}
        self._started = False
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            if address is None:
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local Ray: no token notice
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray"
                raise SettingsError(f"could not start or join {where} ({exc}); check --address (the head "
                                    "node's address, e.g. ray://HOST:10001 or auto), or leave it out to run "
                                    "on this machine.") from exc
            self._started = True
        self.address = address
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def put(self, value):
        return self.ray.put(value)

    def call(self, fn: Callable, *args):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self.ray.remote(num_cpus=1, max_retries=self.max_retries)(fn)
            self._remote[fn] = remote
        return remote.remote(*args)

    def is_handle(self, value) -> bool:
        return isinstance(value, self.ray.ObjectRef)

    def get(self, handle):
        from ray.exceptions import RayTaskError

        try:
            return self.ray.get(handle)
        except RayTaskError as exc:  # the task's own exception, as if it had run here
            cause = exc.as_instanceof_cause()
            inner = getattr(exc, "cause", None)
            raise (inner if isinstance(inner, Exception) else cause) from None

    def as_completed(self, handles: Iterable) -> Iterator:
        pending = list(handles)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            yield from done

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
            self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Batching:
    """How :func:`stream` groups calls of one function into Ray tasks.

    target_s : CPU seconds of work a task is sized for, from the CPU time the calls of the
        stream are measured to take (so Ray's few milliseconds per task are well under 1 %).
    tasks_per_worker : a stream of ``total`` calls is cut into at least this many tasks per
        worker, so that every worker stays busy to the end of a stage.
    max_items : most calls in one task (bounds the size of one task's result).
    probes : tasks of one call each sent first, per worker, to measure the calls' cost (the
        stream waits for the first of them before it sends larger tasks).
    """

    target_s: float = 1.0
    tasks_per_worker: int = 4
    max_items: int = 256
    probes: int = 2

    def __post_init__(self):
        if not (isinstance(self.target_s, (int, float)) and math.isfinite(self.target_s) and self.target_s >= 0):
            raise SettingsError(f"batching target_s={self.target_s!r}: use a number of seconds >= 0.")
        for name in ("tasks_per_worker", "max_items", "probes"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise SettingsError(f"batching {name}={v!r}: use an integer >= 1.")

    def size(self, total: int | None, workers: int, items: int, cpu_s: float) -> int:
        """Calls per task after ``items`` calls took ``cpu_s`` (1 before anything is measured),
        for a stream of ``total`` calls (None: unknown) on ``workers`` workers."""
        cap = self.max_items
        if total:
            cap = min(cap, -(-int(total) // (self.tasks_per_worker * max(1, int(workers)))))
        if not items:
            return 1
        per_item = max(cpu_s / items, 1e-6)
        return max(1, min(cap, math.ceil(self.target_s / per_item)))


#: one call per task (Ray's cost measured per task, or a stream whose calls must not be grouped)
ONE_PER_TASK = Batching(target_s=0.0, max_items=1)


class _Shared:
    """Stands, inside a batch's calls, for the batch task's ``i``-th top-level argument: a
    handle (Ray resolves handles only at the top level of a task's arguments)."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __reduce__(self):
        return (_Shared, (self.i,))


class BatchItemError(Exception):
    """A call's exception that could not be sent back as itself (it does not pickle): its text."""


def run_batch(fn: Callable, calls: list, *shared) -> tuple[list, float]:
    """``fn(*args)`` of each ``args`` of ``calls`` (a :class:`_Shared` among them: the value of
    ``shared[i]``), in this process: ``([(True, value) or (False, exception)], CPU seconds)``.
    One call's exception does not stop the others (each is the caller's to record)."""
    c0 = time.process_time()
    out = []
    for args in calls:
        args = tuple(shared[a.i] if isinstance(a, _Shared) else a for a in args)
        try:
            out.append((True, fn(*args)))
        except Exception as exc:  # noqa: BLE001 - sent back, as a task's own error would be
            out.append((False, _picklable(exc)))
    return out, time.process_time() - c0


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to travel: send its text instead
        return BatchItemError(f"{type(exc).__name__}: {exc}")


def stream(ex, calls: Iterable, *, on_submit: Callable[[int], None] | None = None, total: int | None = None,
           batching: Batching | None = None) -> Iterator:
    """Run the calls ``(key, fn, args)`` (any iterable, read as tasks are submitted) on the
    executor ``ex`` and yield ``(key, result or exception)`` as they finish (in the order given
    on the in-process engine, in any order on Ray). Only a window of tasks is in flight and
    nothing is kept after it is yielded, so the caller holds neither a million pending tasks
    nor their results. ``on_submit(n)`` is called for each task given, with its number of calls.

    In this process every call is run on its own (8 per worker, at least 64, in the window).
    On Ray, with ``batching``, consecutive calls of one function go in one task
    (:func:`run_batch`), as many as :meth:`Batching.size` says from the calls' measured CPU
    time and ``total``, the number of calls (a window of 3 tasks per worker, at least 4);
    without ``batching``, one call per task as in this process."""
    if ex.name == InProcessExecutor.name or batching is None:
        yield from _stream_calls(ex, calls, on_submit)
    else:
        yield from _stream_batches(ex, calls, on_submit, total, batching)


def _stream_calls(ex, calls: Iterable, on_submit) -> Iterator:
    window = max(64, 8 * int(getattr(ex, "workers", 1)))
    todo = iter(calls)
    pending: dict = {}

    def submit(n: int) -> None:
        for key, fn, args in itertools.islice(todo, n):
            pending[ex.call(fn, *args)] = key
            if on_submit is not None:
                on_submit(1)

    in_process = ex.name == InProcessExecutor.name
    done = 0
    submit(window)
    while pending:
        h = next(iter(ex.as_completed(list(pending))))
        key = pending.pop(h)
        try:
            res = ex.get(h)
        except Exception as exc:  # the task's own error: for the caller to record
            res = exc
        del h
        submit(1)
        done += 1
        if in_process and done % window == 0:
            # tasks run here can leave objects in reference cycles, which only a full collection
            # frees: without it they could pile up between Python's rare full collections
            gc.collect()
        yield key, res


def _stream_batches(ex, calls: Iterable, on_submit, total: int | None, batching: Batching) -> Iterator:
    workers = max(1, int(getattr(ex, "workers", 1)))
    window = max(4, 3 * workers)
    todo = _Peekable(calls)
    pending: dict = {}  # handle -> keys of its calls
    measured = [0, 0.0]  # calls done, their CPU seconds

    def submit() -> bool:
        if not measured[0] and len(pending) >= batching.probes * workers:
            return False  # the probes are out: wait for their CPU time before sizing more
        batch = todo.take(batching.size(total, workers, measured[0], measured[1]))
        if not batch:
            return False
        args, shared = _lift_handles(ex, [a for _, _, a in batch])
        pending[ex.call(run_batch, batch[0][1], args, *shared)] = [key for key, _, _ in batch]
        if on_submit is not None:
            on_submit(len(batch))
        return True

    while len(pending) < window and submit():
        pass
    while pending:
        h = next(iter(ex.as_completed(list(pending))))
        keys = pending.pop(h)
        try:
            results, cpu = ex.get(h)
            measured[0] += len(keys)
            measured[1] += cpu
        except Exception as exc:  # the whole task failed (its worker died past the retries...)
            results = [(False, exc)] * len(keys)
        del h
        while len(pending) < window and submit():
            pass
        for key, (_, value) in zip(keys, results):  # a call's exception is its value here
            yield key, value


def _lift_handles(ex, calls: list) -> tuple[list, list]:
    """The calls' arguments with each executor handle replaced by a :class:`_Shared` index, and
    the handles in that order (given once each, at the top level of the batch task)."""
    shared: list = []
    where: dict = {}

    def lift(a):
        if not ex.is_handle(a):
            return a
        if a not in where:
            where[a] = len(shared)
            shared.append(a)
        return _Shared(where[a])

    return [tuple(lift(a) for a in args) for args in calls], shared


class _Peekable:
    """An iterator of calls ``(key, fn, args)`` from which :meth:`take` reads up to ``n`` calls
    of the same function (a batch runs one function)."""

    def __init__(self, calls: Iterable):
        self._it = iter(calls)
        self._next = None

    def take(self, n: int) -> list:
        out = []
        while len(out) < n:
            if self._next is None:
                self._next = next(self._it, None)
                if self._next is None:
                    break
            if out and self._next[1] is not out[0][1]:
                break
            out.append(self._next)
            self._next = None
        return out


def make_executor(engine: str = "auto", *, address: str | None = None, num_cpus: int | None = None):
    """``engine``: ``"ray"`` (local Ray, or the cluster at ``address``), ``"local"`` (in this
    process, one shape after another) or ``"auto"`` (Ray when it is installed, otherwise
    in-process with a log line saying so)."""
    if engine not in ("auto", "ray", "local"):
        raise SettingsError(f"engine={engine!r}: use 'auto', 'ray' or 'local'.")
    if address is not None and engine == "local":
        raise SettingsError("--address joins a Ray cluster; it cannot be used with the in-process engine.")
    if engine == "local":
        return InProcessExecutor()
    if engine == "auto" and address is None and not ray_available():
        log.info("ray is not installed: running in this process (%s)", RAY_HINT)
        return InProcessExecutor()
    return RayExecutor(address, num_cpus=num_cpus)
