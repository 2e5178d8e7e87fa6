"""Start the viewer: a QApplication, one :class:`ViewerWindow`, optional inputs to open."""

from __future__ import annotations

import sys


def run_viewer(source=None, target=None, *, match_dir=None, gt_map=None, gt_source=None, gt_target=None,
               preset=None, device: str = "cpu", screenshot=None) -> int:
    """Open the window (and the given files), run the Qt event loop, return its exit status.

    ``screenshot``: save a PNG of the views once everything given is loaded, then quit
    (for documentation and smoke tests).
    """
    from PySide6 import QtCore, QtWidgets

    from .window import ViewerWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("shapecorr viewer")
    win = ViewerWindow(preset=preset, device=device)
    win.show()
    app.processEvents()
    def after_load():
        if match_dir is not None:
            win.load_match(match_dir)
        if gt_map is not None or gt_source is not None:
            win.load_ground_truth(gt_map, gt_source=gt_source, gt_target=gt_target)
        if screenshot is not None:
            QtCore.QTimer.singleShot(100, shoot)

    def shoot():
        win.wait_idle()
        win.save_screenshot(screenshot)
        win.close()
        app.quit()

    if source is not None or target is not None:
        # read in the background: the window is up at once, even for large files
        fail = (lambda: QtCore.QTimer.singleShot(100, shoot)) if screenshot is not None else None
        if not win.load_shapes(source, target, blocking=False, then=after_load, on_error=fail) and fail:
            fail()
    else:
        after_load()
    return int(app.exec())


def main(argv=None) -> int:
    from shapecorr.cli import main as cli_main

    return cli_main(["view", *(sys.argv[1:] if argv is None else argv)])
