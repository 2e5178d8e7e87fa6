"""Registration: a shape deformed onto a bent, vertex-permuted copy of itself recovers the
permutation exactly, from a vertex map with many wrong entries; the precise map of
``precise_map(method="register")``; settings and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.core.errors import SettingsError, ShapeError
from shapecorr.deform.arap import cell_energy, identity_rotations
from shapecorr.fmap.surface import project_on_surface
from shapecorr.deform.registration import (
    RegisterSettings,
    _area_scale,
    cell_misfits,
    register,
    robust_cell_weights,
    round_trips,
    similarity_transform,
)

from helpers import ellipsoid, grid, inverse_permutation, permuted_copy, vertex_adjacency


def bent(shape: Shape, angle: float = 40.0, width: float = 0.6) -> Shape:
    """Bend a shape lying along z like a joint: the upper half turns by ``angle`` about the y axis
    through the middle, blended smoothly over the middle ``width`` of its length (near isometric)."""
    v = shape.vertices
    z0, z1 = v[:, 2].min(), v[:, 2].max()
    mid, width = 0.5 * (z0 + z1), width * (z1 - z0)
    t = np.clip((v[:, 2] - (mid - 0.5 * width)) / width, 0.0, 1.0)
    w = t * t * (3 - 2 * t)  # smoothstep
    a = np.deg2rad(angle) * w
    p = v - [0.0, 0.0, mid]
    out = np.stack([p[:, 0] * np.cos(a) + p[:, 2] * np.sin(a), p[:, 1], -p[:, 0] * np.sin(a) + p[:, 2] * np.cos(a)], 1)
    return Shape(out + [0.0, 0.0, mid], shape.faces, name=f"{shape.name}_bent")


def corrupt(p2p: np.ndarray, shape: Shape, fraction: float, seed: int = 0) -> np.ndarray:
    """Replace ``fraction`` of the entries by a neighbour of the right vertex (a typical map error)."""
    rng = np.random.default_rng(seed)
    adj = vertex_adjacency(shape).tolil().rows
    out = p2p.copy()
    for j in rng.choice(len(p2p), int(fraction * len(p2p)), replace=False):
        out[j] = rng.choice(adj[p2p[j]])
    return out


@pytest.fixture(scope="module")
def pair():
    # an elongated, tapered, curved ellipsoid: no symmetry but a mirror (a shape with a rotational
    # symmetry, such as a capsule, can turn about its axis at no cost: only the map could tell)
    src, _ = ellipsoid(n_lat=20, n_lon=16, radii=(0.5, 0.35, 1.5), bend=0.3, taper=0.3)
    tgt, perm = permuted_copy(bent(src), seed=1, rigid=True)  # vertex j of tgt is vertex perm[j] of src
    return src, tgt, perm


@pytest.mark.parametrize("size", [1.0, 2.5])
def test_registration_recovers_the_permutation_exactly(pair, size):
    src, tgt, perm = pair
    tgt = Shape(tgt.vertices * size, tgt.faces, name="scaled")  # another size: the scale comes from the areas
    p2p_21 = corrupt(perm, src, 0.3)
    p2p_12 = corrupt(inverse_permutation(perm), tgt, 0.3, seed=1)
    assert (p2p_21 != perm).mean() > 0.25
    reg = register(src, tgt, p2p_21, p2p_12)
    # the deformed source lies on the target, vertex on vertex (to a small fraction of an edge:
    # the bend is not exactly isometric, and ARAP keeps a little of the rest shape)
    scale = np.sqrt(tgt.area)
    misfit = np.linalg.norm(reg.vertices[perm] - tgt.vertices, axis=1) / scale
    assert misfit.mean() < 0.01 and misfit.max() < 0.05
    smap, _ = project_on_surface(tgt.vertices, reg.vertices, src.faces)
    np.testing.assert_array_equal(smap.nearest_vertex(src.faces), perm)


def test_precise_map_register_method(pair):
    from shapecorr.result import Match
    from shapecorr.transfer import precise_map

    src, tgt, perm = pair
    m = Match(p2p_21=corrupt(perm, src, 0.2), p2p_12=inverse_permutation(perm), fmap_12=np.eye(2))
    smap = precise_map(m, src, tgt, method="register")
    np.testing.assert_array_equal(smap.nearest_vertex(src.faces), perm)
    # each target vertex lands next to its source vertex (a small fraction of an edge away)
    err = np.linalg.norm(smap.points(src.vertices, src.faces) - src.vertices[perm], axis=1)
    assert err.mean() < 0.01 * np.sqrt(src.area)


def test_precise_map_register_is_computed_once_per_pair_and_maps(pair, monkeypatch):
    """Colours, labels and the texture read through one match register the pair once: the
    second call with the same shapes, maps and settings reuses the first's points (a copy: the
    caller may change it); other maps or settings register again."""
    import shapecorr.deform.precise as precise
    from shapecorr.deform import RegisterSettings
    from shapecorr.result import Match

    src, tgt, perm = pair
    tgt = tgt.copy()  # a fresh shape object: nothing registered onto it yet
    calls = []
    real = precise.deformed_source
    monkeypatch.setattr(precise, "deformed_source", lambda *a, **k: calls.append(1) or real(*a, **k))
    m = Match(p2p_21=corrupt(perm, src, 0.2, seed=3), p2p_12=inverse_permutation(perm), fmap_12=np.eye(2))
    first = precise.precise_map(m, src, tgt, method="register")
    first.bary[:] = 0.0  # the caller's copy
    again = precise.precise_map(m, src, tgt, method="register")
    assert len(calls) == 1
    np.testing.assert_array_equal(again.nearest_vertex(src.faces), perm)
    other = Match(p2p_21=corrupt(perm, src, 0.2, seed=4), p2p_12=m.p2p_12, fmap_12=np.eye(2))
    precise.precise_map(other, src, tgt, method="register")
    assert len(calls) == 2
    precise.precise_map(m, src, tgt, method="register", register_settings=RegisterSettings(point_to_point=0.02))
    assert len(calls) == 3


def test_cell_misfits_of_rigid_and_scaled_copies(pair):
    src = pair[0]
    cells = cell_energy(src.vertices, src.faces)
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))
    R = np.repeat(q[:, :, None], src.n_vertices, axis=2)  # (3, 3, n) component-major
    moved = src.vertices @ q.T + [0.3, -1.0, 2.0]
    np.testing.assert_allclose(cell_misfits(src.vertices, moved, cells, R), 0.0, atol=1e-12)
    # a uniform scale s with the identity rotations: every cell is off by exactly |s - 1|
    ident = identity_rotations(src.n_vertices)
    np.testing.assert_allclose(cell_misfits(src.vertices, 1.2 * src.vertices, cells, ident), 0.2, rtol=1e-12)


def test_robust_cell_weights():
    w = robust_cell_weights(np.array([0.0, 0.01, 1.0, 100.0]), 0.01)
    np.testing.assert_allclose(w, [1.0, 1 / np.sqrt(2), 0.01 / np.sqrt(1.0001), 1e-4], rtol=1e-6)
    assert (np.diff(w) < 0).all()


def test_robust_arap_keeps_the_parts_of_a_sharp_joint_rigid(pair):
    """A 90 degree bend over a tenth of the length: least-squares ARAP spreads the joint's strain
    over both parts (they slide along the target), the robust energy keeps it in the joint."""
    src = pair[0]
    tgt, perm = permuted_copy(bent(src, angle=90.0, width=0.1), seed=1, rigid=True)
    inv = inverse_permutation(perm)
    err = {}
    for eps in (0.0, 0.01):
        reg = register(src, tgt, perm, inv, settings=RegisterSettings(robust_arap=eps))
        err[eps] = (np.linalg.norm(reg.vertices[perm] - tgt.vertices, axis=1) / np.sqrt(tgt.area)).mean()
    assert err[0.01] < 0.015 and err[0.01] < 0.5 * err[0.0]


def test_similarity_transform_is_exact():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 3))
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))
    b = 2.5 * a @ q.T + [1.0, -2.0, 0.5]
    s, R, t = similarity_transform(a, b, np.ones(50))
    assert np.isclose(s, 2.5)
    np.testing.assert_allclose(R, q, atol=1e-12)
    np.testing.assert_allclose(t, [1.0, -2.0, 0.5], atol=1e-12)


def test_bad_inputs(pair):
    src, tgt, perm = pair
    with pytest.raises(ShapeError, match="p2p_21 must give a source vertex"):
        register(src, tgt, perm[:-1])
    with pytest.raises(SettingsError, match="stiffness"):
        RegisterSettings(stiffness=(1.0, -1.0))
    with pytest.raises(SettingsError, match="trim"):
        RegisterSettings(trim=1.0)
    with pytest.raises(SettingsError, match="robust_arap"):
        RegisterSettings(robust_arap=-0.01)


def test_registered_vertex_maps_are_exact_both_ways(pair):
    """The matcher's registration step reads both vertex maps off the deformed source: from maps
    with 30 % wrong entries, both come back as the exact permutation, and the fit is tiny."""
    from shapecorr.deform.precise import registered_vertex_maps

    src, tgt, perm = pair
    inv = inverse_permutation(perm)
    p2p_21, p2p_12, fit = registered_vertex_maps(src, tgt, corrupt(perm, src, 0.3), corrupt(inv, tgt, 0.3, seed=1))
    np.testing.assert_array_equal(p2p_21, perm)
    np.testing.assert_array_equal(p2p_12, inv)
    assert 0.0 <= fit < 0.005


def test_round_trips_of_inverse_maps_are_zero_and_of_a_swap_its_length():
    src = ellipsoid(n_lat=8, n_lon=8)[0]
    V = src.vertices
    ident = np.arange(src.n_vertices)
    d1, d2 = round_trips(ident, ident, V, V)
    assert not d1.any() and not d2.any()
    swapped = ident.copy()
    swapped[[0, 5]] = [5, 0]  # target vertices 0 and 5 sent to each other's source vertex
    d1, d2 = round_trips(swapped, ident, V, V)
    gap = np.linalg.norm(V[0] - V[5])
    np.testing.assert_allclose(d1[[0, 5]], gap)
    np.testing.assert_allclose(d2[[0, 5]], gap)
    assert np.count_nonzero(d1) == 2 and np.count_nonzero(d2) == 2


def test_round_trip_frees_the_part_a_partial_target_lacks(pair):
    """The target is the bent source without its top fifth (a scan that misses a part). The maps
    are right where the target has the part, and send the missing part's vertices to the rim
    (what a matcher does). With every source -> target pair and the scale from the whole areas,
    that part is pulled onto the rim and the source shrunk; the defaults (the round-trip filter
    and the scale of the parts both maps agree on) lay the rest on the target."""
    from scipy.spatial import cKDTree

    src = pair[0]
    z = src.vertices[:, 2]
    gone = z > z.max() - 0.2 * (z.max() - z.min())
    faces = src.faces[~gone[src.faces].any(1)]
    kept = np.unique(faces)
    new = np.full(src.n_vertices, -1)
    new[kept] = np.arange(len(kept))
    moved = bent(src).vertices
    tgt = Shape(moved[kept], new[faces], name="partial")
    p2p_12 = new.copy()
    p2p_12[new < 0] = cKDTree(tgt.vertices).query(moved[new < 0])[1]  # the missing part -> the rim
    misfit = {}
    for name, settings in (("off", RegisterSettings(round_trip=0.0)), ("default", RegisterSettings())):
        reg = register(src, tgt, kept, p2p_12, settings=settings)
        misfit[name] = (np.linalg.norm(reg.vertices[kept] - tgt.vertices, axis=1) / np.sqrt(tgt.area)).mean()
    assert misfit["default"] < 0.003 and misfit["default"] < 0.5 * misfit["off"]


def test_area_scale_of_the_agreed_parts_unless_they_are_too_small():
    a1, a2 = np.full(10, 1.0), np.full(8, 4.0)
    assert _area_scale(a1, a2) == pytest.approx(np.sqrt(32 / 10))
    k1, k2 = np.arange(10) < 8, np.ones(8, bool)  # the target lacks two of the source's vertices
    assert _area_scale(a1, a2, (k1, k2)) == pytest.approx(2.0)
    few = np.arange(10) < 2  # a fifth of the source: the maps say too little, the whole areas are used
    assert _area_scale(a1, a2, (few, k2)) == pytest.approx(np.sqrt(32 / 10))


def test_round_trips_between_a_coarse_and_a_fine_meshing_keep_every_vertex():
    """One surface meshed coarsely (source) and finely (target), maps by position: nothing is
    missing, but a round trip from the fine side passes through a coarse vertex and lands up to
    half a coarse edge away, several fine edges. The tolerance is the coarser mesh's, so every
    vertex is kept and the scale is that of the whole areas (the fine mesh's own tolerance kept 37 %
    of the target's area and took a scale of 0.62 for 1.02; on a real pair, 1.4 % too small slid
    parts by 5 texels)."""
    from scipy.spatial import cKDTree

    from shapecorr.deform.registration import _mean_edge, _short_round_trips, vertex_mass

    kw = dict(radii=(0.5, 0.35, 1.5), bend=0.3, taper=0.3)
    src, fine = ellipsoid(n_lat=10, n_lon=8, **kw)[0], ellipsoid(n_lat=60, n_lon=48, **kw)[0]
    p2p_21 = cKDTree(src.vertices).query(fine.vertices)[1]  # maps by position, before the bend
    p2p_12 = cKDTree(fine.vertices).query(src.vertices)[1]
    tgt = bent(fine)
    a1, a2 = vertex_mass(src.vertices, src.faces), vertex_mass(tgt.vertices, tgt.faces)
    d1, d2 = round_trips(p2p_21, p2p_12, src.vertices, tgt.vertices)
    fine_tolerance = max(0.03 * np.sqrt(a2.sum()), 2 * _mean_edge(tgt.vertices, tgt.faces))  # as before
    assert d2.max() > 2 * fine_tolerance  # far beyond the fine mesh's own tolerance
    keep1, keep2 = _short_round_trips(p2p_21, p2p_12, (src.vertices, src.faces, a1.sum()),
                                      (tgt.vertices, tgt.faces, a2.sum()), 0.03)
    assert keep1.all() and keep2.all()
    reg = register(src, tgt, p2p_21, p2p_12)
    assert reg.similarity[0] == pytest.approx(np.sqrt(a2.sum() / a1.sum()), rel=1e-9)


def test_closest_pairs_keep_rim_to_rim_pairs():
    """A flat sheet and a copy of half its size: each source rim vertex is paired with its closest target
    vertex, on the target's rim (both shapes end there; on an open sheet such pairs hold the
    parts along the surface), while an inside vertex whose closest target vertex is on the rim
    is not paired with it (from the inside, the target may lack what lies beyond)."""
    from scipy.spatial import cKDTree

    from shapecorr.deform.registration import _closest_pairs, boundary_vertices, vertex_normals

    src = grid(9, 7)
    c = src.vertices.mean(0)
    tgt = Shape((src.vertices - c) * 0.5 + c, src.faces)
    edge1, edge2 = boundary_vertices(src), boundary_vertices(tgt)
    x, V2 = src.vertices, tgt.vertices
    m1, m2 = np.full(len(x), 1.0 / len(x)), np.full(len(V2), 1.0 / len(V2))
    pairs, _ = _closest_pairs(x, vertex_normals(x, src.faces), V2, vertex_normals(V2, tgt.faces), m1, m2,
                              cKDTree(V2), 1.0, RegisterSettings(max_distance=1.0, distance_factor=100.0), edge1, edge2)
    paired = set(zip(pairs.i.tolist(), cKDTree(V2).query(pairs.q)[1].tolist()))
    nearest = cKDTree(V2).query(x)[1]
    nearest_back = cKDTree(x).query(V2)[1]
    rim = np.flatnonzero(edge1 & edge2[nearest])
    assert len(rim) == edge1.sum() and all((i, nearest[i]) in paired for i in rim)
    inside = [i for i in np.flatnonzero(~edge1 & edge2[nearest]) if nearest_back[nearest[i]] != i]
    assert inside and not any((i, nearest[i]) in paired for i in inside)


def test_round_trip_settings_are_checked():
    with pytest.raises(SettingsError, match="round_trip"):
        RegisterSettings(round_trip=-0.1)
    with pytest.raises(SettingsError, match="consistent_scale"):
        RegisterSettings(consistent_scale=1)


@pytest.fixture(scope="module")
def fine_pair():
    src, _ = ellipsoid(n_lat=36, n_lon=30, radii=(0.5, 0.35, 1.5), bend=0.3, taper=0.3)  # 1052 vertices
    tgt, perm = permuted_copy(bent(src), seed=1, rigid=True)
    return src, tgt, perm


def _mean_error(src: Shape, p2p_21: np.ndarray, perm: np.ndarray) -> float:
    return float(np.linalg.norm(src.vertices[p2p_21] - src.vertices[perm], axis=1).mean() / np.sqrt(src.area))


def test_a_large_pair_is_registered_through_proxies_and_finished_at_full_resolution(fine_pair, monkeypatch):
    """Shapes above ``max_vertices``: the registration runs on proxies of about that many vertices
    and every vertex follows its proxy; the maps read off it are much better than the corrupted
    maps it started from, and the full-resolution finish makes them better than the proxies' own."""
    import shapecorr.deform.precise as precise
    import shapecorr.deform.registration as registration

    src, tgt, perm = fine_pair
    p2p_21 = corrupt(perm, src, 0.3)
    p2p_12 = corrupt(inverse_permutation(perm), tgt, 0.3, seed=1)
    sizes = []
    real = registration.register
    monkeypatch.setattr(registration, "register", lambda s, t, *a, **k: sizes.append((s.n_vertices, t.n_vertices))
                        or real(s, t, *a, **k))
    errors = {}
    for finish in (False, True):
        X = precise.deformed_source(src, tgt, p2p_21, p2p_12, max_vertices=526, finish=finish)
        assert X.shape == (src.n_vertices, 3)
        smap, _ = project_on_surface(tgt.vertices, X, src.faces)
        errors[finish] = _mean_error(src, smap.nearest_vertex(src.faces), perm)
    assert all(n1 <= 600 and n2 <= 600 for n1, n2 in sizes) and len(sizes) == 2
    before = _mean_error(src, p2p_21, perm)
    assert errors[True] < 0.75 * before and errors[True] < 0.8 * errors[False]
    # a pair within max_vertices is registered at full resolution, exactly as register() does
    sizes.clear()
    X = precise.deformed_source(src, tgt, p2p_21, p2p_12, max_vertices=src.n_vertices)
    assert sizes == [(src.n_vertices, tgt.n_vertices)]
    np.testing.assert_allclose(X, real(src, tgt, p2p_21, p2p_12).vertices)


