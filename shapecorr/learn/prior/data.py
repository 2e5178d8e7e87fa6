"""Training data of the prior: ``k x k`` functional maps from ground truth, as sign-free images.

Where the maps come from
------------------------
* pairs of shapes with a common template (FAUST_r, TOSCA_r: ``corres/NAME.vts`` line ``i`` is
  the vertex of NAME at template point ``i``): the map is fitted by least squares on the
  template points (:func:`fmap_from_correspondence`, :func:`shapecorr.fmap.p2p_to_fmap` with
  ``queries``);
* deformed copies of any mesh (:func:`bent_remeshed_copy`): bent by smooth rotations of a part
  about a joint, subdivided and decimated to another vertex count, so the copy has its own mesh;
  each copy vertex lies (after projection) on a known face of the bent original, and the same
  point of the unbent original is its exact correspondent (:func:`fmap_from_barycentric`).

Signs and order of the eigenfunctions
-------------------------------------
Each shape's eigenfunctions are defined up to sign (and, for repeated or nearly repeated
eigenvalues, up to a rotation within their eigenspace). A ground-truth map between two shapes
therefore carries arbitrary signs on its rows and columns: ``C = S2 C0 S1`` with random diagonal
``S1``, ``S2`` of +-1. We model ``|C|`` (:func:`prior_image`), as DiffuMatch does: it is
invariant to those signs, keeps the near-diagonal "funnel" and the off-diagonal blocks where
eigenfunctions of close eigenvalues mix, and needs no fragile sign convention. The price: a
map and its left-right mirror (which differs from it by signs of the antisymmetric
eigenfunctions) look the same to the prior, so the prior cannot detect symmetry flips.
Users of the prior put the signs back from the map being regularized
(:func:`shapecorr.learn.prior.guidance.refine_toward_prior`).

Every map is stored in the library's direction convention: ``fmap_12`` is ``(k2, k1)`` and
carries functions of shape 1 to shape 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import SettingsError, Shape
from ...core.errors import DatasetError
from ...core.proxy import decimate, interpolation_matrix, project_on_mesh
from ...fmap import p2p_to_fmap

DATA_FORMAT = "shapecorr-prior-data-1"


# ---------------------------------------------------------------------- maps from ground truth
def fmap_from_correspondence(evecs1: np.ndarray, evecs2: np.ndarray, idx1: np.ndarray, idx2: np.ndarray,
                             k: int) -> np.ndarray:
    """``fmap_12 (k, k)`` of a correspondence given on points: vertex ``idx1[i]`` of shape 1
    matches vertex ``idx2[i]`` of shape 2 (e.g. both shapes' template points).

    Least squares on the matched points: ``C = argmin ||Phi2[idx2] C^T - Phi1[idx1]||``, i.e.
    :func:`shapecorr.fmap.p2p_to_fmap` with ``queries=idx2``.
    """
    idx1 = np.asarray(idx1, dtype=np.int64)
    idx2 = np.asarray(idx2, dtype=np.int64)
    if idx1.shape != idx2.shape or idx1.ndim != 1:
        raise DatasetError(f"the two correspondence lists differ in length ({idx1.shape} vs {idx2.shape}); "
                           "are they from the same template?")
    if len(idx1) < k:
        raise DatasetError(f"{len(idx1)} corresponding points cannot determine a {k} x {k} functional map; "
                           f"use k <= {len(idx1)}.")
    return p2p_to_fmap(idx1, evecs1, evecs2, k1=k, k2=k, queries=idx2)


def fmap_from_barycentric(evecs1: np.ndarray, faces1: np.ndarray, face: np.ndarray, bary: np.ndarray,
                          evecs2: np.ndarray, mass2: np.ndarray, k: int) -> np.ndarray:
    """``fmap_12 (k, k)`` when every vertex ``j`` of shape 2 corresponds to the point
    ``bary[j] @ vertices1[faces1[face[j]]]`` of shape 1: ``C = Phi2^T M2 B Phi1`` with ``B`` the
    barycentric interpolation (the pull-back of shape 1's eigenfunctions, exact on the surface)."""
    B = interpolation_matrix(np.asarray(faces1), np.asarray(face), np.asarray(bary), len(evecs1))
    pulled = B @ evecs1[:, :k]  # (n2, k)
    return evecs2[:, :k].T @ (np.asarray(mass2)[:, None] * pulled)


def prior_image(fmap: np.ndarray, k: int | None = None) -> np.ndarray:
    """The sign-free image the prior models: ``|C|`` of the leading ``k x k`` block (float32).

    Accepts one map ``(k2, k1)`` or a stack ``(n, k2, k1)``.
    """
    C = np.asarray(fmap)
    if C.ndim not in (2, 3):
        raise SettingsError(f"a functional map is a (k, k) array or a stack (n, k, k); got shape {C.shape}.")
    if k is not None:
        if min(C.shape[-2:]) < k:
            raise SettingsError(f"the prior needs at least a {k} x {k} map; got {C.shape[-2]} x {C.shape[-1]}.")
        C = C[..., :k, :k]
    return np.abs(C).astype(np.float32)


# ------------------------------------------------------------------------- deformed copies
def midpoint_subdivide(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of midpoint subdivision: every triangle into four (same surface, finer mesh)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    edges, inverse = np.unique(e, axis=0, return_inverse=True)
    inverse = inverse.reshape(3, len(f)).T + len(v)  # midpoint vertex of edges (01, 12, 20)
    mids = 0.5 * (v[edges[:, 0]] + v[edges[:, 1]])
    a, b, c = f.T
    ab, bc, ca = inverse.T
    new_faces = np.concatenate([np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1),
                                np.stack([ca, bc, c], 1), np.stack([ab, bc, ca], 1)])
    return np.concatenate([v, mids]), new_faces


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def bend(vertices: np.ndarray, rng: np.random.Generator, *, n_joints: int = 2,
         max_angle: float = 0.9) -> np.ndarray:
    """Bend a shape at ``n_joints`` random "joints": the part beyond a random plane is rotated
    about an axis in that plane, the angle ramping smoothly over a band around it (like skinning
    with a smooth weight); away from the band the shape moves rigidly, so the bend is close to
    an isometry. Vertex order is kept."""
    v = np.asarray(vertices, dtype=np.float64).copy()
    extent = float(np.ptp(v, axis=0).max())
    for _ in range(n_joints):
        q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        along, axis = q[:, 0], q[:, 1]
        t = (v - v.mean(0)) @ along
        t0 = rng.uniform(np.quantile(t, 0.25), np.quantile(t, 0.75))
        width = rng.uniform(0.05, 0.2) * extent
        angle = rng.uniform(-max_angle, max_angle)
        pivot = v.mean(0) + (t0 - ((v - v.mean(0)) @ along).mean()) * along
        theta = angle * _smoothstep((t - t0) / width + 0.5)
        p = v - pivot
        cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
        # Rodrigues' rotation of every point about ``axis`` by its own angle
        v = pivot + p * cos + np.cross(axis, p) * sin + np.outer(p @ axis, axis) * (1 - cos)
    return v


@dataclass(frozen=True)
class DeformedCopy:
    """A bent, remeshed copy of a mesh with the exact correspondence both ways.

    ``copy`` vertex ``j`` is the point ``bary_on_original[j]`` of face ``face_on_original[j]`` of
    the original; original vertex ``i`` is the point ``bary_on_copy[i]`` of face
    ``face_on_copy[i]`` of the copy (up to the projection distance)."""

    copy: Shape
    face_on_original: np.ndarray
    bary_on_original: np.ndarray
    face_on_copy: np.ndarray
    bary_on_copy: np.ndarray


def bent_remeshed_copy(shape: Shape, rng: np.random.Generator, *, size_range: tuple[float, float] = (0.7, 1.0),
                       n_joints: int = 2, max_angle: float = 0.9) -> DeformedCopy:
    """A copy of ``shape`` (a mesh) bent by :func:`bend`, subdivided once and decimated to a
    random fraction ``size_range`` of its vertex count: a new mesh whose map to the original is
    known exactly (each of its vertices projected onto the bent original)."""
    if not shape.is_mesh:
        raise SettingsError(f"{shape.name}: a deformed copy needs a mesh (faces).")
    bent = bend(shape.vertices, rng, n_joints=n_joints, max_angle=max_angle)
    fine_v, fine_f = midpoint_subdivide(bent, shape.faces)
    n_target = max(16, int(np.rint(shape.n_vertices * rng.uniform(*size_range))))
    cv, cf = decimate(fine_v, fine_f, n_target)
    copy = Shape(cv, cf, name=f"{shape.name}_bent")
    face_o, bary_o, _ = project_on_mesh(cv, bent, shape.faces, point_normals=copy.vertex_normals)
    bent_normals = shape.copy(vertices=bent).vertex_normals
    face_c, bary_c, _ = project_on_mesh(bent, cv, cf, point_normals=bent_normals)
    return DeformedCopy(copy, face_o, bary_o, face_c, bary_c)


# --------------------------------------------------------------------------- the data file
@dataclass
class PriorData:
    """A collection of training maps: ``maps (n, k, k)`` float32 signed functional maps (the
    prior models ``|maps|``) with, per map, the source and target names, the kind
    (``"pair"`` or ``"deformed"``) and the category (``"human"``, ``"cat"`` ...)."""

    maps: np.ndarray
    source: list[str]
    target: list[str]
    kind: list[str]
    category: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.maps = np.asarray(self.maps, dtype=np.float32)
        n = len(self.maps)
        if self.maps.ndim != 3 or self.maps.shape[1] != self.maps.shape[2]:
            raise DatasetError(f"prior data: maps must be (n, k, k); got {self.maps.shape}.")
        for name in ("source", "target", "kind", "category"):
            if len(getattr(self, name)) != n:
                raise DatasetError(f"prior data: {name} has {len(getattr(self, name))} entries for {n} maps.")

    @property
    def k(self) -> int:
        return int(self.maps.shape[1])

    def __len__(self) -> int:
        return len(self.maps)

    def images(self) -> np.ndarray:
        """``|C|`` of every map, ``(n, k, k)`` float32."""
        return prior_image(self.maps)

    def select(self, categories=None, kinds=None) -> PriorData:
        """The maps of the given categories and kinds (None: all)."""
        keep = np.ones(len(self), dtype=bool)
        if categories is not None:
            keep &= np.isin(self.category, list(categories))
        if kinds is not None:
            keep &= np.isin(self.kind, list(kinds))
        idx = np.flatnonzero(keep)
        pick = (lambda xs: [xs[i] for i in idx])
        meta = dict(self.meta, selected={"categories": None if categories is None else sorted(categories),
                                         "kinds": None if kinds is None else sorted(kinds)})
        return PriorData(self.maps[idx], pick(self.source), pick(self.target), pick(self.kind),
                         pick(self.category), meta)

    @classmethod
    def concatenate(cls, parts: list[PriorData]) -> PriorData:
        """One collection of the maps of several (of the same size)."""
        if not parts:
            raise DatasetError("no prior data to concatenate.")
        sizes = sorted({p.k for p in parts})
        if len(sizes) > 1:
            raise DatasetError(f"prior data files hold maps of different sizes {sizes}; make them with the same --k.")
        if len(parts) == 1:
            return parts[0]
        cat = (lambda name: [x for p in parts for x in getattr(p, name)])
        return cls(np.concatenate([p.maps for p in parts]), cat("source"), cat("target"), cat("kind"),
                   cat("category"), {"parts": [p.meta for p in parts]})

    def counts(self) -> dict:
        """Number of maps per (kind, category)."""
        out: dict[str, int] = {}
        for kd, cat in zip(self.kind, self.category):
            out[f"{kd}/{cat}"] = out.get(f"{kd}/{cat}", 0) + 1
        return dict(sorted(out.items()))

    def save(self, path) -> Path:
        """Write an ``.npz`` (no pickles; names and metadata as JSON)."""
        path = Path(path)
        labels = json.dumps({"source": self.source, "target": self.target, "kind": self.kind,
                             "category": self.category})
        meta = json.dumps({"format": DATA_FORMAT, **self.meta})
        np.savez_compressed(path, maps=self.maps, labels=np.array(labels), meta=np.array(meta))
        return path

    @classmethod
    def load(cls, path) -> PriorData:
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: no such prior data file (make one with scripts/make_prior_data.py).")
        try:
            with np.load(path, allow_pickle=False) as z:
                maps = z["maps"]
                labels = json.loads(str(z["labels"]))
                meta = json.loads(str(z["meta"]))
        except (OSError, KeyError, ValueError) as exc:
            raise DatasetError(f"{path}: not a prior data file ({exc}); make one with "
                               "scripts/make_prior_data.py.") from exc
        if meta.get("format") != DATA_FORMAT:
            raise DatasetError(f"{path}: unknown prior data format {meta.get('format')!r} (expected {DATA_FORMAT}).")
        meta.pop("format")
        return cls(maps, labels["source"], labels["target"], labels["kind"], labels["category"], meta)


# ----------------------------------------------------------------------------- statistics
def map_statistics(images: np.ndarray, band: int = 2) -> dict:
    """Structure of ``|C|`` images ``(n, k, k)`` (or one ``(k, k)``), averaged over the maps:
    ``diagonal_fraction`` (share of the squared entries on the diagonal), ``band_fraction``
    (within ``band`` of it), ``row_norm`` (mean Euclidean norm of a row; 1 for an orthogonal map)
    and ``mean_diagonal`` (mean diagonal entry). Real maps between near-isometric shapes are
    near-diagonal with a band that widens with frequency; a random matrix is not."""
    X = np.abs(np.asarray(images, dtype=np.float64))
    if X.ndim == 2:
        X = X[None]
    k = X.shape[-1]
    i, j = np.indices((k, k))
    sq = X ** 2
    total = np.maximum(sq.sum(axis=(1, 2)), 1e-30)
    return {"n": len(X),
            "diagonal_fraction": float((np.einsum("nii->n", sq) / total).mean()),
            "band_fraction": float((sq[:, np.abs(i - j) <= band].sum(1) / total).mean()),
            "row_norm": float(np.sqrt(sq.sum(2)).mean()),
            "mean_diagonal": float(np.einsum("nii->n", X).mean() / k)}
