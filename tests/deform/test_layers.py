"""deform is an earlier layer than transfer (docs/architecture.md): it must not import it."""

import ast
from pathlib import Path

import numpy as np

import shapecorr.deform

LATER_LAYERS = ("transfer", "eval", "render", "config", "pipeline", "collection", "cli")


def _imported_modules(path: Path) -> list[str]:
    """Absolute or relative module names imported anywhere in ``path`` (also inside functions)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def _layer(name: str) -> str | None:
    """The shapecorr subpackage an import inside shapecorr/deform refers to (None: deform itself or outside)."""
    level = len(name) - len(name.lstrip("."))
    parts = name.lstrip(".").split(".")
    if level == 2:
        return parts[0]
    if level == 0 and parts[0] == "shapecorr" and len(parts) > 1:
        return parts[1]
    return None


def later_layer_imports(folder: Path) -> list[str]:
    return [f"{path.name}: {name}" for path in sorted(folder.glob("*.py")) for name in _imported_modules(path)
            if _layer(name) in LATER_LAYERS]


def test_deform_imports_no_later_layer():
    bad = later_layer_imports(Path(shapecorr.deform.__file__).parent)
    assert not bad, f"deform imports later layers: {bad}"


def test_the_layer_check_sees_function_level_imports(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    from ..transfer import precise_map\n    import shapecorr.cli\n")
    assert later_layer_imports(tmp_path) == ["m.py: ..transfer", "m.py: shapecorr.cli"]


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
