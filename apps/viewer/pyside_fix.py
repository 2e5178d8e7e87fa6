"""A guard against PySide6 builds that take a reference from ``None`` on every void call.

Seen with PySide6 6.12.0 on CPython 3.11: each call of a method returning nothing
(``QTimer.start``, ``QLabel.setText``, ``QApplication.processEvents`` ...) lowers ``None``'s
reference count by one (they return ``Py_None`` without a new reference; harmless from Python
3.12 on, where ``None`` is immortal). A viewer session makes such calls all the time (timers,
status texts, every drag step), and once the count reaches zero Python aborts ("none_dealloc:
deallocating None"). :func:`guard` checks once whether this build leaks and, if so, keeps the
count up by holding references in a reserve list, topped up every second (8 bytes per leaked
reference).
"""

from __future__ import annotations

import sys

FLOOR = 1_000_000  # None's reference count is kept above this
_reserve: list = []
_timer = None


def leaks() -> bool:
    """Whether a void PySide6 call takes a reference from None here."""
    from PySide6 import QtCore

    obj = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(10):
        obj.setObjectName("probe")
    return sys.getrefcount(None) < before - 5


def top_up() -> None:
    count = sys.getrefcount(None)
    if count < FLOOR:
        _reserve.extend([None] * (FLOOR - count))


def guard() -> bool:
    """Start the top-up timer once per process where it is needed (needs a QApplication).
    Returns whether it runs."""
    global _timer
    if _timer is not None:
        return True
    if sys.version_info >= (3, 12) or not leaks():
        return False
    from PySide6 import QtCore, QtWidgets

    top_up()
    _timer = QtCore.QTimer(QtWidgets.QApplication.instance())
    _timer.setInterval(1000)
    _timer.timeout.connect(top_up)
    _timer.start()
    return True
