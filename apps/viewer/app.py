"""Start the viewer: a QApplication, one :class:`ViewerWindow`, the inputs of the command line."""

from __future__ import annotations

import sys


def run_viewer(source=None, target=None, *, match_dir=None, gt_map=None, gt_source=None, gt_target=None,
               preset=None, device: str = "cpu", strict: bool = False, auto_match: bool = True,
               screenshot=None, up: str = "y") -> int:
    """Open the window, read the given files in the background and, once both shapes are open,
    show the saved match (``match_dir``) or start computing one (``auto_match``); run the Qt
    event loop and return its exit status.

    ``screenshot``: save a PNG of the whole window once all of that is done, then quit (for
    documentation and smoke tests). ``up``: the shapes' up axis (``"z"`` for TOSCA and many
    scanners; the View menu changes it).
    """
    from PySide6 import QtCore

    app, win = new_window(preset=preset, device=device, strict=strict,
                          auto_match=auto_match and match_dir is None, up=up)
    win.show()
    app.processEvents()

    def shoot():
        screenshot_and_quit(app, win, screenshot)

    def after_load():
        if match_dir is not None:
            win.load_match(match_dir)
        if gt_map is not None or gt_source is not None:
            win.load_ground_truth(gt_map, gt_source=gt_source, gt_target=gt_target)
        if screenshot is not None:
            QtCore.QTimer.singleShot(100, shoot)

    if source is not None or target is not None:
        win.load_shapes(source, target, blocking=False, then=after_load)
    else:
        after_load()
    return int(app.exec())


def new_window(**settings):
    """The QApplication (created if needed) and a new :class:`ViewerWindow` with ``settings``
    (not shown yet)."""
    from .window import ViewerWindow

    app = new_app()
    return app, ViewerWindow(**settings)


def new_app():
    """The QApplication (created if needed)."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("shapecorr viewer")
    return app


def screenshot_and_quit(app, win, path) -> None:
    """Once the window's background work is done: save a PNG of the whole window, close, quit."""
    win.wait_idle()
    win.save_screenshot(path, whole_window=True)
    win.close()
    app.quit()
