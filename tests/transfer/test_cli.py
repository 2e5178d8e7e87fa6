"""``shapecorr transfer`` end to end on the bundled Spot pair (fast preset), and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shapecorr import load
from shapecorr.cli import main

SPOT = Path(__file__).resolve().parents[2] / "data" / "spot"
pytestmark = pytest.mark.skipif(not (SPOT / "spot_posed.obj").exists(), reason="data/spot not present")


@pytest.fixture(scope="module")
def texture_run(tmp_path_factory):
    from shapecorr.core import set_cache_dir

    set_cache_dir(None)
    out = tmp_path_factory.mktemp("transfer") / "spot"
    rc = main(["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--out", str(out),
               "--preset", "fast", "--quiet"])
    set_cache_dir("default")
    return rc, out


def test_texture_end_to_end(texture_run):
    rc, out = texture_run
    assert rc == 0
    for name in ("spot_posed_textured.obj", "spot_posed_textured.mtl", "spot_texture.png", "report.json",
                 "preview.png", "match/target_to_source.txt"):
        assert (out / name).exists(), name
    shape = load(out / "spot_posed_textured.obj")
    posed = load(SPOT / "spot_posed.obj")
    assert shape.n_vertices == posed.n_vertices and np.allclose(shape.vertices, posed.vertices)
    assert shape.has_uv and shape.texture == out / "spot_texture.png"
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "register" and report["register_proxy_vertices"] is None  # 2930 + 4001 vertices
    assert report["register_finished_at_full_resolution"] is False
    t = report["texture"]
    assert t["streak_fraction_relative"] < 0.01
    assert t["streak_fraction_result"] <= t["streak_fraction_source"]
    # the texture lands where it should: compare with the ground-truth surface map
    from shapecorr.transfer import SurfaceMap, texture_from_surface_map

    gt = np.load(SPOT / "spot_posed_gt_bary.npz")
    ref = texture_from_surface_map(load(SPOT / "spot.obj"), posed, SurfaceMap(gt["face"].astype(int), gt["bary"]))
    err_texels = 1024 * np.linalg.norm(shape.uv[: posed.n_vertices] - ref.uv[: posed.n_vertices], axis=1)
    assert np.median(err_texels) < 40
    from PIL import Image

    img = np.asarray(Image.open(out / "preview.png"))
    assert img.shape[1] > img.shape[0] and img.reshape(-1, img.shape[-1]).std(0).max() > 20


def test_reuse_match_for_colors_labels_field(texture_run, tmp_path):
    rc, out = texture_run
    assert rc == 0
    m = str(out / "match")
    src, tgt = str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj")
    assert main(["transfer", src, tgt, "--what", "colors", "--map", m, "--out", str(tmp_path / "c"),
                 "--quiet", "--no-preview"]) == 0
    colored = load(tmp_path / "c" / "spot_posed_colored.ply")
    assert colored.vertex_colors is not None and colored.vertex_colors.shape[0] == colored.n_vertices
    assert json.loads((tmp_path / "c" / "report.json").read_text())["method"] == "register"  # the default
    # what we saw: `--what colors --method register` was offered and ended in an internal error
    assert main(["transfer", src, tgt, "--what", "colors", "--map", m, "--method", "register", "--out",
                 str(tmp_path / "c2"), "--quiet", "--no-preview"]) == 0
    assert np.array_equal(load(tmp_path / "c2" / "spot_posed_colored.ply").vertex_colors, colored.vertex_colors)
    spot = load(src)
    labels = (spot.vertices[:, 2] < -0.2).astype(int)  # 1 = head
    np.savetxt(tmp_path / "labels.txt", labels, fmt="%d")
    assert main(["transfer", src, tgt, "--what", "labels", "--labels", str(tmp_path / "labels.txt"), "--map", m,
                 "--out", str(tmp_path / "l"), "--quiet", "--no-preview"]) == 0
    lab = np.loadtxt(tmp_path / "l" / "labels.txt", dtype=int)
    gt = np.loadtxt(SPOT / "spot_posed_gt.txt", dtype=int)
    assert (lab == labels[gt]).mean() > 0.95
    np.save(tmp_path / "f.npy", spot.vertices[:, 1])
    assert main(["transfer", src, tgt, "--what", "field", "--field", str(tmp_path / "f.npy"), "--map", m,
                 "--out", str(tmp_path / "f"), "--quiet", "--no-preview"]) == 0
    f = np.loadtxt(tmp_path / "f" / "field.txt")
    assert np.corrcoef(f, spot.vertices[gt, 1])[0, 1] > 0.95
    report = json.loads((tmp_path / "f" / "report.json").read_text())
    assert report["field"]["method"] == report["method"] == "register"  # the default field method
    fmap = tmp_path / "f2"
    assert main(["transfer", src, tgt, "--what", "field", "--field", str(tmp_path / "f.npy"), "--map", m,
                 "--field-method", "fmap", "--out", str(fmap), "--quiet", "--no-preview"]) == 0
    assert json.loads((fmap / "report.json").read_text())["method"] is None  # no points for the functional map
    # as before: --field-method spectral reads the field at the points --method picks
    both = tmp_path / "f3"
    assert main(["transfer", src, tgt, "--what", "field", "--field", str(tmp_path / "f.npy"), "--map", m,
                 "--field-method", "spectral", "--method", "register", "--out", str(both), "--quiet", "--no-preview"]) == 0
    assert json.loads((both / "report.json").read_text())["method"] == "register"
    np.testing.assert_allclose(np.loadtxt(both / "field.txt"), f, atol=1e-6)
    smooth = np.loadtxt(fmap / "field.txt")
    # the registration's points are nearer the truth than the band-limited functional map
    assert np.abs(f - spot.vertices[gt, 1]).mean() < np.abs(smooth - spot.vertices[gt, 1]).mean()


def test_a_saved_match_that_is_not_trusted_is_warned_about(texture_run, tmp_path, capsys):
    """What we saw: `transfer --map DIR` (and `morph --map DIR`) with a saved match of confidence
    0.06 (cat -> dog) said nothing: the warning of the match call is not repeated when the match
    is loaded. Now the saved match's own flag is warned about, and the last line says it."""
    rc, out = texture_run
    assert rc == 0
    saved = tmp_path / "low"
    shutil.copytree(out / "match", saved)
    meta = json.loads((saved / "match.json").read_text())
    meta["info"].update(confidence=0.06, confidence_low=True, confidence_threshold=0.59,
                        confidence_advice="try --preset axiomatic")
    (saved / "match.json").write_text(json.dumps(meta))
    src, tgt = str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj")
    capsys.readouterr()
    assert main(["transfer", src, tgt, "--what", "colors", "--map", str(saved), "--out", str(tmp_path / "c"),
                 "--no-preview"]) == 0
    said = capsys.readouterr()
    assert f"the saved match {saved}: spot -> spot_posed: low confidence 0.06 (below 0.59)" in said.err
    assert said.out.strip().splitlines()[-1].endswith("the match is not trusted (confidence 0.06; see the warning above)")
    assert main(["morph", src, tgt, "--map", str(saved), "--frames", "2", "--method", "vertex", "--no-preview",
                 "--out", str(tmp_path / "m")]) == 0
    said = capsys.readouterr()
    assert "the saved match" in said.err and "low confidence 0.06" in said.err
    assert said.out.strip().splitlines()[-1].endswith("the match is not trusted (confidence 0.06; see the warning above)")
    assert json.loads((tmp_path / "m" / "report.json").read_text())["match"]["confidence_low"] is True
    # the trusted saved match: no warning, no note
    assert main(["transfer", src, tgt, "--what", "colors", "--map", str(out / "match"), "--out",
                 str(tmp_path / "c2"), "--no-preview"]) == 0
    said = capsys.readouterr()
    assert "warning" not in said.err and "not trusted" not in said.out


