"""End to end: a folder of permuted copies of one shape (exact answers), in this process and on Ray."""

from __future__ import annotations

import dataclasses

import json
import shutil

import numpy as np
import pytest
from helpers import bumpy, inverse_permutation, permuted_copy, write_off

import shapecorr
from shapecorr.collection import (
    CollectionError,
    CollectionFolder,
    CollectionSettings,
    collection,
    compose,
    compose_latent,
    pair_maps,
    ray_available,
)

MATCH = dict(preset="axiomatic", k_final=30, k_init=20)  # small sizes for 162-vertex shapes
SETTINGS = CollectionSettings(k_init=10, step=10, samples=None, gallery_shapes=4)


def make_folder(folder, n: int = 5, seed: int = 0) -> dict:
    """``n`` permuted, moved copies of one shape (``s0``..) plus a broken file and a note;
    returns each copy's permutation (vertex j of the copy is vertex perm[j] of the original)."""
    folder.mkdir(parents=True, exist_ok=True)
    shape = bumpy(2)
    perms = {}
    for i in range(n):
        copy, perm = permuted_copy(shape, seed + i, rigid=True)
        write_off(folder / f"s{i}.off", copy.vertices, copy.faces)
        perms[f"s{i}"] = perm
    (folder / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    (folder / "notes.txt").write_text("not a shape\n")
    return perms


def truth_to(perms, a: str, b: str) -> np.ndarray:
    """Vertex of b for each vertex of a."""
    return inverse_permutation(perms[b])[perms[a]]


def snapshot(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    root = tmp_path_factory.mktemp("coll")
    shapecorr.set_cache_dir(root / "cache")
    perms = make_folder(root / "shapes")
    before = snapshot(root / "shapes")
    res = collection(root / "shapes", out=root / "out", engine="local", settings=SETTINGS, **MATCH)
    return root, perms, res, before


def test_layout_and_line_counts(done):
    root, perms, res, before = done
    out = root / "out"
    assert (out / "template.txt").read_text().splitlines()[0] == res.template
    assert sorted(res.names) == sorted(perms)
    n_template = 162
    for name in perms:
        assert len((out / "maps" / f"{name}_to_template.txt").read_text().splitlines()) == 162
        assert len((out / "maps" / f"template_to_{name}.txt").read_text().splitlines()) == n_template
        conf = json.loads((out / "maps" / f"{name}_confidence.json").read_text())
        assert 0.0 <= conf["confidence"] <= 1.0 and "direct_confidence" in conf
    report = json.loads((out / "report.json").read_text())
    for stage in ("prepare", "template", "match", "neighbours", "consistency", "maps", "gallery", "total"):
        assert stage in report["timings_s"]
    assert report["shapes"]["done"] == 5 and report["engine"]["name"] == "in-process"
    # one task per file (the broken one too), per shape matched, per neighbour pair
    assert report["tasks"]["prepare"] == 6 and report["tasks"]["match"] == 5
    assert report["tasks"]["neighbours"] == report["consistency"]["neighbour_edges"]
    assert (out / "gallery.png").stat().st_size > 1000
    assert snapshot(root / "shapes") == before  # nothing written into the user's folder


def test_broken_file_is_reported_and_the_rest_completes(done):
    _, _, res, _ = done
    assert [f["name"] for f in res.failures] == ["broken"]
    assert res.failures[0]["stage"] == "prepare" and "ShapeParseError" in res.failures[0]["error"]
    assert "broken" not in res.names


def test_maps_are_exact_and_compose(done):
    root, perms, res, _ = done
    T = res.template
    for name in perms:
        np.testing.assert_array_equal(res.to_template(name), truth_to(perms, name, T))
        np.testing.assert_array_equal(res.from_template(name), truth_to(perms, T, name))
    p2p_ab, p2p_ba = compose(root / "out", "s1", "s3")
    np.testing.assert_array_equal(p2p_ab, truth_to(perms, "s1", "s3"))
    np.testing.assert_array_equal(p2p_ba, truth_to(perms, "s3", "s1"))
    c = res.report["consistency"]
    assert c["joint_refinement"] and c["neighbour_edges"] > 0
    assert c["roundtrip_after"] == 0.0 and c["triangle_after"] == 0.0  # cycles close


def test_pairs_through_the_latent_space_and_refined_are_exact(done):
    root, perms, res, _ = done
    f = CollectionFolder(root / "out")
    assert f.has_latent(*perms)
    assert f.latent(res.template).shape == (162, 30)  # the template's own basis at the final size
    for a, b in (("s1", "s3"), ("s4", "s0"), ("s2", res.template)):
        p2p_ab, p2p_ba = compose_latent(f, a, b)
        np.testing.assert_array_equal(p2p_ab, truth_to(perms, a, b))
        np.testing.assert_array_equal(p2p_ba, truth_to(perms, b, a))
        m = pair_maps(f, a, b, refine=True)
        assert m.via == "latent" and m.refined
        np.testing.assert_array_equal(m.p2p_ab, truth_to(perms, a, b))
        np.testing.assert_array_equal(m.p2p_ba, truth_to(perms, b, a))
        np.testing.assert_array_equal(pair_maps(f, a, b, via="template").p2p_ab, compose(f, a, b)[0])
    np.testing.assert_array_equal(res.map("s1", "s3", via="template", refine=True), truth_to(perms, "s1", "s3"))
    with pytest.raises(ValueError, match="via="):
        pair_maps(f, "s1", "s3", via="direct")


def test_without_the_joint_refinement_no_stale_latent_space_is_used(tmp_path):
    perms = make_folder(tmp_path / "shapes", n=4)
    collection(tmp_path / "shapes", out=tmp_path / "out", engine="local", settings=SETTINGS, **MATCH)
    f = CollectionFolder(tmp_path / "out")
    assert f.has_latent(*perms)
    settings = CollectionSettings(consistent=False, gallery=False, k_init=10, step=10, samples=None)
    res = collection(tmp_path / "shapes", out=tmp_path / "out", engine="local", settings=settings, **MATCH)
    assert not res.report["consistency"]["joint_refinement"]
    assert not any(f.has_latent(n) for n in perms)
    m = pair_maps(f, "s0", "s2")
    assert m.via == "template" and not m.refined
    np.testing.assert_array_equal(m.p2p_ab, truth_to(perms, "s0", "s2"))
    with pytest.raises(shapecorr.core.MatchFileError, match="no latent embedding"):
        compose_latent(f, "s0", "s2")


def test_rerun_resumes_without_recomputing(done, monkeypatch):
    root, perms, _, _ = done
    from shapecorr.collection import work

    calls = []

    def counting_match(a, b, *args, **kwargs):
        calls.append((str(a), str(b)))
        return real_match(a, b, *args, **kwargs)

    real_match = work.match
    monkeypatch.setattr(work, "match", counting_match)
    gallery = (root / "out" / "gallery.png").read_bytes()
    # another up axis for the pictures: the gallery is drawn again, nothing else is computed
    turned = dataclasses.replace(SETTINGS, gallery_up="z")
    res = collection(root / "shapes", out=root / "out", engine="local", settings=turned, **MATCH)
    assert calls == []
    reused = res.report["shapes"]["reused"]
    assert reused["prepared_reused"] == 5 and reused["matched_reused"] == 5 and reused["consistency_reused"]
    assert (root / "out" / "gallery.png").read_bytes() != gallery
    # one more shape: only it is matched (to the template, and to its neighbours)
    shape = bumpy(2)
    copy, perm = permuted_copy(shape, 11, rigid=True)
    extra = root / "shapes2"
    shutil.copytree(root / "shapes", extra)
    write_off(extra / "s9.off", copy.vertices, copy.faces)
    res = collection(extra, out=root / "out", engine="local", settings=SETTINGS, **MATCH)
    assert calls and all("s9" in a or "s9" in b for a, b in calls)
    assert res.report["shapes"]["reused"]["matched_reused"] == 5
    np.testing.assert_array_equal(res.to_template("s9"), inverse_permutation(perms[res.template])[perm])


def test_output_inside_the_input_folder_is_refused(tmp_path):
    make_folder(tmp_path / "shapes", n=2)
    with pytest.raises(CollectionError, match="never written"):
        collection(tmp_path / "shapes", out=tmp_path / "shapes" / "out", engine="local", **MATCH)
    with pytest.raises(CollectionError, match="no such file or folder"):
        collection(tmp_path / "missing", out=tmp_path / "o", engine="local", **MATCH)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CollectionError, match="no shape files"):
        collection(tmp_path / "empty", out=tmp_path / "o", engine="local", **MATCH)


def test_given_template_and_python_entry_point(tmp_path):
    perms = make_folder(tmp_path / "shapes", n=3)
    res = shapecorr.collection(sorted((tmp_path / "shapes").glob("s*.off")), template="s2", out=tmp_path / "out",
                               engine="local", settings=CollectionSettings(neighbours=0, gallery=False), **MATCH)
    assert res.template == "s2" and res.report["template_chosen"] == "given"
    assert not res.report["consistency"]["joint_refinement"]  # no neighbours: the direct maps
    np.testing.assert_array_equal(res.map("s0", "s1"), truth_to(perms, "s0", "s1"))
    with pytest.raises(CollectionError, match="not a shape of the collection"):
        collection(tmp_path / "shapes", template="nope", out=tmp_path / "out2", engine="local", **MATCH)


def _die_once(marker: str) -> str:
    """A task whose first attempt kills its worker process (a crashed or preempted node)."""
    import os
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text("the first attempt died here\n")
        os._exit(1)
    return "retried"


@pytest.mark.skipif(not ray_available(), reason="ray is not installed (extra 'collection')")
def test_six_shapes_on_a_local_ray(tmp_path, monkeypatch):
    """The CI check on Ray (one local Ray for both parts): a worker killed mid-task is retried;
    6 permuted copies give exact maps and closed cycles; with the calls in batches of several
    per task, the maps, latent files and figures are those of the in-process engine."""
    import sys

    from ray import cloudpickle

    from shapecorr.collection import RayExecutor
    from shapecorr.collection.engine import Batching
    from shapecorr.core import cache

    monkeypatch.setattr(cache, "_override", cache._override)  # restored after the test
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import the tests
    ex = RayExecutor(num_cpus=2)
    # the first call of a stage alone on each worker, then batches of up to total / 2 (6 shapes: 3)
    batching = Batching(target_s=1e9, tasks_per_worker=1, probes=1)
    try:
        assert ex.get(ex.call(_die_once, str(tmp_path / "died.txt"))) == "retried"
        assert (tmp_path / "died.txt").exists()
        perms = make_folder(tmp_path / "shapes", n=6, seed=20)
        shapecorr.set_cache_dir(tmp_path / "cache_ray")
        res = collection(tmp_path / "shapes", out=tmp_path / "out", engine="ray", settings=SETTINGS,
                         batching=batching, **MATCH)
    finally:
        ex.close()
    assert res.report["engine"]["name"] == "ray"
    assert [f["name"] for f in res.failures] == ["broken"]
    T = res.template
    for name in perms:
        np.testing.assert_array_equal(res.to_template(name), truth_to(perms, name, T))
    np.testing.assert_array_equal(res.map("s0", "s5"), truth_to(perms, "s0", "s5"))
    assert res.report["consistency"]["roundtrip_after"] == 0.0
    tasks, calls = res.report["tasks"], res.report["task_calls"]
    assert calls["prepare"] == 7 and tasks["prepare"] < 7  # 6 shapes and the broken file, batched
    assert calls["consistency"] > tasks["consistency"]
    shapecorr.set_cache_dir(tmp_path / "cache_local")  # computed again, not read from Ray's cache
    local = collection(tmp_path / "shapes", out=tmp_path / "out_local", engine="local", settings=SETTINGS, **MATCH)
    a, b = tmp_path / "out", tmp_path / "out_local"
    files = sorted(p.relative_to(a) for p in (a / "maps").glob("*.txt"))
    assert len(files) == 12 and files == sorted(p.relative_to(b) for p in (b / "maps").glob("*.txt"))
    assert all((a / p).read_bytes() == (b / p).read_bytes() for p in files)
    for name in perms:
        np.testing.assert_array_equal(np.load(a / "latent" / f"{name}.npy"), np.load(b / "latent" / f"{name}.npy"))
    assert res.report["consistency"] == local.report["consistency"]


def test_the_result_holds_no_maps_and_the_files_equal_the_refinement_in_memory(done):
    """The driver streams: the result keeps names, not arrays, and reads each map from disk when
    asked; the files are the maps the joint refinement gives in memory (latent matrices of
    work/latent.npz, bases of work/bases)."""
    from shapecorr.collection import consistency as cons
    from shapecorr.collection.store import read_npz
    from shapecorr.collection.work import load_basis

    root, perms, res, _ = done
    assert not [k for k, v in vars(res).items() if isinstance(v, np.ndarray)]
    f = CollectionFolder(root / "out")
    assert not list((f.work / "sync").glob("*"))  # the joint refinement's files are gone once it is done
    latent = read_npz(f.work / "latent.npz")
    A = dict(zip(latent["names"].tolist(), latent["A"]))
    BT = load_basis(str(f.basis_path(res.template)))
    assert BT.evecs.dtype == np.float32 and BT.k == 30  # cut to k_final
    for name in perms:
        if name == res.template:
            continue
        to_t, from_t = cons.final_maps(load_basis(str(f.basis_path(name))), BT, A[name].astype(np.float64))
        np.testing.assert_array_equal(res.to_template(name), to_t)
        np.testing.assert_array_equal(res.from_template(name), from_t)
        # the embedding written for pairwise maps is the same latent matrix on the same basis
        np.testing.assert_allclose(f.latent(name), cons.embedding(load_basis(str(f.basis_path(name))), A[name]),
                                   atol=1e-5)


def test_the_driver_holds_a_bounded_number_of_bases(tmp_path, monkeypatch):
    """More shapes than the workers' basis memory: at no stage are more bases alive than that
    memory (the driver itself holds none; the old driver held one per shape)."""
    import gc
    import weakref

    from shapecorr.collection import run as run_mod
    from shapecorr.collection import work

    monkeypatch.setattr(work, "BASIS_MEMORY", 2)
    work._bases.clear()
    alive: list = []
    real_load = work.load_basis

    def tracked(path):
        B = real_load(path)
        alive.append(weakref.ref(B))
        return B

    monkeypatch.setattr(work, "load_basis", tracked)
    counts = []
    real_stage = run_mod._Run._stage

    def stage(self, name, t0):
        real_stage(self, name, t0)
        gc.collect()
        counts.append((name, len({id(r()) for r in alive if r() is not None})))

    monkeypatch.setattr(run_mod._Run, "_stage", stage)
    perms = make_folder(tmp_path / "shapes", n=6, seed=40)
    res = collection(tmp_path / "shapes", out=tmp_path / "out", engine="local",
                     settings=CollectionSettings(k_init=10, step=10, samples=None, gallery=False), **MATCH)
    assert len(alive) > 6 and max(c for _, c in counts) <= 2
    for name in perms:
        np.testing.assert_array_equal(res.to_template(name), truth_to(perms, name, res.template))


def test_learned_settings_guide_the_final_maps_and_keep_them_exact(tmp_path):
    """With the default preset's learned features, the final maps read off the latent space
    get the guided ZoomOut steps (recorded per shape), on permuted copies they stay exact, and
    a pair's map composes them by default; without ``guided_final`` they do not get them and
    the latent space is the default."""
    shapecorr.set_cache_dir(tmp_path / "cache")
    perms = make_folder(tmp_path / "shapes", n=3, seed=7)
    learned = dict(preset="default", k_final=30, k_init=20)
    res = collection(tmp_path / "shapes", out=tmp_path / "out", engine="local", settings=SETTINGS, **learned)
    assert res.report["consistency"]["joint_refinement"]
    T = res.template
    for name in perms:
        np.testing.assert_array_equal(res.to_template(name), truth_to(perms, name, T))
        np.testing.assert_array_equal(res.from_template(name), truth_to(perms, T, name))
        conf = json.loads((tmp_path / "out" / "maps" / f"{name}_confidence.json").read_text())
        assert conf.get("guided", False) == (name != T)
    a, b = sorted(perms)[:2]
    m = pair_maps(tmp_path / "out", a, b)  # auto: the guided map files, composed
    assert m.via == "template"
    np.testing.assert_array_equal(m.p2p_ab, truth_to(perms, a, b))
    plain = CollectionSettings(k_init=10, step=10, samples=None, gallery_shapes=4, guided_final=False)
    res = collection(tmp_path / "shapes", out=tmp_path / "out2", engine="local", settings=plain, **learned)
    for name in perms:
        conf = json.loads((tmp_path / "out2" / "maps" / f"{name}_confidence.json").read_text())
        assert not conf.get("guided", False)
        np.testing.assert_array_equal(res.to_template(name), truth_to(perms, name, res.template))
    assert pair_maps(tmp_path / "out2", a, b).via == "latent"  # auto without guided files


def test_a_shape_the_matcher_registered_gets_registered_final_maps(tmp_path):
    """Where the direct match was read off a registration (forced here: register_below above any
    confidence), the final maps read off the latent space are registered too, kept, and stay
    exact on permuted copies; with ``register_final`` off they are not."""
    shapecorr.set_cache_dir(tmp_path / "cache")
    perms = make_folder(tmp_path / "shapes", n=3, seed=7)
    learned = dict(preset="default", k_final=30, k_init=20, register_below=1.01)
    res = collection(tmp_path / "shapes", out=tmp_path / "out", engine="local", settings=SETTINGS, **learned)
    T = res.template
    for name in perms:
        conf = json.loads((tmp_path / "out" / "maps" / f"{name}_confidence.json").read_text())
        if name == T:
            assert "registration" not in conf
            continue
        r = conf["registration"]
        assert r["kept"] and r["fit"] < 1e-3 and r["confidence_after"] == conf["confidence"]
        np.testing.assert_array_equal(res.to_template(name), truth_to(perms, name, T))
        np.testing.assert_array_equal(res.from_template(name), truth_to(perms, T, name))
    a, b = sorted(n for n in perms if n != T)[:2]
    m = pair_maps(tmp_path / "out", a, b, refine=True)  # refined, then registered as the files were
    assert m.refined and m.registered
    np.testing.assert_array_equal(m.p2p_ab, truth_to(perms, a, b))
    np.testing.assert_array_equal(m.p2p_ba, truth_to(perms, b, a))
    off = CollectionSettings(k_init=10, step=10, samples=None, gallery_shapes=4, register_final=False)
    collection(tmp_path / "shapes", out=tmp_path / "out2", engine="local", settings=off, **learned)
    for name in perms:
        assert "registration" not in json.loads((tmp_path / "out2" / "maps" / f"{name}_confidence.json").read_text())
    assert not pair_maps(tmp_path / "out2", a, b, refine=True).registered
