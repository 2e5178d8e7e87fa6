"""scripts/remesh_dataset.py and scripts/bench_generalize.py: their pieces on small generated
shapes (the benchmark data in ../shared is not needed)."""

import json

import numpy as np
import pytest

from helpers import load_script

from .conftest import ellipsoid, write_off, write_vts


@pytest.fixture(scope="module")
def remesh():
    return load_script("remesh_dataset")


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_generalize")


def test_stretch_is_a_scaling_along_one_direction(remesh):
    d = np.array([1.0, 2.0, 2.0]) / 3.0
    S = remesh.stretch_matrix(d * 5, 3.0)
    assert np.allclose(S @ d, 3.0 * d)
    across = np.cross(d, [0.0, 0.0, 1.0])
    assert np.allclose(S @ across, across)
    assert remesh.edge_length_for(np.sqrt(3.0) / 4 * 2 * 100, 100) == pytest.approx(1.0)


def test_ground_truth_goes_to_the_nearest_new_vertex(remesh):
    new = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    idx, dist = remesh.transport_ground_truth(np.array([[0.9, 0.1, 0], [0.1, 0.2, 0]]), new)
    assert idx.tolist() == [1, 0] and dist == pytest.approx([np.sqrt(0.02), np.sqrt(0.05)])


def test_remesh_dataset_end_to_end(remesh, tmp_path):
    """Two ellipsoids remeshed to new, different connectivity within the asked range; the
    transported ground truth stays on the same points (within the new mesh's spacing), the
    mirrored one too, and the point-cloud set keeps the original vertices and ground truth."""
    pytest.importorskip("pymeshlab")
    pytest.importorskip("fast_simplification")
    from shapecorr import load

    src = tmp_path / "src"
    (src / "corres").mkdir(parents=True)
    v, f, mirror = ellipsoid(24, 32)
    gt = np.arange(0, len(v), 3)
    for name, bend in (("ell_a", 0.0), ("ell_b", 0.2)):
        vv = v.copy()
        vv[:, 1] += bend * vv[:, 2] ** 2
        write_off(src / f"{name}.off", vv, f)
        write_vts(src / "corres" / f"{name}.vts", gt)
        write_vts(src / "corres" / f"{name}.sym.vts", mirror[gt])
    out, pc = tmp_path / "remeshed", tmp_path / "pc"
    assert remesh.main([str(src), "--out", str(out), "--names", "ell_a", "ell_b", "--min-vertices", "300",
                        "--max-vertices", "1200", "--point-clouds", str(pc)]) == 0
    meta = json.loads((out / "remesh.json").read_text())
    assert [r["name"] for r in meta["shapes"]] == ["ell_a", "ell_b"]
    for r in meta["shapes"]:
        new = load(out / f"{r['name']}.off", warn=False)
        assert new.is_mesh and 0.7 * r["n_target"] <= new.n_vertices <= 1.3 * r["n_target"]
        assert 300 * 0.7 <= new.n_vertices <= 1200 * 1.3 and new.n_vertices != len(v)
        old = load(src / f"{r['name']}.off", warn=False)
        spacing = np.sqrt(new.area / new.n_vertices)
        for sym, idx_old in (("", gt), (".sym", mirror[gt])):
            idx = np.loadtxt(out / "corres" / f"{r['name']}{sym}.vts", dtype=np.int64) - 1
            assert len(idx) == len(gt)
            assert np.linalg.norm(new.vertices[idx] - old.vertices[idx_old], axis=1).max() < 2 * spacing
    assert (out / "test_pairs.txt").read_text() == "ell_a\tell_b\n"
    cloud = load(pc / "ell_a.ply", warn=False)
    assert not cloud.is_mesh and np.allclose(cloud.vertices, v, atol=1e-5)
    assert (pc / "corres" / "ell_a.vts").read_text() == (src / "corres" / "ell_a.vts").read_text()


def test_proportions_change_lengths_not_the_vertex_order(remesh, tmp_path):
    """``change_proportions`` keeps the vertex order and the faces (ground truth still applies)
    but is not isometric: edges change length non-uniformly, more with a larger amount, and
    reproducibly for a seed; ``--proportions`` outside (0, 0.5] is refused."""
    v, f, _ = ellipsoid(24, 32)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])

    def spread(x):
        ratio = np.linalg.norm(x[edges[:, 0]] - x[edges[:, 1]], axis=1) / np.linalg.norm(
            v[edges[:, 0]] - v[edges[:, 1]], axis=1)
        return float(np.std(np.log(ratio)))

    a = remesh.change_proportions(v, f, np.random.default_rng(3), 0.4)
    b = remesh.change_proportions(v, f, np.random.default_rng(3), 0.4)
    small = remesh.change_proportions(v, f, np.random.default_rng(3), 0.05)
    assert a.shape == v.shape and np.array_equal(a, b)
    assert spread(a) > 0.05 and spread(a) > 3 * spread(small)
    for bad in ("0", "0.7"):
        with pytest.raises(SystemExit):
            remesh.main([str(tmp_path), "--out", str(tmp_path / "o"), "--proportions", bad])


