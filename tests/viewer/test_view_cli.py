"""``shapecorr view``: argument checks and the missing-extra message (no screen needed)."""

from __future__ import annotations

import sys

import pytest

from shapecorr.cli import main


def test_view_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["view", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--map" in out and "--gt-source" in out and "--preset" in out
    assert "--strict" in out and "--no-match" in out


def test_view_without_viewer_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyvistaqt", None)  # makes `import pyvistaqt` fail
    assert main(["view"]) == 2
    assert "install the viewer extra: pip install -e '.[viewer]'" in capsys.readouterr().err


def test_view_bad_arguments(tmp_path, capsys):
    assert main(["view", str(tmp_path / "missing.off")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["view", "--gt-source", str(tmp_path)]) == 2
    assert "--gt-target" in capsys.readouterr().err


def test_view_needs_a_display(monkeypatch, capsys):
    pytest.importorskip("PySide6")
    pytest.importorskip("pyvistaqt")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view"]) == 2
    assert "xvfb-run" in capsys.readouterr().err


def test_view_passes_its_options_to_the_viewer(monkeypatch, tmp_path):
    """SOURCE TARGET starts the match (auto_match) unless --no-match or --map; --strict is passed on."""
    import apps.viewer.app
    from shapecorr.cli import view_cmd

    calls = []
    monkeypatch.setattr(view_cmd, "_check_viewer_deps", lambda: None)
    monkeypatch.setattr(apps.viewer.app, "run_viewer", lambda *a, **kw: calls.append((a, kw)) or 0)
    a, b = tmp_path / "a.off", tmp_path / "b.off"
    a.write_text("OFF\n")
    b.write_text("OFF\n")
    assert main(["view", str(a), str(b)]) == 0
    args, kw = calls[-1]
    assert args == (str(a), str(b)) and kw["auto_match"] is True and kw["strict"] is False
    assert kw["match_dir"] is None
    assert main(["view", str(a), str(b), "--no-match", "--strict", "--preset", "fast"]) == 0
    kw = calls[-1][1]
    assert kw["auto_match"] is False and kw["strict"] is True and kw["preset"] == "fast"


def test_view_splats_arguments(monkeypatch, tmp_path, capsys):
    """--splats takes a splat folder and at most the mesh; the pose is checked before any window opens."""
    import numpy as np

    import apps.viewer.splat_window
    from shapecorr.core import Shape
    from shapecorr.splat import SolidAppearance, initial_binding, save_splats
    from shapecorr.cli import view_cmd

    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    save_splats(tmp_path / "splats", initial_binding(v, f, SolidAppearance(v, f), 20, 0))
    calls = []
    monkeypatch.setattr(view_cmd, "_check_viewer_deps", lambda: None)
    monkeypatch.setattr(apps.viewer.splat_window, "run_splat_viewer", lambda *a, **kw: calls.append((a, kw)) or 0)
    assert main(["view", "--splats", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["view", "--splats", str(tmp_path / "splats")]) == 0
    assert calls[-1][0][1] is None and calls[-1][1]["device"] == "cpu"
    moved = tmp_path / "moved.off"
    Shape(v + 1.0, f).save(moved)
    assert main(["view", str(moved), "--splats", str(tmp_path / "splats")]) == 0
    np.testing.assert_allclose(calls[-1][0][1], v + 1.0)
    other = tmp_path / "other.off"
    Shape(v, f[:, ::-1]).save(other)
    assert main(["view", str(other), "--splats", str(tmp_path / "splats")]) == 2
    assert "not the mesh the splats are bound to" in capsys.readouterr().err
    assert main(["view", str(moved), str(moved), "--splats", str(tmp_path / "splats")]) == 2
    assert "no TARGET" in capsys.readouterr().err
