"""The output folder of a collection: its layout, atomic writes, and reading it back.

::

    OUT/template.txt                  the template's name (first line) and file (second line)
    OUT/maps/NAME_to_template.txt     line i: the template vertex matched to vertex i of NAME
    OUT/maps/template_to_NAME.txt     line t: the vertex of NAME matched to template vertex t
    OUT/maps/NAME_confidence.json     the map's confidence (final and direct), its route
    OUT/latent/NAME.npy               (n, k) float32: each vertex of NAME in the collection's latent
                                      space (the template's eigenbasis); written when the joint
                                      refinement ran. Pairwise maps by nearest rows (:func:`compose_latent`)
    OUT/report.json                   timings per stage, failures, consistency figures
    OUT/gallery.png                   the shapes coloured through the template
    OUT/work/...                      what a rerun reuses (per-shape records, direct and
                                      neighbour maps, the joint refinement's bases: float32
                                      eigenbasis cut to k_final, samples, vertices;
                                      work/latent.npz the latent matrices; work/sync/ the
                                      joint refinement's edge maps and latent matrices while
                                      it runs, deleted after it);
                                      safe to delete once the run is done

Every file is written to a temporary name and renamed, so a run killed half-way never leaves
a truncated file that a rerun would take as done. Pairwise maps are compositions of the
files (:func:`compose`): ``A -> B`` is ``template_to_B[A_to_template]``; or, with one rounding
to a vertex instead of two, nearest neighbours between the shapes' latent embeddings
(:func:`compose_latent`: the composition of functional maps, made a vertex map at the end).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..core import MatchFileError, OutputError
from ..core.jsonio import json_default
from ..fmap import knn_blocked

TEMPLATE_FILE = "template.txt"
_UMASK = os.umask(0)
os.umask(_UMASK)
REPORT_FILE = "report.json"
GALLERY_FILE = "gallery.png"


# ----------------------------------------------------------------------------- atomic writes
def _atomic(path: Path, write) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.chmod(tmp, 0o666 & ~_UMASK)  # as a plain open() would create it (mkstemp makes it private)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc}); choose another --out "
                          "folder.") from exc
    return path


def write_text(path, text: str) -> Path:
    return _atomic(path, lambda fh: fh.write(text.encode()))


def write_json(path, value) -> Path:
    return write_text(path, json.dumps(value, indent=2, default=json_default, allow_nan=False) + "\n")


def write_indices(path, values) -> Path:
    """One integer per line (a vertex map)."""
    values = np.asarray(values, dtype=np.int64)
    return write_text(path, "".join(f"{int(v)}\n" for v in values))


def write_npz(path, **arrays) -> Path:
    return _atomic(path, lambda fh: np.savez(fh, **arrays))


def write_npz_rows(path, name: str, shape: tuple, dtype, rows, **arrays) -> Path:
    """An ``.npz`` whose array ``name`` (of ``shape``) is written a row at a time from ``rows``
    (``shape[0]`` arrays of ``shape[1:]``; None: a row of zeros), so that the whole array is
    never in memory; ``arrays`` are written as by :func:`write_npz`. ``np.load`` reads it as
    any ``.npz``."""
    dtype, shape = np.dtype(dtype), tuple(int(s) for s in shape)
    zero = np.zeros(shape[1:], dtype=dtype)

    def write(fh):
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, value in arrays.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(f, header)
                count = 0
                for row in rows:
                    f.write(_row(zero if row is None else row, zero).tobytes())
                    count += 1
                if count != shape[0]:
                    raise ValueError(f"{path}: {count} rows given for an array of {shape[0]}")

    return _atomic(path, write)


def _row(value, zero: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=zero.dtype)
    if arr.shape != zero.shape:
        raise ValueError(f"a row of shape {zero.shape} was expected, got {arr.shape}")
    return arr


def read_npz(path) -> dict | None:
    """The arrays of a work file, or None if it is missing or unreadable (then it is redone)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None


