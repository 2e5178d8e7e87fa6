"""What moved when deform stopped importing transfer (the layer check itself: tests/test_layers.py):
the public names still import from transfer, and one Kabsch serves everything."""

import numpy as np


def test_public_names_still_importable_from_transfer():
    from shapecorr.deform.precise import precise_map as dispatcher
    from shapecorr.fmap.surface import SurfaceMap as Moved
    from shapecorr.transfer import SurfaceMap, precise_map
    from shapecorr.transfer.surface import project_on_surface  # noqa: F401

    assert precise_map is dispatcher and SurfaceMap is Moved


def test_one_kabsch_for_registration_and_transfer():
    from shapecorr.deform.registration import similarity_transform
    from shapecorr.deform.transfer import best_rotation

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    a = 0.7
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    Y = 2.0 * X @ R.T + np.array([1.0, -2.0, 0.5])
    s, R1, t = similarity_transform(X, Y)
    assert np.allclose(R1, R) and np.isclose(s, 2.0) and np.allclose(s * X @ R1.T + t, Y)
    assert np.allclose(best_rotation(X, Y), R)
    assert best_rotation.__module__ == similarity_transform.__module__ == "shapecorr.deform.rigid"
