"""Two executors for the same work: Ray (local or a cluster) and in-process (no Ray needed).

The collection's work functions are plain Python functions of arrays and small records; an
executor only decides where they run. Both executors have the same four operations:

- ``put(value)``: a handle to a large, read-only value (Ray: the object store, so a value
  given to many tasks is stored once, not pickled into each task);
- ``call(fn, *args)``: a handle to ``fn(*args)``; handles among ``args`` stand for their
  values (Ray resolves them on the worker, without a round trip through the driver);
- ``get(handle)``: the value, or the task's own exception raised again;
- ``as_completed(handles)``: the handles in the order they finish.

Ray is imported only when a :class:`RayExecutor` is made, so ``import shapecorr`` and the
in-process executor work without it.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator

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


def stream(ex, calls: Iterable, *, on_submit: Callable[[], None] | None = None) -> Iterator:
    """Run the calls ``(key, fn, args)`` (any iterable, read as tasks are submitted) on the
    executor ``ex`` and yield ``(key, result or exception)`` as they finish (in the order given
    on the in-process engine, in any order on Ray). At most a window of tasks (8 per worker, at
    least 64) is in flight and nothing is kept after it is yielded, so the caller holds neither
    a million pending tasks nor their results. ``on_submit()`` is called for each task given."""
    window = max(64, 8 * int(getattr(ex, "workers", 1)))
    todo = iter(calls)
    pending: dict = {}

    def submit(n: int) -> None:
        for key, fn, args in itertools.islice(todo, n):
            pending[ex.call(fn, *args)] = key
            if on_submit is not None:
                on_submit()

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
