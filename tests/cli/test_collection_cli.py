"""``shapecorr collection`` and ``shapecorr collection-map``: outputs, composition equal to the
files, and errors as one line with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import bumpy, inverse_permutation, permuted_copy, write_off

import shapecorr
from shapecorr.cli import main

PRESET = "init: axiomatic\nk_init: 20\nk_final: 30\n"  # small sizes for 162-vertex shapes


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_coll")
    shapecorr.set_cache_dir(root / "cache")
    shapes = root / "shapes"
    shapes.mkdir()
    perms = {}
    for i in range(4):
        copy, perm = permuted_copy(bumpy(2), 30 + i, rigid=True)
        write_off(shapes / f"body{i}.off", copy.vertices, copy.faces)
        perms[f"body{i}"] = perm
    (root / "small.yaml").write_text(PRESET)
    out = root / "out"
    rc = main(["collection", str(shapes), "--out", str(out), "--preset", str(root / "small.yaml"),
               "--template", "body2", "--engine", "local", "--quiet"])
    return root, out, perms, rc


def read_map(path) -> np.ndarray:
    return np.loadtxt(path, dtype=np.int64)


def test_collection_writes_the_contract_files(cli_run, capsys):
    _, out, perms, rc = cli_run
    assert rc == 0
    assert (out / "template.txt").read_text().splitlines()[0] == "body2"
    for name in perms:
        assert len(read_map(out / "maps" / f"{name}_to_template.txt")) == 162
        assert len(read_map(out / "maps" / f"template_to_{name}.txt")) == 162
        np.testing.assert_array_equal(read_map(out / "maps" / f"{name}_to_template.txt"),
                                      inverse_permutation(perms["body2"])[perms[name]])
    report = json.loads((out / "report.json").read_text())
    assert report["template_chosen"] == "given" and report["failures"] == []
    assert (out / "gallery.png").exists()


def test_collection_map_equals_composing_the_files(cli_run, tmp_path, capsys):
    _, out, perms, _ = cli_run
    pair = tmp_path / "pair"
    assert main(["collection-map", str(out), "body0", "body3", "--out", str(pair)]) == 0
    a_to_t = read_map(out / "maps" / "body0_to_template.txt")
    t_to_b = read_map(out / "maps" / "template_to_body3.txt")
    b_to_t = read_map(out / "maps" / "body3_to_template.txt")
    t_to_a = read_map(out / "maps" / "template_to_body0.txt")
    np.testing.assert_array_equal(read_map(pair / "source_to_target.txt"), t_to_b[a_to_t])
    np.testing.assert_array_equal(read_map(pair / "target_to_source.txt"), t_to_a[b_to_t])
    np.testing.assert_array_equal(read_map(pair / "source_to_target.txt"),
                                  inverse_permutation(perms["body3"])[perms["body0"]])
    info = json.loads((pair / "map.json").read_text())
    assert info["template"] == "body2" and info["source"] == "body0"
    assert (pair / "correspondence.png").exists()
    assert "body0 -> body3" in capsys.readouterr().out


def test_collection_map_via_latent_space_and_refined(cli_run, tmp_path, capsys):
    _, out, perms, _ = cli_run
    truth = inverse_permutation(perms["body3"])[perms["body0"]]
    for extra, via in (([], "latent"), (["--via", "template", "--refine"], "template"),
                       (["--via", "latent", "--refine"], "latent")):
        pair = tmp_path / f"pair_{via}_{len(extra)}"
        assert main(["collection-map", str(out), "body0", "body3", "--out", str(pair), "--no-picture", *extra]) == 0
        np.testing.assert_array_equal(read_map(pair / "source_to_target.txt"), truth)
        info = json.loads((pair / "map.json").read_text())
        assert info["via"] == via and info["refined"] == ("--refine" in extra)
    assert "ZoomOut steps of the pair" in capsys.readouterr().out


def test_errors_are_one_line_with_status_2(cli_run, tmp_path, capsys):
    root, out, _, _ = cli_run
    capsys.readouterr()
    assert main(["collection-map", str(out), "body0", "nobody", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no map for 'nobody'" in err[0]
    assert not (tmp_path / "p").exists()
    assert main(["collection", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["collection", str(root / "shapes"), "--out", str(root / "shapes" / "o"), "--engine", "local",
                 "--preset", str(root / "small.yaml"), "--quiet"]) == 2
    assert "never written" in capsys.readouterr().err
    assert main(["collection-map", str(tmp_path), "a", "b", "--out", str(tmp_path / "q")]) == 2
    assert "not a collection output" in capsys.readouterr().err
    assert main(["collection", str(root / "shapes"), "--out", str(tmp_path / "o"), "--engine", "local",
                 "--address", "auto"]) == 2
