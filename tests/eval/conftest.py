"""Small generated meshes for the evaluation tests (no benchmark data needed)."""

from __future__ import annotations

import numpy as np
import pytest


def ellipsoid(n_lat: int = 12, n_lon: int = 16, radii=(1.0, 0.7, 0.5), bend: float = 0.0):
    """A UV ellipsoid, exactly symmetric under x -> -x; returns (vertices, faces, mirror).

    The arrays of :func:`helpers.ellipsoid` (``mirror[i]`` is the vertex at the mirrored position
    of vertex ``i``).
    """
    from helpers import ellipsoid as shape_ellipsoid

    shape, mirror = shape_ellipsoid(n_lat, n_lon, radii, bend)
    return np.array(shape.vertices), np.array(shape.faces), mirror


def grid(nx: int = 21, ny: int = 11, h: float = 0.1):
    """A flat grid with spacing h as arrays ``(vertices, faces)``; vertex (i, j) is i * ny + j."""
    from helpers import grid as shape_grid

    shape = shape_grid(nx, ny, h)
    return np.array(shape.vertices), np.array(shape.faces)


def write_off(path, v, f):
    with open(path, "w") as fh:
        fh.write(f"OFF\n{len(v)} {len(f)} 0\n")
        for p in v:
            fh.write(f"{p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")
        for t in f:
            fh.write(f"3 {t[0]} {t[1]} {t[2]}\n")


def write_vts(path, idx0):
    np.savetxt(path, np.asarray(idx0) + 1, fmt="%d")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test writes its cache under its own tmp folder."""
    import shapecorr

    shapecorr.set_cache_dir(tmp_path / "cache")
    yield
    shapecorr.set_cache_dir("default")


@pytest.fixture
def tiny_dataset(tmp_path):
    """Three deformed ellipsoids (same connectivity) with identity ground truth and mirrored truth."""
    folder = tmp_path / "tiny"
    (folder / "corres").mkdir(parents=True)
    names = ["ell_a", "ell_b", "ell_c"]
    for name, bend, radii in zip(names, (0.0, 0.15, -0.1), ((1.0, 0.7, 0.5), (1.05, 0.68, 0.5), (0.95, 0.72, 0.52))):
        v, f, mirror = ellipsoid(radii=radii, bend=bend)
        write_off(folder / f"{name}.off", v, f)
        write_vts(folder / "corres" / f"{name}.vts", np.arange(len(v)))
        write_vts(folder / "corres" / f"{name}.sym.vts", mirror)
    (folder / "test_pairs.txt").write_text("ell_a\tell_b\nell_a\tell_c\n")
    (folder / "tiny.yaml").write_text("k_init: 8\nk_final: 16\nzoomout_step: 4\nk_descriptor: 20\n"
                                      "n_descriptors: 20\nzoomout_samples: 200\n")
    return folder
