import sys
from pathlib import Path

import numpy as np

from shapecorr import Shape

from .conftest import ellipsoid

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from subdivide_faust import midpoint_subdivide  # noqa: E402


def test_midpoint_subdivision_keeps_original_vertices_first():
    v, f, _ = ellipsoid()
    s0 = Shape(v, f)
    v1, f1 = midpoint_subdivide(v, f)
    n_edges = len(np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0))
    assert len(v1) == len(v) + n_edges and len(f1) == 4 * len(f)
    assert np.array_equal(v1[: len(v)], v)  # ground-truth indices stay valid
    s1 = Shape(v1, f1)
    assert np.isclose(s1.area, s0.area)  # same surface (midpoints lie on the faces)
    # orientation kept: the signed volume has the same sign and value
    vol = lambda V, F: np.einsum("ij,ij->i", V[F[:, 0]], np.cross(V[F[:, 1]], V[F[:, 2]])).sum() / 6
    assert np.isclose(vol(v1, f1), vol(v, f))
    # every edge of the subdivided closed mesh is shared by exactly two faces
    e = np.sort(np.concatenate([f1[:, [0, 1]], f1[:, [1, 2]], f1[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    assert np.all(counts == 2)
