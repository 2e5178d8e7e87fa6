#!/usr/bin/env python
"""Pictures of the viewer's edit mode for docs/viewer.md: an ARAP edit of Spot carried to its
posed, remeshed copy through their match, and the morph slider half way.

    xvfb-run -a python scripts/viewer_edit_picture.py --out docs/images

The edit is scripted with the window's own methods (what a drag does): the four feet are fixed,
the region around the nose is grabbed and lifted by a quarter of the height.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=str(ROOT / "data/spot/spot.obj"))
    ap.add_argument("--target", default=str(ROOT / "data/spot/spot_posed.obj"))
    ap.add_argument("--out", default=str(ROOT / "docs/images"))
    args = ap.parse_args()
    from PySide6 import QtWidgets

    from apps.viewer.window import ViewerWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["shapecorr-viewer-pictures"])
    win = ViewerWindow()
    win.resize(1200, 620)
    win.show()
    app.processEvents()
    if not win.load_shapes(args.source, args.target) or not win.run_match(blocking=True):
        print(win.last_error, file=sys.stderr)
        return 1
    v = win.source.vertices
    height = float(np.ptp(v[:, 1]))
    nose = int(np.argmin(v[:, 2]))  # Spot looks along -z, y up
    centre = np.median(v, axis=0)
    win.set_edit_mode(True)
    for sx in (-1, 1):  # the lowest vertex of each quarter: a foot
        for sz in (-1, 1):
            quarter = np.flatnonzero((np.sign(v[:, 0] - centre[0]) == sx) & (np.sign(v[:, 2] - centre[2]) == sz))
            win.fix_region("source", int(quarter[np.argmin(v[quarter, 1])]))
    t0 = time.perf_counter()
    win.start_edit("source", nose)
    win.edit_drag([0.0, 0.25 * height, 0.0])
    win.end_edit()
    edit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if not win.apply_edit_to_other(blocking=True):
        print(win.last_error, file=sys.stderr)
        return 1
    carry_s = time.perf_counter() - t0
    out = Path(args.out)
    win.save_screenshot(out / "viewer_edit.png", whole_window=True)
    win.set_morph_mode(True, blocking=True)
    win.set_morph(0.5)
    win.save_screenshot(out / "viewer_morph.png", whole_window=True)
    print(f"edit (grab, one drag, release) {edit_s:.2f} s; carried to the target in {carry_s:.2f} s "
          f"(registration included); pictures in {out}")
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