def test_method_does_not_apply_to_a_field_read_at_no_points(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.zeros(load(SPOT / "spot.obj").n_vertices))
    for how in ("fmap", "vertex"):
        _fails(["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--what", "field", "--field",
                str(tmp_path / "f.npy"), "--field-method", how, "--method", "spectral", "--out", str(tmp_path / "o")],
               capsys, f"--method does not apply to --field-method {how}", "--field-method register")


def test_map_is_refused_for_a_permuted_target(texture_run, tmp_path, capsys):
    """What we saw: `transfer --map DIR` with a target of the same vertex count but another
    vertex order was accepted and painted wrong colours (exit 0)."""
    from helpers import permuted_copy, write_off

    rc, out = texture_run
    assert rc == 0
    posed = load(SPOT / "spot_posed.obj")
    shuffled, _ = permuted_copy(posed.copy(uv=None, face_uv=None, texture=None), seed=4)
    target = write_off(tmp_path / "spot_posed_shuffled.off", shuffled.vertices, shuffled.faces)
    argv = ["transfer", str(SPOT / "spot.obj"), str(target), "--what", "colors", "--map", str(out / "match"),
            "--no-preview", "--quiet"]
    _fails(argv + ["--out", str(tmp_path / "refused")], capsys, "another target", "--allow-other-shapes",
           "spot_posed_shuffled.off")
    assert not (tmp_path / "refused").exists()
    # the rare deliberate case: the user says the vertices correspond anyway
    assert main(argv + ["--out", str(tmp_path / "forced"), "--allow-other-shapes"]) == 0
    report = json.loads((tmp_path / "forced" / "report.json").read_text())
    assert report["match"]["other_shapes_allowed"] is True