def test_register_max_vertices():
    from shapecorr.deform.precise import REGISTER_FULL_UP_TO, REGISTER_PROXY_SIZE, register_max_vertices

    assert register_max_vertices(REGISTER_FULL_UP_TO) is None
    assert register_max_vertices(REGISTER_FULL_UP_TO + 1) == REGISTER_PROXY_SIZE
    assert register_max_vertices(REGISTER_FULL_UP_TO + 1, proxy_size=None) is None
    assert register_max_vertices(900, full_up_to=800, proxy_size=300) == 300
    assert register_max_vertices(800, full_up_to=800, proxy_size=300) is None


def test_register_plan():
    """Proxies above the full-resolution limit; the finish only after proxies, when asked, and for
    a source of at most ``REGISTER_FINISH_UP_TO`` vertices."""
    from types import SimpleNamespace as S

    from shapecorr.deform.precise import REGISTER_FINISH_UP_TO, REGISTER_FULL_UP_TO, REGISTER_PROXY_SIZE, register_plan

    small, big = S(n_vertices=REGISTER_FULL_UP_TO), S(n_vertices=REGISTER_FULL_UP_TO + 1)
    huge = S(n_vertices=REGISTER_FINISH_UP_TO + 1)
    assert register_plan(small, small) == (None, False)
    assert register_plan(small, big) == (REGISTER_PROXY_SIZE, True)
    assert register_plan(big, small, finish=False) == (REGISTER_PROXY_SIZE, False)
    assert register_plan(huge, small) == (REGISTER_PROXY_SIZE, False)
    assert register_plan(small, huge) == (REGISTER_PROXY_SIZE, True)  # the finish's cost is the source's
    assert register_plan(big, big, proxy_size=None) == (None, False)


