"""Viewer tests need a screen: a private Xvfb server is started once per session.

Where Xvfb or the viewer extra (pyvistaqt, PySide6) is missing these tests skip, with the
reason, unless ``SHAPECORR_VIEWER_TESTS=required`` (CI sets it, as CI installs them): then they
fail, so that a broken CI image cannot hide the viewer's tests. CI needs the Debian packages
``xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1`` and the ``viewer`` extra.
The Qt-free tests (``test_state.py``, ``test_view_cli.py``) need neither.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest


def _free_display() -> int:
    for n in range(90, 190):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number between :90 and :189")


def viewer_tests_required() -> bool:
    return os.environ.get("SHAPECORR_VIEWER_TESTS", "").strip().lower() == "required"


def skip_or_fail(reason: str):
    """Skip, or fail where the environment promises a screen (SHAPECORR_VIEWER_TESTS=required)."""
    if viewer_tests_required():
        pytest.fail(f"{reason} (SHAPECORR_VIEWER_TESTS=required: the viewer tests must run here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def xvfb():
    """Start ``Xvfb :N -screen 0 1280x1024x24`` and point DISPLAY at it for the session."""
    exe = shutil.which("Xvfb")
    if exe is None:
        skip_or_fail("Xvfb is not installed (apt-get install xvfb xauth libxcb-cursor0 libxcb-icccm4 "
                    "libxcb-keysyms1); the viewer needs an X server and Qt's offscreen platform "
                    "does not work with pyvistaqt")
    for mod in ("PySide6", "pyvistaqt"):
        try:
            __import__(mod)
        except ImportError:
            skip_or_fail(f"{mod} is not installed (pip install -e '.[viewer]')")
    proc = None
    for _ in range(3):  # another process may grab the same number between check and start
        n = _free_display()
        proc = subprocess.Popen([exe, f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end and proc.poll() is None and not Path(f"/tmp/.X11-unix/X{n}").exists():
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        proc.kill()
        proc = None
    if proc is None:
        skip_or_fail("could not start Xvfb")
    old = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM")}
    os.environ["DISPLAY"] = f":{n}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    yield f":{n}"
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    # Qt keeps its X connection until the process exits; killing the server now would make Qt
    # abort at exit ("XIO: fatal IO error", exit status 1). A watcher stops Xvfb once we are gone.
    watch = f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 0.2; done; kill {proc.pid} 2>/dev/null"
    subprocess.Popen(["sh", "-c", watch],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture(scope="session")
def qapp(xvfb):
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["shapecorr-viewer-tests"])
    yield app


def _ellipsoid_pair(directory: Path):
    """A small bumpy ellipsoid and a bent, vertex-shuffled copy; ``target_gt.txt`` beside them
    (line j: 0-based source vertex of target vertex j)."""
    import trimesh

    from shapecorr import Shape, save

    ico = trimesh.creation.icosphere(subdivisions=3)
    v = np.asarray(ico.vertices) * np.array([1.8, 1.0, 0.7])
    v[:, 1] += 0.35 * np.exp(-((v[:, 0] - 1.0) ** 2) * 4)  # a bump at one end breaks the symmetry
    f = np.asarray(ico.faces)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(v))  # target vertex j is source vertex perm[j]
    inv = np.argsort(perm)
    w = v.copy()
    ang = 0.35 * np.clip(w[:, 0], 0, None)  # bend the +x half upwards
    x, y = w[:, 0].copy(), w[:, 1].copy()
    w[:, 0] = x * np.cos(ang) - y * np.sin(ang)
    w[:, 1] = x * np.sin(ang) + y * np.cos(ang)
    src, tgt = directory / "source.off", directory / "target.off"
    save(Shape(v, f), src)
    save(Shape(w[perm], inv[f]), tgt)
    np.savetxt(directory / "target_gt.txt", perm, fmt="%d")
    return src, tgt, perm


@pytest.fixture(scope="session")
def small_pair(tmp_path_factory):
    return _ellipsoid_pair(tmp_path_factory.mktemp("viewer_pair"))


def with_zero_area_face(path: Path, out: Path) -> Path:
    """A copy of an OFF mesh with one zero-area face added: a new vertex at the midpoint of the
    first face's first edge, and the face (a, b, midpoint). Written with full precision (the
    midpoint stays on the edge); the other vertices keep their order."""
    from shapecorr import load

    shape = load(path)
    a, b = shape.faces[0, :2]
    v = np.vstack([shape.vertices, (shape.vertices[a] + shape.vertices[b]) / 2])
    f = np.vstack([shape.faces, [[a, b, len(v) - 1]]])
    lines = ["OFF", f"{len(v)} {len(f)} 0"]
    lines += [" ".join(repr(float(x)) for x in row) for row in v]
    lines += ["3 " + " ".join(str(int(i)) for i in row) for row in f]
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="session")
def imperfect_source(small_pair, tmp_path_factory):
    """The small pair's source with one zero-area face (it still matches the target_gt.txt)."""
    return with_zero_area_face(small_pair[0], tmp_path_factory.mktemp("imperfect") / "source_zero_area.off")


def open_matched_window(qapp, small_pair):
    """A shown viewer window with the small pair loaded and matched (preset fast); close it after."""
    from apps.viewer.window import ViewerWindow

    src, tgt, _ = small_pair
    win = ViewerWindow(preset="fast")
    win.resize(1000, 560)
    win.show()
    qapp.processEvents()
    assert win.load_shapes(src, tgt), win.last_error
    assert win.run_match(blocking=True, timeout=240), win.last_error
    return win