def test_strict_refuses_an_imperfect_target(tmp_path, capsys):
    from helpers import write_off

    posed = load(SPOT / "spot_posed.obj")
    faces = np.vstack([posed.faces, [[0, 1, 1]]])  # one zero-area face
    bad = write_off(tmp_path / "posed_degenerate.off", posed.vertices, faces)
    _fails(["transfer", str(SPOT / "spot.obj"), str(bad), "--out", str(tmp_path / "o"), "--strict"], capsys,
           "posed_degenerate.off", "degenerate")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("what, name, content, words", [
    ("field", "f.txt", "nan\n" * 2930, ["f.txt", "finite"]),
    ("field", "short.txt", "1\n2\n", ["short.txt", "2 rows", "2930"]),
    ("field", "empty.npy", None, ["empty.npy", "could not read"]),
    ("labels", "frac.txt", "0.5\n" * 2930, ["frac.txt", "integers"]),
])
def test_bad_labels_and_fields_are_user_errors(tmp_path, capsys, what, name, content, words):
    f = tmp_path / name
    if content is None:
        f.write_bytes(b"")
    else:
        f.write_text(content)
    _fails(["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--what", what, f"--{what}", str(f),
            "--out", str(tmp_path / "o")], capsys, *words)
    assert not (tmp_path / "o").exists()


def test_allow_other_shapes_needs_a_map(tmp_path, capsys):
    _fails(["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--out", str(tmp_path / "o"),
            "--allow-other-shapes"], capsys, "--allow-other-shapes", "--map")


def test_model_and_adapt_are_checked_before_work(texture_run, tmp_path, capsys):
    src, tgt = str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj")
    out = str(tmp_path / "o")
    _fails(["transfer", src, tgt, "--out", out, "--model", str(tmp_path / "none.npz")], capsys,
           "--model", "none.npz", "no such file")
    _fails(["transfer", src, tgt, "--out", out, "--map", str(texture_run[1]), "--model", "faust_r_wks"], capsys,
           "--model", "--map")
    _fails(["transfer", src, tgt, "--out", out, "--adapt=0"], capsys, "--adapt")
    assert not (tmp_path / "o").exists()


def _fails(argv, capsys, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_bad_inputs(tmp_path, capsys):
    src, tgt = str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj")
    out = str(tmp_path / "o")
    _fails(["transfer", tgt, src, "--out", out], capsys, "no texture coordinates", "--what colors")
    np.savetxt(tmp_path / "cloud.xyz", load(tgt).vertices[::4])
    _fails(["transfer", src, str(tmp_path / "cloud.xyz"), "--out", out], capsys, "point cloud", "--what colors")
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(SPOT / "spot.obj", lone / "spot.obj")
    shutil.copy(SPOT / "spot.mtl", lone / "spot.mtl")
    _fails(["transfer", str(lone / "spot.obj"), tgt, "--out", out], capsys, "spot_texture.png", "not found")
    _fails(["transfer", src, tgt, "--what", "labels", "--out", out], capsys, "--labels")
    _fails(["transfer", src, str(tmp_path / "missing.obj"), "--out", out], capsys, "no such file")
    assert not (tmp_path / "o").exists()


def test_never_overwrites_inputs(tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    for name in ("spot.obj", "spot.mtl", "spot_texture.png", "spot_posed.obj"):
        shutil.copy(SPOT / name, d / name)
    before = (d / "spot_texture.png").read_bytes()
    _fails(["transfer", str(d / "spot.obj"), str(d / "spot_posed.obj"), "--out", str(d)], capsys, "overwrite")
    assert (d / "spot_texture.png").read_bytes() == before
    assert sorted(p.name for p in d.iterdir()) == ["spot.mtl", "spot.obj", "spot_posed.obj", "spot_texture.png"]


# ----------------------------------------------------------------------------- --what deformation
def _rigid_residual(X, Y) -> float:
    """Mean distance between X and Y after the best rotation and translation of X onto Y."""
    from shapecorr.deform.transfer import best_rotation

    R = best_rotation(X, Y)
    return float(np.linalg.norm((X - X.mean(0)) @ R.T - (Y - Y.mean(0)), axis=1).mean())


def _turned(vertices):
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec([0.3, 0.5, 0.1]).as_matrix()
    return vertices @ R.T + [0.1, 0.0, 0.0], R


def test_deformation_same_mesh(texture_run, tmp_path):
    """SOURCE_DEFORMED with SOURCE's mesh: taken as it is; no change gives TARGET back exactly, a
    rigid motion moves TARGET rigidly. DIR/<target name>_deformed.ply in TARGET's vertex order."""
    from helpers import write_off

    rc, out = texture_run
    assert rc == 0
    spot, posed = load(SPOT / "spot.obj"), load(SPOT / "spot_posed.obj")
    same = write_off(tmp_path / "spot_same.off", spot.vertices, spot.faces)
    base = ["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--what", "deformation",
            "--map", str(out / "match"), "--method", "spectral", "--quiet"]
    assert main(base + ["--deformed", str(same), "--out", str(tmp_path / "same"), "--no-preview"]) == 0
    result = load(tmp_path / "same" / "spot_posed_deformed.ply")
    assert result.n_vertices == posed.n_vertices and np.array_equal(result.faces, posed.faces)
    assert np.allclose(result.vertices, posed.vertices, atol=1e-5)
    moved, _ = _turned(spot.vertices)
    turned = write_off(tmp_path / "spot_turned.off", moved, spot.faces)
    assert main(base + ["--deformed", str(turned), "--out", str(tmp_path / "turned")]) == 0
    result = load(tmp_path / "turned" / "spot_posed_deformed.ply")
    assert _rigid_residual(result.vertices, posed.vertices) < 1e-4 * np.sqrt(posed.area)
    assert np.abs(result.vertices - posed.vertices).max() > 0.1  # it did move
    report = json.loads((tmp_path / "turned" / "report.json").read_text())
    assert report["what"] == "deformation" and report["deformed_map"]["kind"].startswith("identity")
    assert sorted(report["outputs"]) == ["preview.png", "report.json", "spot_posed_deformed.ply"]
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "turned" / "preview.png"))
    assert img.shape[1] > 2 * img.shape[0]  # four panels: target before/after, source before/after


