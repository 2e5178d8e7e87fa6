"""Deformation transfer through a match (shapecorr.deform.transfer_deformation)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, capsule, inverse_permutation, permuted_copy

from shapecorr import Shape
from shapecorr.deform import deformed_at_source, transfer_deformation
from shapecorr.transfer import SurfaceMap, project_on_surface


def rotation(angle: float, axis=(0.0, 0.0, 1.0)) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    a = np.asarray(axis, dtype=float)
    return Rotation.from_rotvec(angle * a / np.linalg.norm(a)).as_matrix()


def exact_match(source: Shape, target: Shape, perm: np.ndarray, k: int = 20):
    """A Match from a known permutation (target vertex j = source vertex perm[j]), with its
    functional map in the pipeline's bases (so the spectral precise points run)."""
    from shapecorr.fmap import p2p_to_fmap
    from shapecorr.pipeline import Match, load_preset, prepare

    s = load_preset(None, k_init=k, k_final=k, k_descriptor=k, n_descriptors=20, flip_check=False)
    P1, P2 = prepare(source, s), prepare(target, s)
    C = p2p_to_fmap(perm, P1.evecs, P2.evecs, P2.mass, k1=k, k2=k)
    return Match(p2p_21=perm, p2p_12=inverse_permutation(perm), fmap_12=C, settings=s.to_dict(),
                 info={"k_basis": [P1.evecs.shape[1], P2.evecs.shape[1]]},
                 source_hash=source.content_hash, target_hash=target.content_hash)


def bend(v: np.ndarray, amount: float = 1.2) -> np.ndarray:
    """Bend a shape lying along z about an axis parallel to y (the angle grows along z up to
    ``amount`` radians): a non-rigid pose change with no stretch along the centre line."""
    z0 = v[:, 2].min()
    length = v[:, 2].max() - z0
    ang = amount * (v[:, 2] - z0) / length
    r = length / amount
    x = v[:, 0]
    return np.stack([r - (r - x) * np.cos(ang), v[:, 1], z0 + (r - x) * np.sin(ang)], 1)


def centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(0)


@pytest.fixture(scope="module")
def blob():
    return bumpy(3)


def test_identity_transfers_as_identity(blob):
    target, perm = permuted_copy(blob, seed=1)
    target = target.copy(vertices=target.vertices * [1.3, 0.8, 1.0])  # another body, same mesh
    X = transfer_deformation(blob, blob.vertices, target, surface_map=SurfaceMap.from_vertex_map(perm, blob.faces))
    assert np.allclose(X, target.vertices, atol=1e-10)


def test_rigid_motion_transfers_as_that_motion(blob):
    target, perm = permuted_copy(blob, seed=2)
    target = target.copy(vertices=target.vertices * [1.3, 0.8, 1.0] + 0.05 * np.sin(3 * target.vertices))
    R = rotation(1.1, (1.0, -0.3, 0.4))
    smap = SurfaceMap.from_vertex_map(perm, blob.faces)
    X = transfer_deformation(blob, blob.vertices @ R.T + [1.0, 2.0, 3.0], target, surface_map=smap, align=False)
    assert np.allclose(centred(X), centred(target.vertices) @ R.T, atol=1e-9)
    # the translation follows the source's (up to where the centroids sit)
    assert np.allclose(X.mean(0) - target.vertices.mean(0), [1.0, 2.0, 3.0], atol=0.2)


def test_a_turned_target_is_deformed_in_its_own_frame(blob):
    """A target lying another way round: with align (default) the motion is applied in its frame."""
    target, perm = permuted_copy(blob, seed=3)
    R0 = rotation(2.0, (0.2, 1.0, 0.1))
    target = target.copy(vertices=target.vertices @ R0.T + 4.0)
    R = rotation(0.7, (1.0, 0.0, 0.0))
    X = transfer_deformation(blob, blob.vertices @ R.T, target, surface_map=SurfaceMap.from_vertex_map(perm, blob.faces))
    assert np.allclose(centred(X), centred(target.vertices) @ (R0 @ R @ R0.T).T, atol=1e-9)


def test_bend_transferred_to_a_permuted_copy_through_a_match():
    """Through a real Match (spectral precise points): a copy of the source, bent the same way."""
    bar = capsule(height=2.0, radius=0.3, count=(12, 12))
    bent = bend(bar.vertices)
    target, perm = permuted_copy(bar, seed=5)
    m = exact_match(bar, target, perm)
    X = transfer_deformation(bar, bent, target, m)
    assert np.allclose(centred(X), centred(bent[perm]), atol=1e-6)
    X = transfer_deformation(bar, bent, target, m, method="vertex")
    assert np.allclose(centred(X), centred(bent[perm]), atol=1e-9)


