"""The layers of docs/architecture.md: a module imports only from its own layer or earlier ones,
also inside functions (a lazy import still makes the layers depend on each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import shapecorr

#: shapecorr's subpackages and top-level modules, earliest first (``result``: the Match type that
#: the applications take)
LAYERS = ("core", "result", "spectral", "geodesic", "fmap", "learn", "deform", "splat", "transfer", "eval",
          "render", "config", "pipeline", "collection", "cli")
ROOT = Path(shapecorr.__file__).parent


def imported_units(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    """``(unit, line)`` of every import in ``path`` that names another unit of the package
    under ``root`` (relative or absolute, at any depth of the code)."""
    rel = path.relative_to(root).parts
    inside = len(rel) - 1  # packages between the root and the module
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            up = node.level - 1
            if up < inside:  # a sibling in the module's own package
                continue
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(root.name + "."):
            names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith(root.name + ".")]
        else:
            continue
        out += [(n, node.lineno) for n in names]
    return out


def upward_imports(root: Path = ROOT, layers=LAYERS) -> list[str]:
    rank = {name: i for i, name in enumerate(layers)}
    bad = []
    for path in sorted(root.rglob("*.py")):
        unit = path.relative_to(root).parts[0].removesuffix(".py")
        if unit not in rank:  # the package's own __init__ / __main__ gather everything
            continue
        bad += [f"{path.relative_to(root)}:{line} imports {name}" for name, line in imported_units(path, root)
                if rank.get(name, -1) > rank[unit]]
    return bad


def test_no_module_imports_a_later_layer():
    assert upward_imports() == []


def test_the_check_sees_lazy_relative_and_absolute_imports(tmp_path):
    pkg = tmp_path / "shapecorr"
    (pkg / "fmap").mkdir(parents=True)
    (pkg / "fmap" / "m.py").write_text(
        "from .convert import x\n"  # own package: fine
        "from ..core import Shape\n"  # earlier layer: fine
        "def f():\n"
        "    from ..transfer import precise_map\n"
        "    import shapecorr.cli.common\n"
        "    from shapecorr.render import offscreen\n")
    assert upward_imports(pkg) == ["fmap/m.py:4 imports transfer", "fmap/m.py:5 imports cli",
                                   "fmap/m.py:6 imports render"]
