"""Background work for the viewer: one QThread per job, cooperative cancellation.

The match itself runs :func:`shapecorr.match` unchanged; its ``progress`` callback reports to
the window through a Qt signal and raises :class:`Cancelled` once Cancel was pressed, so a
cancelled match stops at the next stage boundary and leaves nothing behind.
"""

from __future__ import annotations

import time
import traceback

from PySide6 import QtCore


class Cancelled(Exception):
    """Raised from a progress callback to stop a job that the user cancelled."""


class Job(QtCore.QThread):
    """Run ``func(progress, should_stop)`` off the GUI thread.

    Signals: ``progressed(stage, fraction)``, ``succeeded(result)``, ``failed(message)``,
    ``cancelled()``; exactly one of the last three is emitted.
    """

    progressed = QtCore.Signal(str, float)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()

    def __init__(self, name: str, func, parent=None):
        super().__init__(parent)
        self.name = name
        self._func = func
        self._stop = False
        self.elapsed = 0.0
        self.result = None
        self.error: str | None = None
        self.was_cancelled = False

    def cancel(self) -> None:
        self._stop = True

    def should_stop(self) -> bool:
        return self._stop

    def _progress(self, stage: str, fraction: float) -> None:
        if self._stop:
            raise Cancelled()
        self.progressed.emit(str(stage), float(fraction))

    def run(self) -> None:  # runs in the worker thread
        t0 = time.perf_counter()
        try:
            self.result = self._func(self._progress, self.should_stop)
        except (Cancelled, InterruptedError):
            self.was_cancelled = True
            self.elapsed = time.perf_counter() - t0
            self.cancelled.emit()
            return
        except Exception as exc:  # shown in a dialog by the window, never a crash
            self.error = _describe(exc)
            self.elapsed = time.perf_counter() - t0
            self.failed.emit(self.error)
            return
        self.elapsed = time.perf_counter() - t0
        if self._stop:
            self.was_cancelled = True
            self.cancelled.emit()
        else:
            self.succeeded.emit(self.result)


def _describe(exc: Exception) -> str:
    from shapecorr.core import ShapecorrError

    if isinstance(exc, (ShapecorrError, ValueError, FileNotFoundError)):
        return str(exc)
    tb = traceback.format_exception_only(type(exc), exc)
    return "unexpected error: " + "".join(tb).strip()
