"""The viewer's landmark picture (docs/images/viewer_landmarks.png): TOSCA_r cat0 -> dog0 matched
with six landmark pairs (nose, tail tip, paws: found from the files' axes as
``scripts/bench_landmarks.py`` finds them), z up.

    xvfb-run -a python scripts/viewer_landmarks_picture.py ../shared/data --out docs/images
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from apps.viewer.app import new_window  # noqa: E402
from bench_landmarks import TOSCA, axis_landmarks  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the shared data folder (TOSCA_r)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args(argv)
    folder = args.data.joinpath(*TOSCA)
    app, win = new_window(preset="default", up="z")
    win.resize(1280, 720)
    win.show()
    app.processEvents()
    if not win.load_shapes(folder / "cat0.off", folder / "dog0.off"):
        raise SystemExit(win.last_error)
    pairs = np.stack([axis_landmarks(win.source), axis_landmarks(win.target)], axis=1)
    win.set_landmark_mode(True)
    for i, j in pairs:
        win.add_landmark("source", int(i))
        win.add_landmark("target", int(j))
    if not win.run_match(blocking=True, landmarks=True, timeout=600):
        raise SystemExit(win.last_error)
    win.wait_idle()
    args.out.mkdir(parents=True, exist_ok=True)
    win.save_screenshot(args.out / "viewer_landmarks.png", whole_window=True)
    print(win.state.match_origin)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
