"""Match settings and presets, and the per-shape preparation every matcher shares.

A preset is a named set of :class:`MatchSettings` in ``configs/match/NAME.yaml``.
:func:`prepare` turns a shape into what the functional-map solver needs (normalized shape,
eigenbasis, descriptors, orientation), computed once and cached; the pipeline and the
applications (e.g. texture transfer re-using a match's bases) call it with the same settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..core import Shape
from ..spectral import eigenbasis, laplacian, normalize_descriptors, orientation_sign, wks

PRESET_DIR = Path(__file__).resolve().parents[2] / "configs" / "match"


# the fallback solve's settings (see MatchSettings.fallback_settings) and which may be set
FALLBACK_SETTINGS = {"w_lap": 0.1, "w_dcomm": 1.0, "k_descriptor": 100}
FALLBACK_KEYS = ("descriptor", "n_descriptors", "descriptor_step", "k_descriptor", "w_descr", "w_lap", "w_dcomm",
                 "w_orient", "orient_candidates", "k_init_candidates", "k_init", "accept_score")


@dataclass
class MatchSettings:
    """Every parameter of the default pipeline (a preset is a named set of these)."""

    init: str = "learned"  # initial map: "learned" (feature nearest neighbours) or "axiomatic" (WKS fmap solve)
    feature_model: str = "faust_r_wks"  # bundled model name or .pt path (init="learned")
    # the model for pairs with a point cloud (None: feature_model); the bundled one was fine-tuned
    # on the same shapes as meshes and as point clouds of their vertices
    feature_model_point_cloud: str | None = "faust_r_wks_pc"
    k_features: int = 100  # eigenpairs computed for the feature network (>= its k_input and k_diffusion)
    feature_threads: int | None = None  # torch CPU threads for the feature network (None: all usable cores);
    # unlike the small BLAS calls below, the network's matrix products gain from every core
    k_init: int = 30  # size of the initial functional map
    k_final: int = 100  # ZoomOut target size
    zoomout_step: int = 5
    zoomout_samples: int | None = 2000  # vertices per shape used by the ZoomOut steps (None: all)
    refine_iters: int = 2  # full-resolution ZoomOut iterations at k_final after the sampled ones
    refine_max_vertices: int = 8000  # above this size (CPU), refine on this many random target vertices
    # shapes with more vertices than this are "large": ZoomOut samples of the target are matched
    # among all source vertices, and when both shapes are large the map grows to k_final_large
    # on zoomout_samples_large samples (a finer mesh resolves more eigenfunctions: FAUST_r
    # subdivided to 80k vertices, 5 pairs: 1.39 -> 1.26 x100, vs 1.32 for the same pairs at 5k)
    large_above: int = 8000
    k_final_large: int | None = 130  # None: k_final
    zoomout_samples_large: int | None = 5000  # None: zoomout_samples
    descriptor: str = "wks"
    n_descriptors: int = 100
    descriptor_step: int = 2  # keep every n-th descriptor in the energy
    k_descriptor: int = 40  # eigenpairs used to build descriptors (fewer = smoother, more robust)
    w_descr: float = 1.0
    w_lap: float = 0.01
    w_dcomm: float = 0.1
    w_orient: float = 1.0
    orient_candidates: tuple = (1.0,)  # w_orient multipliers tried (at k_init) when flips are handled
    k_init_candidates: tuple = (20, 40)  # further initial-map sizes tried (w_orient x1) after those
    flip_check: bool = True  # keep the candidate whose vertex map preserves orientation best
    accept_score: float = 0.5  # a candidate this orientation-consistent is kept without trying others
    # a learned map (two meshes) whose smooth orientation score (orientation_score_fmap; correct
    # FAUST_r maps ~0.9, left-right flips negative) is below this also runs the axiomatic
    # candidates and the more orientation-consistent map is kept (None: never)
    fallback_below: float | None = 0.6
    # the axiomatic solve of that fallback: these settings replace the ones above (None or {}:
    # the same solve as init="axiomatic"); by default pyfmaps' README weights and WKS from 100
    # eigenpairs, which suit shape classes far from the model's humans (TOSCA_r animals)
    fallback_settings: dict | None = field(default_factory=lambda: dict(FALLBACK_SETTINGS))
    laplacian: str = "auto"
    seed: int = 0
    blas_threads: int | None = 1  # BLAS/OpenMP threads inside match (None: library default).
    # One thread is as fast here (the matrices are small) and immune to the 3-10x slow-down of
    # spinning BLAS threads when other processes share the cores.

    def __post_init__(self):
        if self.init not in ("learned", "axiomatic"):
            raise ValueError(f"unknown init {self.init!r}; use 'learned' (learned features) or 'axiomatic' (WKS functional-map solve).")
        bad = set(self.fallback_settings or {}) - set(FALLBACK_KEYS)
        if bad:
            raise ValueError(f"fallback_settings: {sorted(bad)} cannot be set for the fallback solve; "
                             f"allowed: {', '.join(FALLBACK_KEYS)}.")

    def fallback(self) -> "MatchSettings":
        """These settings with ``fallback_settings`` applied (the fallback's axiomatic solve)."""
        d = self.to_dict()
        d.update(self.fallback_settings or {})
        d["fallback_settings"] = None
        return MatchSettings.from_dict(d)

    def k_needed(self) -> int:
        """Eigenpairs the solver needs on a shape (before learned-feature, fallback or large-shape extras)."""
        return max(self.k_final, self.k_init, self.k_descriptor, *self.k_init_candidates)

    @classmethod
    def from_dict(cls, d: dict) -> "MatchSettings":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown match setting(s) {sorted(unknown)}; known: {sorted(names)}.")
        d = dict(d)
        for name in ("orient_candidates", "k_init_candidates"):
            if name in d:
                d[name] = tuple(d[name])
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["orient_candidates"] = list(self.orient_candidates)
        d["k_init_candidates"] = list(self.k_init_candidates)
        return d


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.exists() else []


def load_preset(preset: str | Path | dict | MatchSettings | None = None, **overrides) -> MatchSettings:
    """A preset by name (``configs/match/NAME.yaml``), by YAML path, as a dict, or the default."""
    import yaml

    if isinstance(preset, MatchSettings):
        base = preset.to_dict()
    elif isinstance(preset, dict):
        base = dict(preset)
    elif preset is None or preset == "default":
        path = PRESET_DIR / "default.yaml"
        base = yaml.safe_load(path.read_text()) if path.exists() else {}
    else:
        path = Path(preset)
        if path.suffix not in (".yaml", ".yml"):
            path = PRESET_DIR / f"{preset}.yaml"
        if not path.exists():
            raise ValueError(f"unknown preset {str(preset)!r}; available: {', '.join(available_presets()) or 'none'} "
                             "(or give the path of a YAML file).")
        base = yaml.safe_load(path.read_text()) or {}
    base.pop("description", None)
    # a size asked for explicitly holds at every resolution: k_final=60 (e.g. the CLI's --k)
    # must not become the large-shape default on large shapes
    for name in ("k_final", "zoomout_samples"):
        if name in overrides and f"{name}_large" not in overrides:
            overrides[f"{name}_large"] = None
    if "feature_model" in overrides and "feature_model_point_cloud" not in overrides:
        overrides["feature_model_point_cloud"] = None  # a model asked for is used for point clouds too
    base.update(overrides)
    return MatchSettings.from_dict(base)


@dataclass
class Prepared:
    shape: Shape  # normalized
    evals: np.ndarray
    evecs: np.ndarray
    mass: np.ndarray
    descr: np.ndarray  # (n, p), M-normalized
    sign: float  # +1 outward faces, -1 inward (1.0 for point clouds)
    # outward unit normals: a mesh's (faces' winding corrected by ``sign``); a point cloud's
    # estimated and oriented (shapecorr.core.pointcloud) when init="learned", else None
    vertex_normals: np.ndarray | None


def prepare(shape: Shape, s: MatchSettings, device: str = "cpu", cache: bool | None = None) -> Prepared:
    """Normalization, basis and descriptors of one shape (cached)."""
    k_max = s.k_needed()
    if shape.n_vertices > s.large_above and s.k_final_large:
        k_max = max(k_max, min(s.k_final_large, shape.n_vertices - 2))
    if s.init == "learned":
        # the feature network was trained on WKS and diffusion from a fixed number of
        # eigenpairs; fewer (e.g. the fast preset's 50) would feed it inputs it never saw.
        # Capped for tiny shapes, which cannot have that many (the network uses what there is).
        k_max = max(k_max, min(s.k_features, shape.n_vertices - 2))
        if s.fallback_below is not None and s.fallback_settings:  # the fallback solve's descriptors
            k_max = max(k_max, min(s.fallback().k_needed(), shape.n_vertices - 2))
    if shape.is_mesh:
        norm = shape.normalized()
    else:  # unit area from the point-cloud mass (the surface area it represents)
        _, mass_raw = laplacian(shape, s.laplacian, cache=cache)
        norm = shape.normalized(area=float(mass_raw.sum()))
    basis = eigenbasis(norm, k_max, laplacian_kind=s.laplacian, device=device, cache=cache)
    descr = shape_descriptors(basis.evals, basis.evecs, basis.mass, s)
    sign = orientation_sign(norm.vertices, norm.faces) if norm.is_mesh else 1.0
    if norm.is_mesh:
        vn = norm.vertex_normals * sign
    elif s.init == "learned":  # the learned features' tangent frames need outward normals
        from ..core.pointcloud import outward_normals

        vn = outward_normals(norm.vertices)
    else:
        vn = None
    return Prepared(norm, basis.evals, basis.evecs, basis.mass, descr, sign, vn)


def shape_descriptors(evals: np.ndarray, evecs: np.ndarray, mass: np.ndarray, s: MatchSettings) -> np.ndarray:
    """The solver's descriptors ``(n, p)`` (WKS or HKS from ``s.k_descriptor`` eigenpairs, every
    ``s.descriptor_step``-th kept), M-normalized."""
    kd = min(s.k_descriptor, len(evals))
    if s.descriptor == "wks":
        descr = wks(evals[:kd], evecs[:, :kd], s.n_descriptors)
    elif s.descriptor == "hks":
        from ..spectral import hks

        descr = hks(evals[:kd], evecs[:, :kd], n_times=s.n_descriptors)
    else:
        raise ValueError(f"unknown descriptor {s.descriptor!r}; use 'wks' or 'hks'.")
    return normalize_descriptors(descr[:, :: max(1, s.descriptor_step)], mass)