def test_precise_map_registers_a_large_pair_through_proxies(fine_pair, monkeypatch):
    """``precise_map(method="register")`` on a pair above ``REGISTER_FULL_UP_TO`` registers
    proxies of ``register_proxy_size`` vertices, then finishes at full resolution (here the limit
    is lowered to 800 to keep the test small), and still places the target's vertices next to
    their true points; ``None`` registers at full resolution."""
    import shapecorr.deform.precise as precise
    import shapecorr.deform.registration as registration
    from shapecorr.result import Match

    src, tgt, perm = fine_pair
    m = Match(p2p_21=corrupt(perm, src, 0.3), p2p_12=corrupt(inverse_permutation(perm), tgt, 0.3, seed=1),
              fmap_12=np.eye(2))
    sizes = []
    real = registration.register
    monkeypatch.setattr(registration, "register", lambda s, t, *a, **k: sizes.append((s.n_vertices, t.n_vertices))
                        or real(s, t, *a, **k))
    monkeypatch.setattr(precise, "REGISTER_FULL_UP_TO", 800)
    before = _mean_error(src, m.p2p_21, perm)
    smap = precise.precise_map(m, src, tgt, method="register", register_proxy_size=526)
    assert len(sizes) == 1 and max(sizes[0]) <= 600
    assert _mean_error(src, smap.nearest_vertex(src.faces), perm) < 0.75 * before
    # ... and finished at full resolution (the finish's own effect: the deformed_source test above)
    finished = precise.registered_map(m, src, tgt, max_vertices=526, finish=True)
    np.testing.assert_array_equal(smap.face, finished.face)
    np.testing.assert_allclose(smap.bary, finished.bary)
    sizes.clear()
    precise.precise_map(m, src, tgt, method="register", register_proxy_size=None)
    assert sizes == [(src.n_vertices, tgt.n_vertices)]


def test_refining_a_registration_that_lies_on_the_target_keeps_it(pair):
    """The full-resolution finish started from the deformed source lying exactly on a rigid copy
    of itself (vertex on vertex) leaves it there."""
    from shapecorr.deform.registration import refine_registration

    src, _, _ = pair
    tgt, perm = permuted_copy(src, seed=3, rigid=True)
    x = tgt.vertices[inverse_permutation(perm)]  # source vertex i -> its place on the target
    s, R, t = similarity_transform(src.vertices, x, np.ones(src.n_vertices))
    out = refine_registration(src, tgt, x, (s, R, t))
    assert np.abs(out - x).max() < 1e-6 * np.sqrt(tgt.area)
    with pytest.raises(ShapeError, match="two meshes"):
        refine_registration(src, Shape(tgt.vertices, None), x, (s, R, t))
