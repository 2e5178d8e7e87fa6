"""``shapecorr deform``: end to end on a small bar (the known answer: the moved end goes where it
is told, the fixed end stays, the vertex order is kept), the picture, and bad handle files (one
line, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import shapecorr
from shapecorr.cli import main

from helpers import write_off

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "spot"


def bar_off(path: Path) -> Path:
    import trimesh

    box = trimesh.creation.box(extents=[4.0, 1.0, 1.0])
    v, f = trimesh.remesh.subdivide(np.asarray(box.vertices), np.asarray(box.faces))
    v, f = trimesh.remesh.subdivide(v, f)
    return write_off(path, np.asarray(v) + [10.0, 0.0, 0.0], np.asarray(f))  # file units, off-centre


@pytest.fixture
def bar(tmp_path):
    path = bar_off(tmp_path / "bar.off")
    shape = shapecorr.load(path)
    v = shape.vertices
    left = np.flatnonzero(v[:, 0] < v[:, 0].min() + 0.1)
    right = np.flatnonzero(v[:, 0] > v[:, 0].max() - 0.1)
    return path, shape, left, right


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def error_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    return err[0]


def test_deform_end_to_end(tmp_path, bar, capsys):
    path, shape, left, right = bar
    v = shape.vertices
    lift = np.array([0.0, 1.0, 0.5])
    handles = write_json(tmp_path / "edit.json", {
        "fixed": left.tolist(), "moved": [[int(i), *(v[i] + lift).tolist()] for i in right]})
    out = tmp_path / "out" / "bar_edited.ply"
    pic = tmp_path / "out" / "edit.png"
    rc = main(["deform", str(path), "--handles", str(handles), "--out", str(out), "--iterations", "20",
               "--picture", str(pic), "--quiet"])
    assert rc == 0
    assert capsys.readouterr().err == ""
    res = shapecorr.load(out)
    assert res.n_vertices == shape.n_vertices
    np.testing.assert_array_equal(res.faces, shape.faces)  # same vertex order, same faces
    np.testing.assert_allclose(res.vertices[left], v[left], atol=1e-6)
    np.testing.assert_allclose(res.vertices[right], v[right] + lift, atol=1e-6)
    mid = np.flatnonzero(np.abs(v[:, 0] - 10.0) < 0.3)
    assert 0.2 < (res.vertices[mid, 1] - v[mid, 1]).mean() < 0.8  # the middle follows part-way
    from PIL import Image

    img = Image.open(pic)
    assert img.size[0] > img.size[1] > 100


def test_picture_up_axis(tmp_path, bar, capsys):
    """``--up x`` stands the bar (along x in its file) upright in the picture; an unknown axis is
    refused before anything is written."""
    path, shape, left, right = bar
    handles = write_json(tmp_path / "edit.json", {"fixed": left.tolist(), "moved": []})
    pic = tmp_path / "edit.png"
    assert main(["deform", str(path), "--handles", str(handles), "--out", str(tmp_path / "a.ply"),
                 "--picture", str(pic), "--up", "x", "-q"]) == 0
    from PIL import Image

    img = np.asarray(Image.open(pic).convert("RGB"))
    panel = np.abs(img[:, : img.shape[1] // 2].astype(int) - 255).sum(-1) >= 6  # "before"
    rows, cols = np.nonzero(panel[: int(0.9 * panel.shape[0])])  # above the caption
    assert np.ptp(rows) > 2 * np.ptp(cols)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # argparse: usage and the reason
        main(["deform", str(path), "--handles", str(handles), "--out", str(tmp_path / "b.ply"), "--up", "w", "-q"])
    assert exc.value.code == 2
    assert "argument --up: up axis 'w': choose one of y, z, x" in capsys.readouterr().err
    assert not (tmp_path / "b.ply").exists()


def test_textured_obj_keeps_uvs(tmp_path, capsys):
    shape = shapecorr.load(SPOT / "spot.obj")
    handles = write_json(tmp_path / "h.json", {"fixed": [0, 1, 2], "moved": [[100, *shape.vertices[100]]]})
    out = tmp_path / "spot_same.obj"
    assert main(["deform", str(SPOT / "spot.obj"), "--handles", str(handles), "--out", str(out), "-q",
                 "--iterations", "2"]) == 0
    res = shapecorr.load(out)
    np.testing.assert_allclose(res.vertices, shape.vertices, atol=1e-6)  # handles at rest: nothing moves
    assert res.has_uv and res.texture is not None and res.texture.exists()


@pytest.mark.parametrize("content, words", [
    ({"fixed": [0, 99999]}, "fixed[1]: vertex id 99999 is out of range"),
    ({"fixed": [0], "moved": [[5, 1.0, 2.0]]}, "moved[0]: expected [vertex id, x, y, z]"),
    ({"fixed": [0], "moved": [[5, 1.0, "a", 2.0]]}, "moved[0]: y = \"a\" is not a finite number"),
    ({"fixed": [0, 3], "moved": [[3, 1.0, 1.0, 1.0]]}, "vertex 3 is listed in both 'fixed' and 'moved'"),
    ({"fixed": [1.5]}, "fixed[0]: vertex id 1.5 is not an integer"),
    ({"fixd": [1]}, "unknown key 'fixd'"),
    ({}, "no handles"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_handle_files_are_one_line_and_exit_2(tmp_path, bar, capsys, content, words):
    path, *_ = bar
    handles = write_json(tmp_path / "bad.json", content)
    out = tmp_path / "never.obj"
    assert main(["deform", str(path), "--handles", str(handles), "--out", str(out), "-q"]) == 2
    line = error_line(capsys)
    assert line.startswith("shapecorr deform: error: ") and str(handles) in line
    assert words in line
    assert not out.exists()


def test_bad_arguments(tmp_path, bar, capsys):
    path, *_ = bar
    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"fixed": [0,')
    handles = write_json(tmp_path / "h.json", {"fixed": [0]})
    odd = write_json(tmp_path / "handles.png", {"fixed": [0]})  # a handle file that looks like a picture
    before = path.read_bytes()
    cases = [
        (["--handles", str(garbled), "--out", str(tmp_path / "a.obj")], "not valid JSON (line 1"),
        (["--handles", str(tmp_path / "missing.json"), "--out", str(tmp_path / "a.obj")], "no such handle file"),
        (["--handles", str(handles), "--out", str(path)], "would overwrite an input file"),
        (["--handles", str(handles), "--out", str(tmp_path / "a.xyz2")], "cannot write '.xyz2'"),
        (["--handles", str(handles), "--out", str(tmp_path / "a.obj"), "--iterations", "0"], "--iterations"),
        (["--handles", str(handles), "--out", str(tmp_path / "a.obj"), "--picture", str(tmp_path / "p.jpg")],
         "give a .png"),
        (["--handles", str(odd), "--out", str(tmp_path / "a.obj"), "--picture", str(odd)],
         "--picture " + str(odd) + ": this would overwrite an input file"),
        (["--handles", str(handles), "--out", str(tmp_path / "a.obj"), "--device", "gpu"], "--device 'gpu'"),
    ]
    for extra, words in cases:
        assert main(["deform", str(path), *extra, "-q"]) == 2
        assert words in error_line(capsys)
    assert path.read_bytes() == before
    assert not (tmp_path / "a.obj").exists()
