"""``shapecorr match``: end to end on the bundled Spot pair, help/version, bad input, and how
the command ends (one line on stderr: exit 2 for what the user can fix, exit 1 and a log file
for a bug; warnings as one line; nothing half-written).

The CLI runs in-process through ``shapecorr.cli.main`` (fast), and as a real process (the
``shapecorr`` console script) where the exact stderr a user sees matters.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import shapecorr
from shapecorr.cli import main
from shapecorr.config import load_preset
from shapecorr.result import Match

from helpers import (bumpy, exact_or_adjacent, grid, inverse_permutation, l_sheet, permuted_copy, point_cloud,
                     with_moved_normals, write_off)

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "spot"
OUTPUTS = ("source_to_target.txt", "target_to_source.txt", "fmap.npy", "match.json", "vertex_confidence.npy",
           "report.json", "correspondence.png")

# Measured on this machine (fast preset): mean error ~0.021 (target->source) and ~0.024
# (source->target) on the unit-area source, whose extent is about 0.4 x 0.7 x 0.7; a random
# map gives ~0.39. The bound leaves a margin of about 3x.
SPOT_MEAN_ERROR_BOUND = 0.06


def _stderr_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _no_leftovers(parent: Path, name: str):
    """Neither the output folder nor a temporary '.NAME.partial-*' folder beside it."""
    assert not (parent / name).exists()
    assert not list(parent.glob(f".{name}.partial-*"))


@pytest.fixture(scope="module")
def spot_run(tmp_path_factory):
    """One in-process run of the README example: spot -> spot_posed, fast preset."""
    base = tmp_path_factory.mktemp("spot")
    shapecorr.set_cache_dir(base / "cache")
    try:
        out = base / "out"
        rc = main(["match", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--out", str(out),
                   "--preset", "fast", "--quiet"])
    finally:
        shapecorr.set_cache_dir("default")
    return rc, out


@pytest.fixture
def tiny_pair(tmp_path):
    """A small closed blob and a permuted copy, as OFF files."""
    s = bumpy(2)  # 162 vertices
    t, perm = permuted_copy(s, seed=31, rigid=True)
    a = write_off(tmp_path / "a.off", s.vertices, s.faces)
    b = write_off(tmp_path / "b.off", t.vertices, t.faces)
    return a, b, perm


# ----------------------------------------------------------------------------- end to end
def test_spot_end_to_end_outputs(spot_run):
    rc, out = spot_run
    assert rc == 0
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.parent.glob(".out.partial-*"))
    n_src, n_tgt = 2930, 4001
    s2t = np.loadtxt(out / "source_to_target.txt", dtype=np.int64)
    t2s = np.loadtxt(out / "target_to_source.txt", dtype=np.int64)
    assert s2t.shape == (n_src,) and t2s.shape == (n_tgt,)
    assert 0 <= s2t.min() and s2t.max() < n_tgt
    assert 0 <= t2s.min() and t2s.max() < n_src
    k = load_preset("fast").k_final
    fmap = np.load(out / "fmap.npy")
    assert fmap.shape == (k, k) and np.all(np.isfinite(fmap))
    # the maps are dense, not collapsed onto a few vertices
    # not collapsed: each map reaches over half the vertices it could (at most the smaller shape's count)
    assert np.unique(t2s).size > 0.5 * min(n_src, n_tgt) and np.unique(s2t).size > 0.5 * min(n_src, n_tgt)


def test_spot_report_json(spot_run):
    _, out = spot_run
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["n_vertices"] == 2930 and report["target"]["n_vertices"] == 4001
    assert report["source"]["kind"] == "mesh" and report["source"]["has_uv"]
    assert report["preset"] == "fast"
    assert report["settings"] == load_preset("fast").to_dict()
    assert report["versions"]["shapecorr"] == shapecorr.__version__
    for key in ("numpy", "scipy", "python"):  # torch: only when it was used
        assert report["versions"][key]
    timings = report["timings"]
    assert timings["total"] > 0 and {"load", "prepare", "zoomout", "picture"} <= set(timings)
    assert report["outputs"]["picture"] == "correspondence.png"
    # how much to trust it: a float in [0, 1] at the top, the same as the match's own record
    assert 0.0 <= report["confidence"] <= 1.0
    assert report["confidence"] == report["info"]["confidence"]
    assert isinstance(report["confidence_details"], dict)
    # the fast preset never polishes the map; the report says so
    assert report["polish"] == report["info"]["polish"] and report["polish"]["ran"] is False
    # nor registers it (register_below is null in the fast preset)
    assert report["registration"] == report["info"]["registration"] == {"ran": False, "below": None}
    # nor matches again with a second model (second_model is null in the fast preset)
    assert report["second_model"] is None and report["settings"]["fallback"]["second_model"] is None
    # the shapes it is for
    assert report["source_hash"] == shapecorr.load(SPOT / "spot.obj").content_hash
    assert report["target_hash"] == shapecorr.load(SPOT / "spot_posed.obj").content_hash


def test_spot_saved_match_is_the_library_format(spot_run):
    """The folder is a ``Match.save`` folder: it loads back with the same maps and shapes."""
    _, out = spot_run
    m = Match.load(out)
    assert np.array_equal(m.p2p_21, np.loadtxt(out / "target_to_source.txt", dtype=np.int64))
    assert m.confidence == json.loads((out / "report.json").read_text())["confidence"]
    m.check_shapes(shapecorr.load(SPOT / "spot.obj"), shapecorr.load(SPOT / "spot_posed.obj"))
    assert m.vertex_confidence.shape == (4001,)


def test_spot_picture_is_a_valid_png(spot_run):
    from PIL import Image

    _, out = spot_run
    path = out / "correspondence.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        w, h = img.size
        assert w >= 200 and h >= 100 and w > h  # two shapes side by side
        arr = np.asarray(img.convert("RGB"))
    assert len(np.unique(arr.reshape(-1, 3), axis=0)) > 50  # coloured shapes, not a blank image


def test_spot_error_against_ground_truth(spot_run):
    """Mean Euclidean distance between the matched and the true source point, on the source
    normalized to unit area (GT: line j of spot_posed_gt.txt = spot vertex of posed vertex j)."""
    _, out = spot_run
    gt = np.loadtxt(SPOT / "spot_posed_gt.txt", dtype=np.int64)
    src = shapecorr.load(SPOT / "spot.obj").normalized()
    assert src.area == pytest.approx(1.0)
    t2s = np.loadtxt(out / "target_to_source.txt", dtype=np.int64)
    s2t = np.loadtxt(out / "source_to_target.txt", dtype=np.int64)
    err_21 = np.linalg.norm(src.vertices[t2s] - src.vertices[gt], axis=1)
    err_12 = np.linalg.norm(src.vertices[gt[s2t]] - src.vertices, axis=1)
    assert err_21.mean() < SPOT_MEAN_ERROR_BOUND
    assert err_12.mean() < SPOT_MEAN_ERROR_BOUND
    assert np.median(err_21) < SPOT_MEAN_ERROR_BOUND


def test_in_process_match_recovers_a_permutation(tmp_path, tiny_pair, capsys):
    a, b, perm = tiny_pair
    out = tmp_path / "res"
    rc = main(["match", str(a), str(b), "--out", str(out), "--preset", "fast", "--k", "20", "--no-picture"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "prepare" in err and "zoomout" in err and "wrote" in err  # progress per stage on stderr
    assert re.search(r"confidence \d\.\d\d", err.splitlines()[-1])
    t2s = np.loadtxt(out / "target_to_source.txt", dtype=np.int64)
    assert (t2s == perm).mean() >= 0.95
    assert np.load(out / "fmap.npy").shape == (20, 20)
    assert not (out / "correspondence.png").exists()
    report = json.loads((out / "report.json").read_text())
    settings = shapecorr.MatchSettings.from_dict(report["settings"])
    assert settings.k_final == 20 and settings.k_init == 20  # the preset's k_init (30) follows --k
    assert report["outputs"]["picture"] is None


def test_quiet_is_silent_and_existing_files_are_kept(tmp_path, tiny_pair, capsys):
    a, b, _ = tiny_pair
    out = tmp_path / "res"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "fmap.npy").write_text("old")
    rc = main(["match", str(a), str(b), "--out", str(out), "--preset", "fast", "--k", "12", "--no-picture", "-q"])
    assert rc == 0
    assert capsys.readouterr().err == ""
    assert (out / "notes.txt").read_text() == "mine"  # not ours: untouched
    assert np.load(out / "fmap.npy").shape == (12, 12)  # ours: replaced


def test_report_records_the_given_arguments(tmp_path, tiny_pair):
    a, b, _ = tiny_pair
    argv = ["match", str(a), str(b), "--out", str(tmp_path / "r"), "--preset", "fast", "--k", "10",
            "--no-picture", "-q"]
    assert main(argv) == 0
    assert json.loads((tmp_path / "r" / "report.json").read_text())["argv"] == argv


def test_point_cloud_report_is_strict_json(tmp_path):
    s = point_cloud(bumpy(2))
    t, _ = permuted_copy(s, seed=32)
    a, b = tmp_path / "a.xyz", tmp_path / "b.xyz"
    s.save(a)
    t.save(b)
    out = tmp_path / "pc"
    assert main(["match", str(a), str(b), "--out", str(out), "--preset", "fast", "--k", "12", "-q"]) == 0
    for name in ("source_to_target.txt", "target_to_source.txt", "fmap.npy", "correspondence.png"):
        assert (out / name).exists()

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    report = json.loads((out / "report.json").read_text(), parse_constant=refuse)
    assert report["sides_undecided"] == [] and isinstance(report["confidence_advice"], str)


def test_a_flat_sheet_of_points_is_reported_with_its_undecided_sides(tmp_path, capsys):
    """A mesh of a flat sheet against the sheet's points: the run succeeds, says on stderr that
    the map's handedness cannot be told, and the report names the cloud."""
    sheet = grid(24, 20, 0.05)
    t, _ = permuted_copy(point_cloud(sheet), seed=4, rigid=True)
    a, b = write_off(tmp_path / "sheet.off", sheet.vertices, sheet.faces), tmp_path / "sheet_points.xyz"
    t.save(b)
    out = tmp_path / "res"
    assert main(["match", str(a), str(b), "--out", str(out), "--preset", "fast", "--k", "12", "--no-picture"]) == 0
    assert "encloses no volume" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["sides_undecided"] == ["sheet_points"] and report["confidence_low"]
    assert "mirror image" in report["confidence_advice"]