def test_pairs_from_a_split_join_only_named_shapes(remesh, tmp_path):
    """``--pairs-from-split``: the source's test pairs between two remeshed shapes, in the split's
    order (TOSCA_r's within-class pairs); without it every pair of the names."""
    split = [("cat1", "cat3"), ("cat0", "cat1"), ("dog1", "dog3"), ("cat3", "cat5")]
    remesh.write_pairs(tmp_path / "a.txt", ["cat1", "cat3", "cat5", "dog1"], split)
    assert (tmp_path / "a.txt").read_text() == "cat1\tcat3\ncat3\tcat5\n"
    remesh.write_pairs(tmp_path / "b.txt", ["cat1", "cat3", "dog1"])
    assert (tmp_path / "b.txt").read_text() == "cat1\tcat3\ncat1\tdog1\ncat3\tdog1\n"


def test_unseen_tosca_shapes_are_odd_numbered_or_horses(bench):
    """The remeshed TOSCA_r set holds only shapes no bundled model was trained on."""
    names = bench.TOSCA_UNSEEN
    assert len(names) == len(set(names)) == 40
    for n in names:
        klass, number = n.rstrip("0123456789"), int(n[len(n.rstrip("0123456789")):])
        assert klass == "horse" or number % 2 == 1
    assert bench.BenchSet("toscaremeshed", None, []).klass("victoria17") == "victoria"


def test_bench_pieces(bench, tmp_path):
    """Per-class limits, model keys that change with the file's content, targets, and rows that
    survive an interrupted write."""
    pairs = [("cat0", "cat1"), ("cat0", "cat2"), ("dog0", "dog1"), ("cat1", "cat2")]
    bs = bench.BenchSet("tosca", None, [])
    assert bench.limit_per_class(pairs, 1, bs.klass) == [("cat0", "cat1"), ("dog0", "dog1")]
    assert bench.limit_per_class(pairs, None, bs.klass) == pairs
    assert bench.model_key(None)[0] == "preset-models" and bench.model_key("faust_r_wks") == ("faust_r_wks",) * 2
    model = tmp_path / "m.npz"
    model.write_bytes(b"one")
    k1 = bench.model_key(str(model))
    model.write_bytes(b"two")
    assert k1[1] == bench.model_key(str(model))[1] == "m" and k1[0] != bench.model_key(str(model))[0]
    s = {"mean": 2.0, "n_above_5": 1, "share_above_5": 0.04}
    assert bench.target_text("tosca", s) == "met" and bench.target_text("remeshed", s) == "not met"
    assert bench.target_text("pc", s) == "met" and bench.target_text("catlion", s) == "–"
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"set": "faust", "method": "m", "source": "a", "target": "b"}) + "\n{\"set\": ")
    assert [bench.row_key(r) for r in bench.read_rows(rows)] == [("faust", "m", "a", "b")]


def test_point_cloud_sets_give_the_matcher_point_clouds_of_the_vertices(bench):
    """``pc``: both shapes as point clouds of their vertices (same order: the ground truth holds);
    ``meshpc``: the source stays a mesh, the target is a point cloud."""
    from shapecorr import Shape

    v, f, _ = ellipsoid()
    mesh = Shape(v, f, name="ell")
    assert bench.as_input(mesh, "mesh") is mesh
    assert bench.as_input(mesh, "mesh_point_cloud") is mesh
    for kind, target in (("point_cloud", False), ("point_cloud", True), ("mesh_point_cloud", True)):
        cloud = bench.as_input(mesh, kind, target=target)
        assert cloud.faces is None
        np.testing.assert_array_equal(cloud.vertices, mesh.vertices)


def test_an_extremity_is_cut_off_at_one_end_of_the_shape(remesh):
    """``cut_extremity`` removes one connected patch grown from one of ``extremity_tips`` (the
    ends of the shape), of about the share of faces asked for, and keeps the other vertices in
    order; the tips of a capsule are its two ends."""
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse import coo_matrix

    from shapecorr.core.shape import Shape

    import trimesh

    capsule = trimesh.creation.capsule(height=5.0, radius=0.5, count=[32, 32])  # along z, from -3 to 3
    v, f = trimesh.remesh.subdivide_to_size(capsule.vertices, capsule.faces, max_edge=0.2)
    mesh = trimesh.Trimesh(v, f)  # merges the split edges' vertices: paths along edges follow the surface
    v, f = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces)
    tips = remesh.extremity_tips(v, f, n_tips=2)
    assert sorted(np.sign(v[tips, 2])) == [-1, 1] and np.all(np.abs(v[tips, 2]) > 2.5)
    v2, f2, new = remesh.cut_extremity(v, f, np.random.default_rng(0), share=(0.1, 0.1))
    gone = new < 0
    assert 0.05 < gone.mean() < 0.15 and np.array_equal(v2, v[~gone])
    assert np.array_equal(v2[new[f[(~gone[f]).all(1)]]], v[f[(~gone[f]).all(1)]])
    assert np.ptp(np.sign(v[gone, 2])) == 0 and np.abs(v[gone, 2]).max() > 2.5  # one end, from its tip
    e = np.concatenate([f[:, :2], f[:, 1:]])
    e = e[gone[e[:, 0]] & gone[e[:, 1]]]
    n = len(v)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    labels = connected_components(graph, directed=False)[1][gone]
    assert len(np.unique(labels)) == 1  # one connected patch
    assert Shape(v2, f2).n_vertices == (~gone).sum()
