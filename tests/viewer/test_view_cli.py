"""``shapecorr view``: argument checks and the missing-extra message (no screen needed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from shapecorr.cli import main


def test_view_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["view", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--map" in out and "--gt-source" in out and "--preset" in out


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


def test_ground_truth_files(tmp_path):
    from apps.viewer import helpers
    from shapecorr import Shape, ShapecorrError

    v = np.random.default_rng(0).normal(size=(6, 3))
    a, b = Shape(v), Shape(v[::-1])
    (tmp_path / "a.vts").write_text("1\n2\n3\n")
    (tmp_path / "b.vts").write_text("6\n5\n4\n")
    gt = helpers.load_ground_truth(a, b, gt_source=tmp_path / "a.vts", gt_target=tmp_path / "b.vts")
    assert gt.source_idx.tolist() == [0, 1, 2] and gt.target_idx.tolist() == [5, 4, 3]
    assert gt.true_source_of(4) == 1 and gt.true_target_of(2) == 3 and gt.true_source_of(0) is None
    np.savetxt(tmp_path / "m.txt", [5, 4, 3, 2, 1, 0], fmt="%d")
    gt = helpers.load_ground_truth(a, b, gt_map=tmp_path / "m.txt")
    assert gt.source_idx.tolist() == [5, 4, 3, 2, 1, 0]
    (tmp_path / "bad.vts").write_text("0\n1\n2\n")  # 0 is not a 1-based index
    with pytest.raises(ShapecorrError):
        helpers.load_ground_truth(a, b, gt_source=tmp_path / "bad.vts", gt_target=tmp_path / "b.vts")


def test_single_vts_as_map_is_explained(tmp_path):
    from apps.viewer import helpers
    from shapecorr import Shape, ShapecorrError

    v = np.random.default_rng(0).normal(size=(4, 3))
    (tmp_path / "a.vts").write_text("1\n2\n3\n4\n")
    with pytest.raises(ShapecorrError, match="one per shape"):
        helpers.load_ground_truth(Shape(v), Shape(v), gt_map=tmp_path / "a.vts")