def test_deformation_from_another_meshing(texture_run, tmp_path):
    """SOURCE_DEFORMED meshed differently (vertices renumbered, faces reordered): it is matched to
    SOURCE first; a rigid motion of it still moves TARGET (almost) rigidly. The default --method
    for deformation (register) puts the points on the surfaces."""
    from helpers import permuted_copy, write_off

    rc, out = texture_run
    assert rc == 0
    spot, posed = load(SPOT / "spot.obj"), load(SPOT / "spot_posed.obj")
    moved, _ = _turned(spot.vertices)
    other, _ = permuted_copy(spot.copy(vertices=moved, uv=None, face_uv=None, texture=None), seed=2)
    path = write_off(tmp_path / "spot_turned_remeshed.off", other.vertices, other.faces)
    d = tmp_path / "o"
    assert main(["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--what", "deformation",
                 "--deformed", str(path), "--map", str(out / "match"), "--preset", "fast",
                 "--out", str(d), "--quiet", "--no-preview"]) == 0
    result = load(d / "spot_posed_deformed.ply")
    assert result.n_vertices == posed.n_vertices
    assert _rigid_residual(result.vertices, posed.vertices) < 0.01 * np.sqrt(posed.area)
    report = json.loads((d / "report.json").read_text())
    assert report["deformed_map"]["kind"] == "matched" and (d / "deformed_match" / "match.json").exists()
    assert report["method"] == "register" and report["deformed_map"]["method"] == "register"


@pytest.mark.parametrize("value", ["50", "many", "-1"])
def test_register_proxy_size_is_checked(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["transfer", str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj"), "--out", str(tmp_path / "o"),
              "--register-proxy-size", value])
    assert exc.value.code == 2
    assert "--register-proxy-size" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_deformation_argument_errors(tmp_path, capsys):
    src, tgt = str(SPOT / "spot.obj"), str(SPOT / "spot_posed.obj")
    out = str(tmp_path / "o")
    _fails(["transfer", src, tgt, "--what", "deformation", "--out", out], capsys, "--deformed")
    _fails(["transfer", src, tgt, "--deformed", src, "--out", out], capsys, "--deformed", "--what deformation")
    _fails(["transfer", src, tgt, "--what", "deformation", "--deformed", str(tmp_path / "nope.off"), "--out", out],
           capsys, "nope.off", "no such file")
    np.savetxt(tmp_path / "cloud.xyz", load(src).vertices)
    _fails(["transfer", src, tgt, "--what", "deformation", "--deformed", str(tmp_path / "cloud.xyz"), "--out", out],
           capsys, "cloud.xyz", "point cloud")
    assert not (tmp_path / "o").exists()