# ----------------------------------------------------------------------------- layout
class CollectionFolder:
    """Paths in, and reading of, a collection's output folder."""

    def __init__(self, root):
        self.root = Path(root)

    # where things go
    @property
    def maps(self) -> Path:
        return self.root / "maps"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def to_template_path(self, name: str) -> Path:
        return self.maps / f"{name}_to_template.txt"

    def from_template_path(self, name: str) -> Path:
        return self.maps / f"template_to_{name}.txt"

    def confidence_path(self, name: str) -> Path:
        return self.maps / f"{name}_confidence.json"

    @property
    def latent_dir(self) -> Path:
        return self.root / "latent"

    def latent_path(self, name: str) -> Path:
        return self.latent_dir / f"{name}.npy"

    def record_path(self, name: str) -> Path:
        return self.work / "shapes" / f"{name}.json"

    def direct_path(self, name: str) -> Path:
        return self.work / "direct" / f"{name}.npz"

    def edge_path(self, a: str, b: str) -> Path:
        return self.work / "edges" / f"{a}--{b}.npz"

    def basis_path(self, name: str) -> Path:
        return self.work / "bases" / f"{name}.npz"

    @property
    def report_path(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def gallery_path(self) -> Path:
        return self.root / GALLERY_FILE

    @property
    def template_path(self) -> Path:
        return self.root / TEMPLATE_FILE

    # reading
    def check(self) -> None:
        if not self.root.is_dir():
            raise MatchFileError(f"{self.root}: no such folder; give the --out folder of `shapecorr collection`.")
        if not self.template_path.exists():
            raise MatchFileError(f"{self.root}: not a collection output (no {TEMPLATE_FILE}); create one with "
                                 "`shapecorr collection DIR --out OUT`.")

    def template(self) -> str:
        """The template's name."""
        self.check()
        lines = self.template_path.read_text().splitlines()
        if not lines or not lines[0].strip():
            raise MatchFileError(f"{self.template_path}: empty; rerun `shapecorr collection`.")
        return lines[0].strip()

    def template_file(self) -> str | None:
        lines = self.template_path.read_text().splitlines() if self.template_path.exists() else []
        return lines[1].strip() if len(lines) > 1 else None

    def names(self) -> list[str]:
        """Shapes with maps (the template included)."""
        suffix = "_to_template.txt"
        return sorted(p.name[: -len(suffix)] for p in self.maps.glob(f"*{suffix}"))

    def _read_map(self, path: Path, name: str) -> np.ndarray:
        if not path.exists():
            known = self.names()
            hint = f" (it has {len(known)}: {', '.join(known[:6])}{' ...' if len(known) > 6 else ''})" if known else ""
            raise MatchFileError(f"{path}: no map for {name!r} in this collection{hint}; the name is the "
                                 "shape's file name without extension.")
        try:
            return np.atleast_1d(np.loadtxt(path, dtype=np.int64))
        except ValueError as exc:
            raise MatchFileError(f"{path}: garbled map file ({exc}); rerun `shapecorr collection`.") from exc

    def to_template(self, name: str) -> np.ndarray:
        """Line i: the template vertex matched to vertex i of ``name``."""
        return self._read_map(self.to_template_path(name), name)

    def from_template(self, name: str) -> np.ndarray:
        """Line t: the vertex of ``name`` matched to template vertex t."""
        return self._read_map(self.from_template_path(name), name)

    def has_latent(self, *names: str) -> bool:
        """Whether the latent embeddings of all ``names`` are there (the joint refinement ran)."""
        return all(self.latent_path(n).exists() for n in names)

    def latent(self, name: str) -> np.ndarray:
        """``(n, k)`` float32: row i is vertex i of ``name`` in the collection's latent space."""
        path = self.latent_path(name)
        if not path.exists():
            self._read_map(self.to_template_path(name), name)  # an unknown name: the same clear error
            raise MatchFileError(f"{path}: no latent embedding for {name!r} (the joint refinement did not run: "
                                 "--no-consistency, no neighbour edges, or an older run); compose through the "
                                 "template instead (via='template').")
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise MatchFileError(f"{path}: unreadable ({exc}); rerun `shapecorr collection`.") from exc

    def shape_path(self, name: str) -> str | None:
        """The file the shape was read from (None if unknown or gone)."""
        rec = self.record_path(name)
        if rec.exists():
            path = json.loads(rec.read_text()).get("path")
            if path and Path(path).exists():
                return path
        if self.template_path.exists() and name == self.template():
            path = self.template_file()
            return path if path and Path(path).exists() else None
        return None

    def confidence(self, name: str) -> dict:
        path = self.confidence_path(name)
        return json.loads(path.read_text()) if path.exists() else {}

    def report(self) -> dict:
        return json.loads(self.report_path.read_text()) if self.report_path.exists() else {}


def compose(folder, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """``(p2p_ab, p2p_ba)`` through the template, from the files alone (no recomputation):
    ``p2p_ab[i]`` is the vertex of ``b`` matched to vertex i of ``a`` (``template_to_b`` after
    ``a_to_template``), ``p2p_ba`` the other way."""
    f = folder if isinstance(folder, CollectionFolder) else CollectionFolder(folder)
    f.check()
    a_to_t, b_to_t = f.to_template(a), f.to_template(b)
    t_to_a, t_to_b = f.from_template(a), f.from_template(b)
    if len(t_to_a) != len(t_to_b):
        raise MatchFileError(f"{f.root}: template_to_{a}.txt and template_to_{b}.txt have {len(t_to_a)} and "
                             f"{len(t_to_b)} lines; they come from different runs (rerun the collection).")
    for name, m, n in ((a, a_to_t, len(t_to_a)), (b, b_to_t, len(t_to_b))):
        if len(m) and (m.min() < 0 or m.max() >= n):
            raise MatchFileError(f"{f.to_template_path(name)}: template vertices beyond the template's {n}; the "
                                 "files come from different runs (rerun the collection).")
    return t_to_b[a_to_t], t_to_a[b_to_t]


def write_latent(path, embedding: np.ndarray) -> Path:
    """A shape's latent embedding (float32 ``.npy``)."""
    return _atomic(path, lambda fh: np.save(fh, np.ascontiguousarray(embedding, dtype=np.float32)))


def compose_latent(folder, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """``(p2p_ab, p2p_ba)`` by nearest neighbours between the latent embeddings of ``a`` and
    ``b`` (``p2p_ab[i]``: the vertex of ``b`` whose embedding is nearest to vertex i's of ``a``).

    The embeddings are ``Phi_a A_a`` and ``Phi_b A_b``: the composition of the consistent
    functional maps ``a -> template -> b`` with one rounding to a vertex at the end, instead of
    the two of :func:`compose`. On FAUST_r it is closer to the ground truth (see README)."""
    f = folder if isinstance(folder, CollectionFolder) else CollectionFolder(folder)
    f.check()
    Ea, Eb = f.latent(a), f.latent(b)
    if Ea.shape[1] != Eb.shape[1]:
        raise MatchFileError(f"{f.root}: the latent embeddings of {a} and {b} have {Ea.shape[1]} and {Eb.shape[1]} "
                             "columns; they come from different runs (rerun the collection).")
    return knn_blocked(Ea, Eb), knn_blocked(Eb, Ea)
