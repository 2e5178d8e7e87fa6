"""Benchmark folders laid out like FAUST_r / TOSCA_r: ``NAME.off`` + ``corres/NAME.vts``.

``corres/NAME.vts`` has one **1-based** vertex index per line: line ``i`` is the vertex of
``NAME`` that corresponds to template point ``i``; ``corres/NAME.sym.vts`` is the left-right
mirrored correspondence. :func:`read_vts` returns 0-based indices.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..core import DatasetError, read_indices, read_vts  # noqa: F401 (re-exported)
from ..core.indices import two_columns

SHAPE_EXTENSIONS = (".off", ".obj", ".ply")


def read_pairs(path) -> list[tuple[str, str]]:
    """Pairs of shape names: one pair per line, tab- or space-separated (``A<TAB>B`` or ``A B``).

    Blank lines and ``#`` comments are skipped; a file extension on a name is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such pairs file.")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a text file of shape-name pairs.") from exc
    pairs = [tuple(_strip_ext(p) for p in parts) for parts in two_columns(text, path, "shape names")]
    if not pairs:
        raise DatasetError(f"{path}: the pairs file lists no pairs.")
    return pairs


def _strip_ext(name: str) -> str:
    p = Path(name)
    return p.stem if p.suffix.lower() in SHAPE_EXTENSIONS else name


def all_pairs(names) -> list[tuple[str, str]]:
    """All unordered pairs ``(a, b)`` with ``a`` before ``b`` in ``names`` (source = first)."""
    return list(itertools.combinations(list(names), 2))


def find_pairs_file(folder) -> Path | None:
    """``test_pairs.txt`` in ``folder`` or its parent (where FAUST_r/TOSCA_r keep it)."""
    folder = Path(folder)
    for cand in (folder / "test_pairs.txt", folder.parent / "test_pairs.txt"):
        if cand.exists():
            return cand
    return None


class Dataset:
    """A folder of shapes with ground truth in ``corres/``.

    >>> ds = Dataset("../shared/data/FAUST_r/vtx_5k")
    >>> ds.gt("tr_reg_080")          # 0-based vertex of each template point
    >>> ds.test_split()              # FAUST: the 190 pairs of tr_reg_080..099
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.exists():
            raise DatasetError(f"{self.folder}: no such dataset folder.")
        if not self.folder.is_dir():
            raise DatasetError(f"{self.folder}: not a folder (give the folder holding NAME.off and corres/).")
        self.shapes: dict[str, Path] = {}
        for ext in SHAPE_EXTENSIONS:
            for p in sorted(self.folder.glob(f"*{ext}")):
                self.shapes.setdefault(p.stem, p)
        if not self.shapes:
            raise DatasetError(f"{self.folder}: no shapes (*.off, *.obj, *.ply) in this folder.")
        self.corres = self.folder / "corres"
        self._gt: dict[tuple[str, bool], np.ndarray] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self.shapes)

    def shape_path(self, name: str) -> Path:
        if name not in self.shapes:
            raise DatasetError(f"{self.folder}: no shape named {name!r}.")
        return self.shapes[name]

    def gt_path(self, name: str, sym: bool = False) -> Path:
        return self.corres / f"{name}{'.sym' if sym else ''}.vts"

    def has_sym(self, name: str) -> bool:
        return self.gt_path(name, True).exists()

    def gt(self, name: str, sym: bool = False, n_vertices: int | None = None) -> np.ndarray:
        """0-based ground-truth vertex list of ``name`` (``sym``: the mirrored one)."""
        key = (name, sym)
        if key not in self._gt:
            path = self.gt_path(name, sym)
            if not path.exists():
                what = "symmetric ground truth" if sym else "ground truth"
                raise DatasetError(f"{path}: missing {what} for shape {name!r} (expected corres/{name}"
                                   f"{'.sym' if sym else ''}.vts, 1-based vertex indices).")
            self._gt[key] = read_vts(path)
        idx = self._gt[key]
        if n_vertices is not None and idx.max() >= n_vertices:
            raise DatasetError(f"{self.gt_path(name, sym)}: vertex index {int(idx.max()) + 1} but {name} has only "
                               f"{n_vertices} vertices; is this the ground truth of another mesh?")
        return idx

    def check_pairs(self, pairs) -> None:
        """Raise :class:`DatasetError` naming unknown shapes or missing ground truth."""
        unknown = sorted({n for pair in pairs for n in pair if n not in self.shapes})
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DatasetError(f"{len(unknown)} shape name(s) in the pairs are not in {self.folder}: {shown} "
                               f"(it has {len(self.shapes)} shapes, e.g. {self.names[0]}).")
        missing = sorted({n for pair in pairs for n in pair if not self.gt_path(n).exists()})
        if missing:
            shown = ", ".join(str(self.gt_path(n)) for n in missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise DatasetError(f"missing ground truth for {len(missing)} shape(s): {shown}.")

    def test_split(self) -> list[tuple[str, str]]:
        """Default evaluation pairs: FAUST (``tr_reg_*``) -> all pairs of 080..099;
        otherwise the ``test_pairs.txt`` next to the folder (or in its parent)."""
        faust = [f"tr_reg_{i:03d}" for i in range(80, 100)]
        if all(n in self.shapes for n in faust):
            return all_pairs(faust)
        found = find_pairs_file(self.folder)
        if found is None:
            raise DatasetError(f"{self.folder}: no test split known; give a pairs file (test_pairs.txt).")
        return read_pairs(found)
