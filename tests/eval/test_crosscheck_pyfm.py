"""Cross-check of the geodesic error against pyfmaps' evaluation (skipped without pyfmaps)."""

import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.eval import coverage, geodesic_errors

from .conftest import ellipsoid

pyFM = pytest.importorskip("pyFM")


def test_error_matches_pyfm_accuracy():
    from pyFM.eval.evaluate import accuracy
    from pyFM.mesh import TriMesh

    v, f, mirror = ellipsoid(n_lat=14, n_lon=20, bend=0.1)
    shape = Shape(v, f)
    n = shape.n_vertices
    rng = np.random.default_rng(3)
    p2p_21 = np.where(rng.random(n) < 0.5, mirror, rng.integers(0, n, n))  # a poor, varied map
    gt = np.arange(n)
    ours = geodesic_errors(shape, p2p_21, gt, gt)

    mesh = TriMesh(v, f)
    D = mesh.geodesic_matrix(method="heat", sym=True)  # potpourri3d's robust heat method
    theirs = accuracy(p2p_21, gt, D, return_all=True, sqrt_area=np.sqrt(mesh.area))[1]
    # same measure and the same heat method: equal up to float32 storage of our matrix
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert coverage(p2p_21, n) == pytest.approx(np.unique(p2p_21).size / n)
