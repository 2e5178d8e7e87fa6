"""Background work for the viewer: one QThread per job, cooperative cancellation, and
:class:`Jobs`, the one place that starts a job and wires its signals.

A job's function gets ``progress(stage, fraction)``, which raises :class:`Cancelled` once the
job was cancelled, so a cancelled :func:`shapecorr.match` stops at its next stage boundary and
leaves nothing behind; its result is dropped.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from PySide6 import QtCore


class Cancelled(Exception):
    """Raised from a progress callback to stop a job that the user cancelled."""


class Job(QtCore.QThread):
    """Run ``func(progress, should_stop)`` off the GUI thread; ``ended(kind, payload)`` is
    emitted once, with kind ``"ok"`` (payload: the result), ``"failed"`` (payload: a one-line
    message) or ``"cancelled"``."""

    progressed = QtCore.Signal(str, float)
    ended = QtCore.Signal(str, object)

    def __init__(self, name: str, func, parent=None):
        super().__init__(parent)
        self.name = name
        self.stage = "starting"
        self.t_start = time.perf_counter()
        self.elapsed = 0.0
        self._func = func
        self._stop = False

    def cancel(self) -> None:
        self._stop = True

    def should_stop(self) -> bool:
        return self._stop

    def _progress(self, stage: str, fraction: float) -> None:
        if self._stop:
            raise Cancelled()
        self.progressed.emit(str(stage), float(fraction))

    def run(self) -> None:  # runs in the worker thread
        kind, payload = "ok", None
        try:
            payload = self._func(self._progress, self.should_stop)
        except (Cancelled, InterruptedError):
            kind = "cancelled"
        except Exception as exc:  # shown in a dialog by the window, never a crash
            kind, payload = "failed", describe_error(exc)
        self.elapsed = time.perf_counter() - self.t_start
        if self._stop:
            kind = "cancelled"
        self.ended.emit(kind, payload)


def describe_error(exc: Exception) -> str:
    """The message of an error a user can cause; for anything else, say it is unexpected."""
    from shapecorr.core import ShapecorrError

    if isinstance(exc, (ShapecorrError, OSError)):
        return str(exc)
    return "unexpected error (please report it): " + "".join(traceback.format_exception_only(type(exc), exc)).strip()


class Jobs(QtCore.QObject):
    """The viewer's running jobs, by name (one of each at a time).

    ``changed()`` is emitted when a job starts or ends, ``progressed(name, stage, fraction)``
    as it reports. Cancelling frees the name at once: the thread is set aside until it stops.
    """

    changed = QtCore.Signal()
    progressed = QtCore.Signal(str, str, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.running: dict[str, Job] = {}
        self._abandoned: set[Job] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.running

    def __bool__(self) -> bool:
        return bool(self.running)

    def start(self, name: str, func, on_done: Callable[[object], None],
              on_failed: Callable[[str], None]) -> Job:
        """Run ``func(progress, should_stop)`` in a thread named ``name`` (a job of that name
        still running is cancelled); then ``on_done(result)`` or ``on_failed(message)`` on the
        GUI thread, neither if it was cancelled."""
        if name in self.running:
            self._abandon(self.running[name])
        job = Job(name, func, self)
        job.progressed.connect(lambda stage, f, j=job: self._on_progress(j, stage, f))
        job.ended.connect(lambda kind, payload, j=job: self._on_ended(j, kind, payload, on_done, on_failed))
        job.finished.connect(job.deleteLater)
        self.running[name] = job
        job.start()
        self.changed.emit()
        return job

    def _on_progress(self, job: Job, stage: str, fraction: float) -> None:
        if self.running.get(job.name) is job:
            job.stage = stage
            self.progressed.emit(job.name, stage, fraction)

    def _on_ended(self, job: Job, kind: str, payload, on_done, on_failed) -> None:
        current = self.running.get(job.name) is job
        if current:
            del self.running[job.name]
        if current and not job.should_stop():
            if kind == "ok":
                on_done(payload)
            elif kind == "failed":
                on_failed(payload)
        self.changed.emit()

    def cancel(self, name: str | None = None) -> list[str]:
        """Cancel one job (or all); returns the names cancelled."""
        jobs = [self.running[name]] if name in self.running else [] if name else list(self.running.values())
        for job in jobs:
            self._abandon(job)
        if jobs:
            self.changed.emit()
        return [j.name for j in jobs]

    def _abandon(self, job: Job) -> None:
        job.cancel()
        if self.running.get(job.name) is job:
            del self.running[job.name]
        if job.isRunning():
            self._abandoned.add(job)
            job.finished.connect(lambda j=job: self._abandoned.discard(j))

    def wait_idle(self, timeout: float = 600.0) -> bool:
        """Process Qt events until no job is running (or ``timeout`` seconds); True if idle."""
        app = QtCore.QCoreApplication.instance()
        t_end = time.monotonic() + timeout
        while self.running and time.monotonic() < t_end:
            app.processEvents(QtCore.QEventLoop.AllEvents, 50)
            for job in list(self.running.values()):
                job.wait(20)
        app.processEvents()
        return not self.running

    def wait_abandoned(self) -> None:
        """Wait for cancelled threads to stop (a QThread must not be destroyed while it runs)."""
        for job in list(self._abandoned):
            job.wait()
        QtCore.QCoreApplication.processEvents()
        self._abandoned = {j for j in self._abandoned if j.isRunning()}

    @property
    def abandoned(self) -> int:
        return len(self._abandoned)