def test_a_bend_transferred_to_a_thicker_body_keeps_its_shape():
    """Known answer for "the same pose change on another body": the bend of a thin bar applied
    to a bar 1.5x thicker must give the thick bar bent along the same centre line (not the thin
    bar's displacements, which shear the thick one). Rigid alignment first, as the benchmark."""
    from shapecorr.deform.rigid import best_rotation

    bar = capsule(height=2.0, radius=0.3, count=(12, 12))
    thick = bar.copy(vertices=bar.vertices * [1.5, 1.5, 1.0])
    z0, length = bar.vertices[:, 2].min(), np.ptp(bar.vertices[:, 2])

    def bend_about_axis(v, amount=1.2):  # one bend for both bodies: same axis, same radius
        ang = amount * (v[:, 2] - z0) / length
        r, x = length / amount, v[:, 0]
        return np.stack([r - (r - x) * np.cos(ang), v[:, 1], z0 + (r - x) * np.sin(ang)], 1)

    truth = bend_about_axis(thick.vertices)
    X = transfer_deformation(bar, bend_about_axis(bar.vertices), thick,
                             surface_map=SurfaceMap.from_vertex_map(np.arange(bar.n_vertices), bar.faces))
    displaced = thick.vertices + bend_about_axis(bar.vertices) - bar.vertices

    def error(P):
        R = best_rotation(P, truth)
        return np.linalg.norm(centred(P) @ R.T - centred(truth), axis=1).mean()

    assert error(X) < 0.05 * error(thick.vertices)  # ~0.004 vs 0.13
    assert error(X) < 0.2 * error(displaced)  # ~0.004 vs 0.04


def subdivided(shape: Shape) -> Shape:
    import trimesh

    v, f = trimesh.remesh.subdivide(shape.vertices, shape.faces)
    return Shape(np.asarray(v), np.asarray(f), name=f"{shape.name}_sub")


def test_another_meshing_takes_the_gradient_of_the_face_it_lies_in():
    """A target meshed 4x finer, lying on the source: each target triangle sits inside one source
    triangle and takes its gradient, so the result is the deformed source, subdivided."""
    bar = capsule(height=2.0, radius=0.3, count=(10, 10))
    fine = subdivided(bar)
    smap, dist = project_on_surface(fine.vertices, bar.vertices, bar.faces)
    assert dist.max() < 1e-12
    bent = bend(bar.vertices, 1.5)
    res = transfer_deformation(bar, bent, fine, surface_map=smap, details=True)
    expected = smap.points(bent, bar.faces)  # the bent source, at the fine vertices
    assert np.allclose(centred(res.vertices), centred(expected), atol=1e-9)
    # trimesh makes faces 4i .. 4i+3 from face i: each lies inside it and takes its gradient
    assert np.array_equal(res.face_map, np.repeat(np.arange(bar.n_faces), 4))


def test_deformed_source_meshed_differently():
    bar = capsule(height=2.0, radius=0.3, count=(10, 10))
    fine = subdivided(bar)
    bent_fine = fine.copy(vertices=bend(fine.vertices))
    smap, _ = project_on_surface(bar.vertices, fine.vertices, fine.faces)  # source vertices on the deformed mesh
    D = deformed_at_source(bar, bent_fine, surface_map=SurfaceMap(smap.face, smap.bary))
    assert np.allclose(D, bend(bar.vertices), atol=1e-9)
    assert np.array_equal(deformed_at_source(bar, bar.copy(vertices=bend(bar.vertices))), bend(bar.vertices))
    with pytest.raises(ValueError, match="deformed_at_source"):
        transfer_deformation(bar, bent_fine, bar, surface_map=SurfaceMap.from_vertex_map(np.arange(bar.n_vertices),
                                                                                        bar.faces))


def test_bad_inputs(blob):
    cloud = Shape(blob.vertices)
    smap = SurfaceMap.from_vertex_map(np.arange(blob.n_vertices), blob.faces)
    with pytest.raises(ValueError, match="triangle mesh"):
        transfer_deformation(blob, blob.vertices, cloud, surface_map=smap)
    with pytest.raises(ValueError, match=r"\(n_source, 3\)"):
        transfer_deformation(blob, blob.vertices[:10], blob, surface_map=smap)
    with pytest.raises(ValueError, match="needs a match"):
        transfer_deformation(blob, blob.vertices, blob)


def test_a_plan_made_once_gives_transfer_deformation_for_every_frame():
    """TransferPlan.apply (the plan made once) equals transfer_deformation on each of several
    deformations of the source (an animation carried frame by frame)."""
    from shapecorr.deform import TransferPlan

    bar = capsule(height=2.0, radius=0.3, count=(12, 12))
    target, perm = permuted_copy(bar, seed=4)
    target = target.copy(vertices=target.vertices * [1.4, 1.4, 1.0])  # a thicker body, vertices shuffled
    m = exact_match(bar, target, perm)
    plan = TransferPlan(bar, target, m)
    for amount in (0.3, 0.8, 1.4):
        bent = bend(bar.vertices, amount)
        np.testing.assert_allclose(plan.apply(bent), transfer_deformation(bar, bent, target, m), atol=1e-10)
    np.testing.assert_allclose(plan.apply(bar.vertices), target.vertices, atol=1e-8)  # no change: the target
    with pytest.raises(ValueError, match="source has"):
        plan.apply(bar.vertices[:-1])
    with pytest.raises(ValueError, match="triangle mesh"):
        TransferPlan(bar, Shape(target.vertices), m)
