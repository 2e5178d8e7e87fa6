"""``shapecorr splat fit | render | deform`` end to end on a tiny mesh (seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import icosphere

from shapecorr.cli import main
from shapecorr.splat import load_binding, read_ply


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("splat")
    mesh = root / "ball.obj"
    icosphere(1).save(mesh)
    out = root / "fit"
    assert main(["splat", "fit", str(mesh), "--out", str(out), "--steps", "4", "--gaussians", "300", "--size", "32",
                 "--views", "4", "--checkpoint-every", "2", "-q"]) == 0
    return mesh, out


def test_fit_writes_the_standard_ply_and_the_binding(fitted):
    _mesh, out = fitted
    for name in ("splats.ply", "binding.npz", "fit.json", "preview.png", "checkpoints/step_000002.npz",
                 "checkpoints/step_000004.npz"):
        assert (out / name).is_file(), name
    b = load_binding(out)
    assert (b.rasterize_mode, b.eps2d) == ("antialiased", 0.1)  # the defaults
    c = read_ply(out / "splats.ply")
    assert len(c.means) == b.n_gaussians >= 300
    report = json.loads((out / "fit.json").read_text())
    assert report["n_gaussians"] == b.n_gaussians and np.isfinite(report["heldout_psnr_db"])
    assert "synthetic" in report["appearance"]  # the ball has no texture


def test_render_and_render_deformed(fitted, tmp_path):
    from PIL import Image

    _mesh, out = fitted
    assert main(["splat", "render", str(out), "--out", str(tmp_path / "a.png"), "--size", "48", "-q"]) == 0
    big = icosphere(1)
    big.copy(vertices=big.vertices * 1.3 + [0.5, 0, 0]).save(tmp_path / "moved.obj")
    assert main(["splat", "render", str(out), "--deformed", str(tmp_path / "moved.obj"), "--out",
                 str(tmp_path / "b.png"), "--size", "48", "-q"]) == 0
    a, b = (np.asarray(Image.open(tmp_path / n)) for n in ("a.png", "b.png"))
    assert a.shape == b.shape == (48, 48, 3) and a.max() > 0


def test_render_up_axis(fitted, tmp_path):
    """The ball stretched along z, rendered with ``--up z``, stands upright (taller than wide);
    with the default y up it lies across the picture."""
    from PIL import Image

    _mesh, out = fitted
    ball = icosphere(1)
    ball.copy(vertices=ball.vertices * [1.0, 1.0, 3.0]).save(tmp_path / "tall.obj")
    boxes = {}
    for up in ("y", "z"):
        png = tmp_path / f"{up}.png"
        assert main(["splat", "render", str(out), "--deformed", str(tmp_path / "tall.obj"), "--out", str(png),
                     "--size", "64", "--up", up, "-q"]) == 0
        rows, cols = np.nonzero(np.asarray(Image.open(png)).sum(-1) > 30)  # not the black background
        boxes[up] = (np.ptp(rows) + 1, np.ptp(cols) + 1)
    assert boxes["z"][0] > 1.5 * boxes["z"][1]
    assert boxes["y"][1] > 1.2 * boxes["y"][0]


def test_render_refuses_another_mesh(fitted, tmp_path, capsys):
    _mesh, out = fitted
    icosphere(2).save(tmp_path / "other.obj")
    assert main(["splat", "render", str(out), "--deformed", str(tmp_path / "other.obj"), "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "not the mesh the splats are bound to" in capsys.readouterr().err


def test_deform_moves_the_splats_with_the_mesh(fitted, tmp_path):
    _mesh, out = fitted
    b = load_binding(out)
    v = b.rest_vertices
    top, bottom = int(np.argmax(v[:, 1])), int(np.argmin(v[:, 1]))
    handles = tmp_path / "edit.json"
    handles.write_text(json.dumps({"fixed": [bottom], "moved": [[top, *(v[top] + [0.0, 0.5, 0.0])]]}))
    dest = tmp_path / "deformed"
    assert main(["splat", "deform", str(out), "--handles", str(handles), "--out", str(dest), "-q"]) == 0
    for name in ("splats.ply", "binding.npz", "deformed.obj", "preview.png"):
        assert (dest / name).is_file(), name
    moved = load_binding(dest)
    assert np.allclose(moved.vertices[top], v[top] + [0.0, 0.5, 0.0], atol=1e-6)
    means = read_ply(dest / "splats.ply").means
    np.testing.assert_allclose(means, moved.follow().means.astype(np.float32), atol=1e-6)
    assert means[:, 1].max() > read_ply(out / "splats.ply").means[:, 1].max() + 0.2


def test_a_folder_without_splats_is_refused(tmp_path, capsys):
    assert main(["splat", "render", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "binding.npz" in capsys.readouterr().err


@pytest.mark.parametrize("flags, words", [(["--close-views", "-1"], "--close-views"),
                                          (["--close-margin", "0"], "--close-margin"),
                                          (["--eps2d", "-0.1"], "--eps2d")])
def test_fit_refuses_bad_camera_and_filter_flags(fitted, tmp_path, capsys, flags, words):
    mesh, _ = fitted
    assert main(["splat", "fit", str(mesh), "--out", str(tmp_path / "o"), "-q", *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(__import__("shapecorr.splat", fromlist=["x"]).gsplat_available(),
                    reason="checks the message shown without gsplat and CUDA")
def test_fit_on_cuda_without_it_is_one_line(fitted, tmp_path, capsys):
    mesh, _ = fitted
    assert main(["splat", "fit", str(mesh), "--out", str(tmp_path / "o"), "-q", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