def test_a_flat_sheet_of_points_with_normals_in_its_ply_is_trusted(tmp_path):
    """The same kind of pair with the points' normals in the PLY (as a scanner writes them): the
    sheet's outward side is known, nothing is flagged for it, and the map is right."""
    sheet = l_sheet()
    moved, perm = permuted_copy(point_cloud(sheet), seed=4, rigid=True)
    a, b = write_off(tmp_path / "sheet.off", sheet.vertices, sheet.faces), tmp_path / "scan.ply"
    with_moved_normals(sheet, moved, perm).save(b)
    out = tmp_path / "res"
    assert main(["match", str(a), str(b), "--out", str(out), "--preset", "fast", "--k", "12", "--no-picture"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["sides_undecided"] == []
    assert json.loads((out / "match.json").read_text())["target"]["has_point_normals"]
    found = np.loadtxt(out / "target_to_source.txt", dtype=int)
    assert exact_or_adjacent(sheet, found, perm)[1] >= 0.95


# ----------------------------------------------------------------------------- help, version
def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"shapecorr {shapecorr.__version__}"
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "match" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["match", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("SOURCE", "TARGET", "--out", "--preset", "--k", "--device", "--quiet",
                 "source_to_target.txt", "target_to_source.txt", "fmap.npy", "report.json",
                 "correspondence.png", "fast", "default"):
        assert word in text, word


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err.lower()


# ----------------------------------------------------------------------------- bad input
def _run_bad(argv, capsys, out):
    rc = main(argv)
    err = capsys.readouterr().err
    lines = _stderr_lines(err)
    assert rc == 2
    assert len(lines) == 1, err
    assert lines[0].startswith("shapecorr match: error:")
    _no_leftovers(out.parent, out.name)
    return lines[0]


def test_missing_source(tmp_path, tiny_pair, capsys):
    _, b, _ = tiny_pair
    out = tmp_path / "o"
    line = _run_bad(["match", str(tmp_path / "missing.off"), str(b), "--out", str(out)], capsys, out)
    assert "SOURCE" in line and "missing.off" in line


def test_garbled_target(tmp_path, tiny_pair, capsys):
    a, _, _ = tiny_pair
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 zero 0\nf 1 2 3\n")
    out = tmp_path / "o"
    line = _run_bad(["match", str(a), str(bad), "--out", str(out)], capsys, out)
    assert "bad.obj" in line and "could not parse" in line


@pytest.mark.parametrize("name, content, words", [
    ("nan.off", "OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 0\n3 0 1 2\n", ["nan.off", "NaN"]),
    ("range.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n", ["range.off", "vertex"]),
    ("shape.vtk", "whatever\n", ["shape.vtk", "unknown shape format"]),
    ("empty.ply", "", ["empty.ply", "empty"]),
])
def test_bad_target_files(tmp_path, tiny_pair, capsys, name, content, words):
    a, _, _ = tiny_pair
    bad = tmp_path / name
    bad.write_text(content)
    out = tmp_path / "o"
    line = _run_bad(["match", str(a), str(bad), "--out", str(out)], capsys, out)
    for w in words:
        assert w in line


def test_bad_options(tmp_path, tiny_pair, capsys):
    a, b, _ = tiny_pair
    out = tmp_path / "o"
    line = _run_bad(["match", str(a), str(b), "--out", str(out), "--preset", "nonexistent"], capsys, out)
    assert "unknown preset" in line and "fast" in line  # names the ones that exist
    line = _run_bad(["match", str(a), str(b), "--out", str(out), "--k", "1"], capsys, out)
    assert "--k" in line
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("descriptor: shot\n")
    line = _run_bad(["match", str(a), str(b), "--out", str(out), "--preset", str(bad_yaml)], capsys, out)
    assert "descriptor" in line
    # too large for the shapes: refused after loading, before any matching (quiet: only the error)
    line = _run_bad(["match", str(a), str(b), "--out", str(out), "--k", "500", "-q"], capsys, out)
    assert "too few" in line and "--k 160" in line


def _forbid_matching(monkeypatch):
    """Make any matching fail the test: the command must stop before it."""
    import shapecorr.pipeline

    def no_match(*args, **kwargs):
        raise AssertionError("the match ran although the arguments were bad")

    monkeypatch.setattr(shapecorr.pipeline, "match", no_match)


@pytest.mark.parametrize("case", ["out_is_a_file", "out_below_a_file", "missing_target", "bad_preset",
                                  "too_large_k"])
def test_bad_arguments_are_refused_before_any_matching(tmp_path, tiny_pair, capsys, monkeypatch, case):
    """What we saw: --out pointing at a file was reported only after the whole match ran."""
    a, b, _ = tiny_pair
    taken = tmp_path / "taken"
    taken.write_text("x")
    out = {"out_is_a_file": taken, "out_below_a_file": taken / "sub"}.get(case, tmp_path / "o")
    argv = ["match", str(a), str(b), "--out", str(out), "-q"]
    if case == "missing_target":
        argv[2] = str(tmp_path / "nope.off")
    elif case == "bad_preset":
        argv += ["--preset", "nope"]
    elif case == "too_large_k":
        argv += ["--k", "500"]
    _forbid_matching(monkeypatch)
    assert main(argv) == 2
    lines = _stderr_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("shapecorr match: error:"), lines
    assert taken.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("shapecorr-cache")) == \
        sorted(["a.off", "b.off", "taken"])  # nothing created, nothing left behind


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch):
    """A folder nobody can create anything in. Root ignores permission bits, so there the
    operating system's refusal is simulated: creating a folder inside it raises EACCES."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / "probe").mkdir()
    except PermissionError:
        pass
    else:  # root: permission bits do not apply
        (d / "probe").rmdir()
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs):
            if Path(path).absolute().parent == d:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
    yield d
    d.chmod(0o755)


def test_read_only_out_is_one_line_and_exit_2(tiny_pair, read_only_dir, capsys, monkeypatch):
    """What we saw: a read-only --out gave a Python traceback and exit 1 (after the match)."""
    a, b, _ = tiny_pair
    _forbid_matching(monkeypatch)  # found before the work
    rc = main(["match", str(a), str(b), "--out", str(read_only_dir / "res"), "--k", "10", "--no-picture"])
    err = capsys.readouterr().err
    lines = _stderr_lines(err)
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith("shapecorr match: error:") and str(read_only_dir) in lines[0]
    assert "Permission denied" in lines[0] and "Traceback" not in err
    assert list(read_only_dir.iterdir()) == []


def test_disk_full_while_writing_is_one_line_and_leaves_nothing(tmp_path, tiny_pair, capsys, monkeypatch):
    from shapecorr.cli import match_cmd

    def disk_full(source, target, m, path, scheme, up="y"):
        path.write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(match_cmd, "_picture", disk_full)
    a, b, _ = tiny_pair
    out = tmp_path / "o"
    rc = main(["match", str(a), str(b), "--out", str(out), "--k", "10", "-q"])
    lines = _stderr_lines(capsys.readouterr().err)
    assert rc == 2 and len(lines) == 1
    assert "No space left on device" in lines[0] and "correspondence.png" in lines[0] and "disk is full" in lines[0]
    _no_leftovers(tmp_path, "o")


def test_internal_error_says_so_and_keeps_the_traceback_in_a_log(tmp_path, tiny_pair, capsys, monkeypatch):
    """A bug (here: any exception that is not a shapecorr or operating-system error, such as a
    bare ValueError) is not blamed on the user: one line, a log file with the traceback, exit 1."""
    from shapecorr.cli import match_cmd

    def broken_picture(*args, **kwargs):
        raise ValueError("renderer exploded")

    monkeypatch.setattr(match_cmd, "_picture", broken_picture)
    a, b, _ = tiny_pair
    out = tmp_path / "o"
    rc = main(["match", str(a), str(b), "--out", str(out), "--k", "10", "-q"])
    err = capsys.readouterr().err
    lines = _stderr_lines(err)
    assert rc == 1 and len(lines) == 1, err
    assert lines[0].startswith("shapecorr match: internal error") and "renderer exploded" in lines[0]
    log = Path(re.search(r"the traceback is in (\S+?);", lines[0]).group(1))
    assert log.parent == Path(os.environ["SHAPECORR_CACHE_DIR"]) / "logs"
    text = log.read_text()
    assert "Traceback" in text and "broken_picture" in text and "--k 10" in text
    _no_leftovers(tmp_path, "o")


def test_never_overwrites_an_input_file(tmp_path, capsys):
    """A point cloud saved as out/source_to_target.txt is an input: the command refuses to
    write its map over it."""
    s = point_cloud(bumpy(2))
    a = tmp_path / "source_to_target.txt"
    s.save(a)
    before = a.read_bytes()
    b = tmp_path / "b.xyz"
    permuted_copy(s, seed=3)[0].save(b)
    line = _run_bad(["match", str(a), str(b), "--out", str(tmp_path)], capsys, tmp_path / "never")
    assert "overwrite an input file" in line and "source_to_target.txt" in line
    assert a.read_bytes() == before


def test_never_overwrites_a_texture_image_of_an_input(tmp_path, capsys):
    """An OBJ whose texture image is called correspondence.png, matched into its own folder."""
    d = tmp_path / "d"
    d.mkdir()
    for name in ("spot.obj", "spot_posed.obj"):
        shutil.copy(SPOT / name, d / name)
    (d / "spot.mtl").write_text((SPOT / "spot.mtl").read_text().replace("spot_texture.png", "correspondence.png"))
    shutil.copy(SPOT / "spot_texture.png", d / "correspondence.png")
    before = (d / "correspondence.png").read_bytes()
    line = _run_bad(["match", str(d / "spot.obj"), str(d / "spot_posed.obj"), "--out", str(d)], capsys,
                    tmp_path / "never")
    assert "overwrite an input file" in line and "correspondence.png" in line
    assert (d / "correspondence.png").read_bytes() == before
    assert sorted(p.name for p in d.iterdir()) == ["correspondence.png", "spot.mtl", "spot.obj", "spot_posed.obj"]


def _degenerate_copy(path: Path, shape) -> Path:
    """``shape`` written with one extra zero-area face (a repeated vertex)."""
    faces = np.vstack([shape.faces, [[0, 1, 1]]])
    return write_off(path, shape.vertices, faces)


def test_imperfect_mesh_warns_in_one_line_and_strict_refuses(tmp_path, tiny_pair, capsys):
    a, b, perm = tiny_pair
    bad = _degenerate_copy(tmp_path / "bad.off", shapecorr.load(b))
    out = tmp_path / "o"
    assert main(["match", str(a), str(bad), "--out", str(out), "--k", "12", "--no-picture", "-q"]) == 0
    lines = _stderr_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"shapecorr: warning: {bad}:") and "degenerate" in lines[0]
    t2s = np.loadtxt(out / "target_to_source.txt", dtype=np.int64)
    assert t2s.shape == perm.shape and (t2s == perm).mean() >= 0.95  # vertex order kept, map right
    line = _run_bad(["match", str(a), str(bad), "--out", str(tmp_path / "s"), "--strict"], capsys, tmp_path / "s")
    assert str(bad) in line and "degenerate" in line


def test_only_shapecorr_warnings_are_shown_each_as_one_line(capsys):
    import warnings

    from shapecorr.cli.common import one_line_warnings
    from shapecorr.core import LowConfidenceWarning

    with one_line_warnings():
        warnings.warn(LowConfidenceWarning("a -> b: low confidence 0.20 (below 0.50);\ntry --preset accurate"))
        warnings.warn(LowConfidenceWarning("a -> b: low confidence 0.20 (below 0.50);\ntry --preset accurate"))
        warnings.warn("some library's own warning", RuntimeWarning)
    assert capsys.readouterr().err.splitlines() == [
        "shapecorr: warning: a -> b: low confidence 0.20 (below 0.50); try --preset accurate"]


def test_library_log_warnings_are_one_line_and_only_while_a_command_runs(capsys):
    import logging

    from shapecorr.cli.common import library_log_lines

    logger = logging.getLogger("shapecorr.some.module")
    handlers = list(logging.getLogger("shapecorr").handlers)
    with library_log_lines():
        logger.info("progress detail")
        logger.warning("eigensolver retried\nwith a shift")
    assert capsys.readouterr().err.splitlines() == ["shapecorr: warning: eigensolver retried with a shift"]
    assert logging.getLogger("shapecorr").handlers == handlers


def test_low_confidence_is_said_once_in_one_line_and_recorded(tmp_path, tiny_pair, capsys, monkeypatch):
    """A match the pipeline does not trust: its warning (one line), the final line and
    report.json say so."""
    import warnings

    import shapecorr.pipeline
    from shapecorr.core import LowConfidenceWarning

    real_match = shapecorr.pipeline.match

    def distrusted(*args, **kwargs):
        m = real_match(*args, **kwargs)
        m.info.update(confidence=0.12, confidence_low=True)
        warnings.warn(LowConfidenceWarning("a -> b: low confidence 0.12 (below 0.50); try --preset accurate"))
        return m

    monkeypatch.setattr(shapecorr.pipeline, "match", distrusted)
    a, b, _ = tiny_pair
    out = tmp_path / "o"
    assert main(["match", str(a), str(b), "--out", str(out), "--k", "12"]) == 0
    lines = _stderr_lines(capsys.readouterr().err)
    assert [ln for ln in lines if "warning" in ln] == [
        "shapecorr: warning: a -> b: low confidence 0.12 (below 0.50); try --preset accurate"]
    assert lines[-1].endswith("confidence 0.12 (low: check correspondence.png)")
    report = json.loads((out / "report.json").read_text())
    assert report["confidence"] == 0.12 and report["confidence_low"] is True


def test_two_disagreeing_models_write_the_other_match_beside_the_kept_one(tmp_path, tiny_pair, capsys, monkeypatch):
    """When the first and second feature models disagree (``Match.alternative``), the other match
    is written to OUT/other_model/ with its own maps, match.json and picture, report.json names
    it, and a line says so; without an alternative there is no such folder."""
    import shapecorr.pipeline

    real_match = shapecorr.pipeline.match
    a, b, _ = tiny_pair

    def two_models(*args, **kwargs):
        m = real_match(*args, **kwargs)
        m.info.update(confidence=0.74, confidence_threshold=0.59, confidence_low=True)  # flagged, as the pipeline does
        turned = m.p2p_21[::-1].copy()  # another map of the same pair
        m.alternative = Match(p2p_21=turned, p2p_12=m.p2p_12.copy(), fmap_12=m.fmap_12.copy(),
                              info={**m.info, "feature_model": "selfsup_general", "confidence": 0.5})
        return m

    plain = tmp_path / "plain"
    assert main(["match", str(a), str(b), "--out", str(plain), "--k", "12"]) == 0
    assert not (plain / "other_model").exists()
    assert json.loads((plain / "report.json").read_text())["outputs"]["other_model"] is None
    capsys.readouterr()
    monkeypatch.setattr(shapecorr.pipeline, "match", two_models)
    out = tmp_path / "o"
    assert main(["match", str(a), str(b), "--out", str(out), "--k", "12"]) == 0
    err = _stderr_lines(capsys.readouterr().err)
    assert "the other's match is in" in err[-1] and err[-2].endswith("confidence 0.74, but not trusted (see the warning)")
    assert json.loads((out / "report.json").read_text())["outputs"]["other_model"] == "other_model/"
    other = Match.load(out / "other_model")
    kept = Match.load(out)
    np.testing.assert_array_equal(other.p2p_21, kept.p2p_21[::-1])
    assert other.info["feature_model"] == "selfsup_general"
    assert (out / "other_model" / "correspondence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _follow_advice(argv, line):
    """``argv`` with the options an error line advises (``--k N``, ``--preset NAME``)."""
    argv = list(argv)
    for opt in ("--k", "--preset"):
        found = re.search(rf"{opt} (\S+?)[;),.]?(\s|$)", line)
        if found:
            argv += [opt, found.group(1)]
    return argv


@pytest.mark.parametrize("n_points", [10, 13])
def test_advice_for_a_tiny_point_cloud_works_when_followed(tmp_path, capsys, n_points):
    """What we saw: for a 10-point cloud the advice `use k <= 8` failed again when followed."""
    rng = np.random.default_rng(5)
    pts = rng.normal(size=(n_points, 3))
    a, b = tmp_path / "a.xyz", tmp_path / "b.xyz"
    np.savetxt(a, pts)
    np.savetxt(b, pts[rng.permutation(n_points)] + 0.01)
    argv = ["match", str(a), str(b), "--out", str(tmp_path / "o"), "-q", "--no-picture"]
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert main(_follow_advice(argv, line)) == 0, capsys.readouterr().err


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="checks the no-CUDA message")
def test_cuda_without_gpu(tmp_path, tiny_pair, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    a, b, _ = tiny_pair
    out = tmp_path / "o"
    line = _run_bad(["match", str(a), str(b), "--out", str(out), "--device", "cuda"], capsys, out)
    assert "CUDA" in line


def test_argparse_errors_exit_2(tiny_pair, capsys):
    a, b, _ = tiny_pair
    with pytest.raises(SystemExit) as e:
        main(["match", str(a), str(b)])  # --out is required
    assert e.value.code == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["match", str(a), str(b), "--out", "x", "--device", "tpu"])
    assert e.value.code == 2


# ----------------------------------------------------------------------------- real process
def _console_script():
    exe = Path(sys.executable).parent / "shapecorr"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from shapecorr.cli import main; raise SystemExit(main())"]


def _env(tmp_path):
    env = dict(os.environ)
    env["SHAPECORR_CACHE_DIR"] = str(tmp_path / "proc-cache")
    return env


def test_console_script_success(tmp_path, tiny_pair):
    a, b, perm = tiny_pair
    out = tmp_path / "proc"
    res = subprocess.run(_console_script() + ["match", str(a), str(b), "--out", str(out), "--preset", "fast",
                                              "--k", "20", "--no-picture", "--quiet"],
                         capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "" and res.stdout == ""
    t2s = np.loadtxt(out / "target_to_source.txt", dtype=np.int64)
    assert (t2s == perm).mean() >= 0.95
    assert (tmp_path / "proc-cache").is_dir()  # the cache went where it was told


def test_console_script_bad_input(tmp_path, tiny_pair):
    a, _, _ = tiny_pair
    out = tmp_path / "proc"
    res = subprocess.run(_console_script() + ["match", str(a), str(tmp_path / "nope.ply"), "--out", str(out)],
                         capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert res.returncode == 2
    lines = _stderr_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("shapecorr match: error:") and "nope.ply" in lines[0]
    assert "Traceback" not in res.stderr
    _no_leftovers(tmp_path, "proc")


def test_console_script_warning_is_one_clean_line(tmp_path, tiny_pair):
    """What we saw: warnings printed as raw Python warnings with an internal source path and
    code line. A user running the command sees exactly one line per warning."""
    a, b, _ = tiny_pair
    bad = _degenerate_copy(tmp_path / "bad.off", shapecorr.load(b))
    res = subprocess.run(_console_script() + ["match", str(a), str(bad), "--out", str(tmp_path / "o"), "--k", "12",
                                              "--no-picture", "-q"],
                         capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert res.returncode == 0, res.stderr
    lines = _stderr_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"shapecorr: warning: {bad}: ") and "degenerate" in lines[0]
    assert ".py" not in res.stderr and "Warning:" not in res.stderr


def test_match_imports_nothing_it_does_not_use(tmp_path, tiny_pair):
    """What we saw: the CLI was slow where the library is fast (torch import, a VTK picture).
    `shapecorr match` on OFF/OBJ files, picture included, loads none of the heavy libraries."""
    a, b, _ = tiny_pair
    code = ("import sys\nfrom shapecorr.cli import main\n"
            f"rc = main(['match', {str(a)!r}, {str(b)!r}, '--out', {str(tmp_path / 'o')!r}, '--k', '12', '-q'])\n"
            "heavy = ('torch', 'pyvista', 'vtk', 'vtkmodules', 'matplotlib', 'trimesh', 'PySide6')\n"
            "print(rc, sorted(m for m in heavy if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0 []"
    assert (tmp_path / "o" / "correspondence.png").is_file()


# ----------------------------------------------------------------------------- --model, --adapt
def test_model_file_and_adaptation_end_to_end(tmp_path, tiny_pair, capsys):
    """``--model FILE --adapt=STEPS``: the given network, adapted to the pair for STEPS steps
    (progress per step on stderr); report.json names the model and the adaptation; the
    permutation is recovered."""
    from shapecorr.learn import load_feature_model

    a, b, perm = tiny_pair
    model = load_feature_model().save(tmp_path / "copy.npz")  # a model file, not a bundled name
    out = tmp_path / "res"
    rc = main(["match", str(a), str(b), "--out", str(out), "--preset", "fast", "--k", "20", "--no-picture",
               "--model", str(model), "--adapt=2"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "adaptation step 2/2" in err
    report = json.loads((out / "report.json").read_text())
    assert report["feature_model"] == str(model)
    assert report["adaptation"]["ran"] and report["adaptation"]["steps"] == 2
    settings = shapecorr.MatchSettings.from_dict(report["settings"])
    assert (settings.adapt_when, settings.adapt_steps, settings.feature_model) == ("always", 2, str(model))
    t2s = np.loadtxt(out / "target_to_source.txt", dtype=np.int64)
    assert (t2s == perm).mean() >= 0.95


def test_adapt_without_steps_takes_the_presets(tiny_pair):
    from shapecorr.cli import build_parser
    from shapecorr.cli.match_cmd import settings_from_args

    a, b, _ = tiny_pair
    args = build_parser().parse_args(["match", str(a), str(b), "--out", "x", "--adapt"])
    assert (settings_from_args(args).adapt_when, settings_from_args(args).adapt_steps) == ("always", None)
    args = build_parser().parse_args(["match", str(a), str(b), "--out", "x", "--adapt", "7"])
    assert settings_from_args(args).adapt_steps == 7
    assert settings_from_args(args).adapt_regularizer == "axiomatic"
    args = build_parser().parse_args(["match", str(a), str(b), "--out", "x", "--adapt", "--adapt-regularizer", "prior"])
    assert (settings_from_args(args).adapt_when, settings_from_args(args).adapt_regularizer) == ("always", "prior")
    assert settings_from_args(args).prior_refine is None
    args = build_parser().parse_args(["match", str(a), str(b), "--out", "x", "--prior-refine"])
    assert settings_from_args(args).prior_refine == "prior_k30"
    args = build_parser().parse_args(["match", str(a), str(b), "--out", "x", "--prior-refine=prior_k30_humans"])
    assert settings_from_args(args).prior_refine == "prior_k30_humans"


@pytest.mark.parametrize("extra, words", [
    (["--model", "no/such/model.npz"], "--model no/such/model.npz: no such file"),
    (["--model", "nomodel"], "--model nomodel: no such file (and no bundled model of that name"),
    (["--adapt=0"], "--adapt STEPS must be at least 1"),
    (["--adapt", "--preset", "axiomatic"], "adapts the learned features, but init is 'axiomatic'"),
    (["--prior-refine=nope"], "prior_refine: no bundled prior or file 'nope'"),
])
def test_bad_model_or_adapt_is_one_line_and_exit_2(tmp_path, tiny_pair, capsys, extra, words):
    a, b, _ = tiny_pair
    out = tmp_path / "o"
    line = _run_bad(["match", str(a), str(b), "--out", str(out), *extra], capsys, out)
    assert words in line


def test_view_takes_model_and_adapt_through_a_preset_file(capsys):
    """``shapecorr view --model/--adapt``: the viewer takes presets by name or file, so the
    preset with those changes is written to a temporary YAML file while it runs; a missing
    model file is one line and exit 2 before any window opens."""
    from shapecorr.cli.view_cmd import preset_with_overrides

    with preset_with_overrides("fast", {"adapt_when": "always", "adapt_steps": 3}) as path:
        s = load_preset(path)
        assert (s.adapt_when, s.adapt_steps, s.k_final) == ("always", 3, load_preset("fast").k_final)
    assert not Path(path).exists()
    with preset_with_overrides("fast", {}) as name:
        assert name == "fast"
    rc = main(["view", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--model", "no/such.npz"])
    lines = _stderr_lines(capsys.readouterr().err)
    assert rc == 2 and lines == [lines[0]] and "--model no/such.npz: no such file" in lines[0]


def test_report_says_a_cloud_was_matched_through_its_reconstructed_surface(tmp_path):
    """report.json tells which path a point cloud took: through a surface reconstructed from
    it, and from which normals (here estimated: an .xyz without normals)."""
    pytest.importorskip("pymeshlab")
    blob = bumpy(3)
    moved, _ = permuted_copy(point_cloud(blob), seed=3, rigid=True)
    a, b = tmp_path / "blob.xyz", tmp_path / "blob_moved.xyz"
    point_cloud(blob).save(a)
    moved.save(b)
    out = tmp_path / "res"
    assert main(["match", str(a), str(b), "--out", str(out), "--k", "30", "--no-picture", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["proxy"]["reconstructed"] == [True, True]
    assert report["proxy"]["surface_normals"] == ["estimated", "estimated"]
    assert report["mesh_as_points"] is False


# ----------------------------------------------------------------------------- landmarks
def test_landmarks_file_end_to_end_and_bad_files(tiny_pair, tmp_path, capsys):
    """``--landmarks FILE``: the pairs are held exactly and reported; a file that names a vertex
    the shapes do not have, or is not a landmark file, is one line, exit 2, nothing written."""
    a, b, perm = tiny_pair
    inv = inverse_permutation(perm)
    sources = [0, 40, 80, 120]
    good = tmp_path / "lm.json"
    good.write_text(json.dumps({"pairs": [[i, int(inv[i])] for i in sources]}))
    out = tmp_path / "o"
    assert main(["match", str(a), str(b), "--out", str(out), "--k", "10", "--landmarks", str(good), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["landmarks"]["file"] == str(good) and report["landmarks"]["pairs"] == 4
    p2p_12 = np.loadtxt(out / "source_to_target.txt", dtype=int)
    assert [int(p2p_12[i]) for i in sources] == [int(inv[i]) for i in sources]
    capsys.readouterr()
    far = tmp_path / "far.txt"
    far.write_text("0 5000\n")
    odd = tmp_path / "odd.txt"
    odd.write_text("0 1 2\n")
    for path, words in ((far, f"--landmarks {far}: pair 0 names target vertex 5000, but the target has"),
                        (odd, f"--landmarks {odd}:1: expected two vertex indices"),
                        (tmp_path / "none.json", "no such landmark file")):
        rc = main(["match", str(a), str(b), "--out", str(tmp_path / "x"), "--k", "10", "--landmarks", str(path), "-q"])
        lines = _stderr_lines(capsys.readouterr().err)
        assert rc == 2 and len(lines) == 1 and words in lines[0], lines
        assert not (tmp_path / "x").exists()


def test_transfer_and_morph_take_landmarks_for_the_match_they_make(tiny_pair, tmp_path, capsys):
    """``transfer`` and ``morph`` without ``--map`` pass ``--landmarks`` to the match they make
    (the pairs are held in the saved match); with ``--map`` the flag is refused in one line."""
    a, b, perm = tiny_pair
    inv = inverse_permutation(perm)
    lm = tmp_path / "lm.txt"
    lm.write_text("".join(f"{i} {int(inv[i])}\n" for i in (0, 50, 100)))
    field = tmp_path / "field.txt"
    np.savetxt(field, np.arange(len(perm), dtype=float))
    out = tmp_path / "t"
    assert main(["transfer", str(a), str(b), "--what", "field", "--field", str(field), "--field-method", "vertex",
                 "--landmarks", str(lm), "--out", str(out), "--no-preview", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["match"]["info"]["landmarks"]["pairs"] == 3
    saved = np.loadtxt(out / "match" / "source_to_target.txt", dtype=int)
    assert [int(saved[i]) for i in (0, 50, 100)] == [int(inv[i]) for i in (0, 50, 100)]
    out2 = tmp_path / "m"
    assert main(["morph", str(a), str(b), "--frames", "2", "--method", "vertex", "--landmarks", str(lm),
                 "--out", str(out2), "--no-preview", "-q"]) == 0
    assert json.loads((out2 / "report.json").read_text())["match"]["landmarks"]["pairs"] == 3
    capsys.readouterr()
    for cmd in (["transfer", str(a), str(b), "--what", "field", "--field", str(field)], ["morph", str(a), str(b)]):
        rc = main([*cmd, "--map", str(out / "match"), "--landmarks", str(lm), "--out", str(tmp_path / "x"), "-q"])
        lines = _stderr_lines(capsys.readouterr().err)
        assert rc == 2 and len(lines) == 1 and "--landmarks applies when the match is computed" in lines[0]
