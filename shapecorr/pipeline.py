"""The one-call API: ``match(source, target, preset=...) -> Match``.

Flow: load -> normalize (unit area) -> Laplacian + mass -> eigenbasis -> WKS descriptors ->
initial functional map -> ZoomOut -> vertex maps both ways.

The initial map comes, by default (``init="learned"``), from learned features
(:mod:`shapecorr.learn`: a DiffusionNet-style network whose tangent-gradient terms tell left
from right): nearest neighbours in feature space, projected onto the first ``k_init``
eigenfunctions. This works for meshes, point clouds and mixed pairs: a point cloud's tangent
gradients come from its k nearest neighbours, in frames that follow normals estimated by
local PCA and oriented outward (:mod:`shapecorr.core.pointcloud`). With ``init="axiomatic"``
it is an exact functional-map solve (descriptor, Laplacian and descriptor commutativity,
orientation-preserving term); for two meshes, several candidate settings are each refined and
their vertex maps scored by orientation consistency (a left-right flip reverses orientation),
the best kept. Orientation scores need faces: with a point cloud on either side the scores
are None and the first candidate is kept.

Every front end (Python, CLI, viewer) goes through :func:`match`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .core import MatchFileError, Shape, load
from .core.jsonio import json_default
from .fmap import (
    FmapWeights,
    fmap_to_p2p,
    knn_blocked,
    orientation_score,
    orientation_score_fmap,
    p2p_to_fmap,
    solve_fmap,
    zoomout,
)
from .fmap.convert import _usable_cores
from .fmap.refine import farthest_point_sampling_spectral
from .fmap.setup import (  # noqa: F401  (re-exported: the public names live here too)
    PRESET_DIR,
    MatchSettings,
    Prepared,
    available_presets,
    load_preset,
    prepare,
    shape_descriptors,
)
from .spectral import multiplication_operators, orientation_operators

log = logging.getLogger(__name__)


@dataclass
class Match:
    """A dense correspondence between ``source`` (shape 1) and ``target`` (shape 2).

    ``p2p_21[j]``: source vertex matched to target vertex j; ``p2p_12[i]``: target vertex
    matched to source vertex i; ``fmap_12 (k, k)`` carries source functions to the target.
    """

    p2p_21: np.ndarray
    p2p_12: np.ndarray
    fmap_12: np.ndarray
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    source_summary: dict = field(default_factory=dict)
    target_summary: dict = field(default_factory=dict)

    @property
    def source_to_target(self) -> np.ndarray:
        return self.p2p_12

    @property
    def target_to_source(self) -> np.ndarray:
        return self.p2p_21

    def save(self, directory) -> Path:
        """Write ``source_to_target.txt``, ``target_to_source.txt``, ``fmap.npy``, ``match.json``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        np.savetxt(d / "source_to_target.txt", self.p2p_12, fmt="%d")
        np.savetxt(d / "target_to_source.txt", self.p2p_21, fmt="%d")
        np.save(d / "fmap.npy", self.fmap_12)
        meta = {"settings": self.settings, "timings": self.timings, "info": self.info,
                "source": self.source_summary, "target": self.target_summary}
        (d / "match.json").write_text(json.dumps(meta, indent=2, default=json_default))
        return d

    @classmethod
    def load(cls, directory) -> "Match":
        d = Path(directory)
        need = ["source_to_target.txt", "target_to_source.txt", "fmap.npy"]
        missing = [n for n in need if not (d / n).exists()]
        if missing:
            raise MatchFileError(f"{d}: not a saved match (missing {', '.join(missing)}); "
                                 "create one with `shapecorr match SOURCE TARGET --out DIR`.")
        try:
            p2p_12 = np.atleast_1d(np.loadtxt(d / "source_to_target.txt", dtype=np.int64))
            p2p_21 = np.atleast_1d(np.loadtxt(d / "target_to_source.txt", dtype=np.int64))
            fmap = np.load(d / "fmap.npy")
        except ValueError as exc:
            raise MatchFileError(f"{d}: a map file is garbled ({exc}).") from exc
        meta = {}
        for name in ("match.json", "report.json"):
            if (d / name).exists():
                meta = json.loads((d / name).read_text())
                break
        return cls(p2p_21=p2p_21, p2p_12=p2p_12, fmap_12=fmap, settings=meta.get("settings", {}),
                   timings=meta.get("timings", {}), info=meta.get("info", {}),
                   source_summary=meta.get("source", {}), target_summary=meta.get("target", {}))

    def check_shapes(self, source: Shape, target: Shape) -> None:
        """Raise :class:`MatchFileError` if this match does not fit the two shapes."""
        if len(self.p2p_12) != source.n_vertices or len(self.p2p_21) != target.n_vertices:
            raise MatchFileError(
                f"the match has maps of length {len(self.p2p_12)} (source) and {len(self.p2p_21)} (target) "
                f"but the shapes have {source.n_vertices} and {target.n_vertices} vertices; was it computed "
                "for other shapes?")
        if len(self.p2p_12) and (self.p2p_12.max() >= target.n_vertices or self.p2p_12.min() < 0):
            raise MatchFileError("source_to_target refers to target vertices that do not exist.")
        if len(self.p2p_21) and (self.p2p_21.max() >= source.n_vertices or self.p2p_21.min() < 0):
            raise MatchFileError("target_to_source refers to source vertices that do not exist.")



def _as_shape(x) -> Shape:
    if isinstance(x, Shape):
        return x
    return load(x)


def match(source, target, preset: str | dict | MatchSettings | None = None, *, device: str = "cpu",
          progress: Callable[[str, float], None] | None = None, cache: bool | None = None,
          **overrides) -> Match:
    """Dense correspondence between two shapes (paths or :class:`Shape`).

    ``preset``: a name in ``configs/match`` (``default``, ``fast``, ``accurate``), a YAML path, a
    dict or :class:`MatchSettings`; keyword ``overrides`` replace single settings (e.g.
    ``k_final=60``). ``device``: ``"cpu"`` or ``"cuda"`` (eigenbasis and nearest neighbours on the
    GPU). ``progress(stage, fraction)`` is called as stages finish (the CLI prints them).
    ``cache``: False skips the disk cache for this call.
    """
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    settings = load_preset(preset, **overrides)
    limit = threadpool_limits(settings.blas_threads) if settings.blas_threads else nullcontext()
    with limit:
        return _match(source, target, settings, device=device, progress=progress, cache=cache)


def _feature_model_name(s: MatchSettings, P1: Prepared, P2: Prepared) -> str:
    """The feature model for this pair: a pair with a point cloud uses the model that also
    learned from point clouds (``feature_model_point_cloud``), two meshes ``feature_model``."""
    if s.feature_model_point_cloud and not (P1.shape.is_mesh and P2.shape.is_mesh):
        return s.feature_model_point_cloud
    return s.feature_model


def _learned_init(P1: Prepared, P2: Prepared, k: int, s: MatchSettings, device: str, timings: dict,
                  queries: np.ndarray | None = None) -> np.ndarray:
    """Initial ``fmap_12 (k, k)`` from learned features: each target vertex goes to the source
    vertex with the nearest feature, and the map is the projection of that vertex map onto
    the first ``k`` eigenfunctions (ZoomOut then refines it). With ``queries`` (a well-spread
    subset of target vertices) only those are matched and the map is fitted on them by least
    squares, which keeps large shapes cheap."""
    import torch

    from .learn import load_feature_model, surface_operators

    t0 = time.perf_counter()
    name = _feature_model_name(s, P1, P2)
    model = load_feature_model(name, device=device)
    need = max(model.config.k_input, model.config.k_diffusion)
    for P in (P1, P2):
        if P.evecs.shape[1] < min(need, P.shape.n_vertices - 2):
            raise ValueError(f"the feature model {name!r} needs {need} eigenpairs but the setting "
                             f"k_features={s.k_features} gives {P.evecs.shape[1]}; set k_features={need}.")
    feats = []
    threads = torch.get_num_threads()
    torch.set_num_threads(s.feature_threads or _usable_cores())
    try:
        for P in (P1, P2):
            ops = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, model.config, device=device)
            feats.append(model.features(ops))
    finally:
        torch.set_num_threads(threads)
    timings["learned_features"] = round(time.perf_counter() - t0, 4)
    if queries is None:
        p2p_21 = knn_blocked(feats[1], feats[0], device=device)
        return p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, P2.mass, k1=k, k2=k)
    p2p_21 = knn_blocked(feats[1][queries], feats[0], device=device)
    return p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, k1=k, k2=k, queries=queries)


def _match(source, target, s: MatchSettings, *, device: str, progress, cache) -> Match:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    notify = progress or (lambda stage, frac: None)

    def stage(name, frac, t0):
        timings[name] = round(time.perf_counter() - t0, 4)
        log.info("%-14s %.3fs", name, timings[name])
        notify(name, frac)

    t0 = time.perf_counter()
    src, tgt = _as_shape(source), _as_shape(target)
    stage("load", 0.05, t0)

    t0 = time.perf_counter()
    P1 = prepare(src, s, device, cache)
    stage("prepare_source", 0.3, t0)
    t0 = time.perf_counter()
    P2 = prepare(tgt, s, device, cache)
    stage("prepare_target", 0.55, t0)

    t0 = time.perf_counter()
    both_meshes = P1.shape.is_mesh and P2.shape.is_mesh
    use_orient = bool(s.w_orient) and both_meshes
    def make_operators(ss: MatchSettings, descr1: np.ndarray, descr2: np.ndarray) -> Callable[[int], tuple]:
        """The solver's operators for settings ``ss`` and these descriptors, by basis size."""
        ops: dict[int, tuple] = {}

        def operators(k: int) -> tuple:
            """Descriptor projections and commutativity/orientation operators at basis size ``k``,
            memoized; a size already covered by a larger one reuses it (the leading blocks of the
            operators at size k are exactly the operators at a smaller size)."""
            have = [kk for kk in ops if kk >= k]
            if have:
                return ops[min(have)]
            A = P1.evecs[:, :k].T @ (P1.mass[:, None] * descr1)
            B = P2.evecs[:, :k].T @ (P2.mass[:, None] * descr2)
            dcomm = orient = None
            if ss.w_dcomm:
                dcomm = (multiplication_operators(descr1, P1.evecs[:, :k], P1.mass),
                         multiplication_operators(descr2, P2.evecs[:, :k], P2.mass))
            if use_orient:
                orient = (orientation_operators(P1.shape.vertices, P1.shape.faces, descr1, P1.evecs[:, :k], P1.sign),
                          orientation_operators(P2.shape.vertices, P2.shape.faces, descr2, P2.evecs[:, :k], P2.sign))
            ops[k] = (A, B, dcomm, orient)
            return ops[k]

        return operators

    operators = make_operators(s, P1.descr, P2.descr)

    # learned features work on meshes and point clouds alike (a point cloud's tangent frames
    # follow its estimated outward normals, see shapecorr.core.pointcloud), mixed pairs too
    learned = s.init == "learned"
    # candidates: (initial size, kind, orientation-weight multiplier of the axiomatic solve)
    def axiomatic_inits(ss: MatchSettings) -> list:
        if ss.flip_check and use_orient:
            return ([(ss.k_init, "axiomatic", m) for m in ss.orient_candidates]
                    + [(ki, "axiomatic", 1.0) for ki in ss.k_init_candidates])
        return [(ss.k_init, "axiomatic", 1.0)]

    inits = [(s.k_init, "learned", None)] if learned else axiomatic_inits(s)
    if not learned:
        operators(s.k_init)
    n1, n2 = P1.shape.n_vertices, P2.shape.n_vertices
    # both shapes large: a finer mesh resolves more eigenfunctions (see MatchSettings.large_above)
    both_large = min(n1, n2) > s.large_above
    k_final = min(s.k_final_large or s.k_final, P1.evecs.shape[1], P2.evecs.shape[1]) if both_large else s.k_final
    n_samples = (s.zoomout_samples_large or s.zoomout_samples) if both_large else s.zoomout_samples
    samples = None
    if n_samples and n_samples < min(n1, n2):
        samples = (farthest_point_sampling_spectral(P1.evecs, n_samples, seed=s.seed),
                   farthest_point_sampling_spectral(P2.evecs, n_samples, seed=s.seed))
    stage("fmap_operators", 0.6, t0)

    t0 = time.perf_counter()
    # the target's faces wound outward, so that both shapes' orientations are comparable
    faces2_outward = None
    if both_meshes:
        faces2_outward = P2.shape.faces if P2.sign > 0 else P2.shape.faces[:, ::-1]
    # the full-resolution refinement steps are O(n1 n2 k): on larger shapes (CPU) they fit the
    # map on a random subset of refine_max_vertices target vertices instead
    refine_subset = None
    if s.refine_iters and max(n1, n2) > s.refine_max_vertices and not str(device).startswith("cuda"):
        rng = np.random.default_rng(s.seed)
        refine_subset = np.sort(rng.choice(n2, min(s.refine_max_vertices, n2), replace=False))
    # on large shapes the samples' spacing limits the map: match them among all source vertices
    all_source = samples is not None and max(n1, n2) > s.large_above

    def refine_candidates(inits: list, ss: MatchSettings = s, operators=operators) -> tuple[list[dict], dict]:
        """Each initial map refined by ZoomOut and scored; stops at the first candidate whose
        vertex map is orientation-consistent enough (``accept_score``); the best by that score.
        ``ss``/``operators``: the settings and operators of the axiomatic solve."""
        out = []
        for ki, kind, mult in inits:
            if kind == "learned":
                C0 = _learned_init(P1, P2, ki, s, device, timings, queries=None if samples is None else samples[1])
            else:
                A, B, dcomm, orient = operators(ki)
                w = FmapWeights(descr=ss.w_descr, lap=ss.w_lap, dcomm=ss.w_dcomm, orient=ss.w_orient * mult)
                C0 = solve_fmap(A[:ki], B[:ki], P1.evals, P2.evals, w,
                                dcomm_ops=None if dcomm is None else (dcomm[0][:, :ki, :ki], dcomm[1][:, :ki, :ki]),
                                orient_ops=None if orient is None else (orient[0][:, :ki, :ki],
                                                                        orient[1][:, :ki, :ki]))
            C, p2p_21 = zoomout(C0, P1.evecs, P2.evecs, P2.mass, k_final=k_final, step=s.zoomout_step,
                                samples=samples, device=device, refine_iters=s.refine_iters,
                                refine_subset=refine_subset, sample_source=not all_source)
            score = smooth = float("nan")
            if both_meshes:
                score = orientation_score(p2p_21, P1.shape.vertices, P1.vertex_normals, P2.shape.vertices,
                                          faces2_outward)
                smooth = orientation_score_fmap(C, P1.evecs, P1.mass, P1.shape.vertices, P1.vertex_normals,
                                                P2.evecs, P2.shape.vertices, faces2_outward)
            out.append({"k_init": ki, "init": kind,
                        "w_orient_multiplier": mult, "orientation_score": score,
                        "orientation_score_smooth": smooth, "C": C, "p2p_21": p2p_21})
            if not np.isfinite(score) or score >= s.accept_score:
                break
        return out, max(out, key=lambda c: (c["orientation_score"] if np.isfinite(c["orientation_score"]) else 0.0))

    candidates, best = refine_candidates(inits)
    fallback = (learned and both_meshes and s.fallback_below is not None
                and np.isfinite(best["orientation_score_smooth"]) and best["orientation_score_smooth"] < s.fallback_below)
    if fallback:
        # the learned map is not orientation-consistent (a partial left-right flip, or a shape
        # class the model does not know): the axiomatic candidates run too, and the map whose
        # functional map preserves orientation better is kept. The fallback solve has its own
        # settings (fallback_settings: by default pyfmaps' weights and WKS from 100 eigenpairs,
        # which suit shape classes far from the model's humans)
        sf, ops_fb = s, operators
        if s.fallback_settings:
            sf = s.fallback()
            ops_fb = make_operators(sf, shape_descriptors(P1.evals, P1.evecs, P1.mass, sf),
                                    shape_descriptors(P2.evals, P2.evecs, P2.mass, sf))
        more, alt = refine_candidates(axiomatic_inits(sf), sf, ops_fb)
        candidates += more
        if alt["orientation_score_smooth"] > best["orientation_score_smooth"]:
            best = alt
    stage("fmap_zoomout", 0.9, t0)

    t0 = time.perf_counter()
    C = best["C"]
    p2p_21 = best["p2p_21"]
    # reverse direction through the adjoint: near-isometries have near-orthogonal fmaps
    p2p_12 = fmap_to_p2p(C.T, P2.evecs, P1.evecs, device=device)
    stage("p2p", 1.0, t0)
    timings["total"] = round(time.perf_counter() - t_all, 4)

    def finite(x):  # NaN (no orientation on point clouds) is not valid JSON: None instead
        return float(x) if np.isfinite(x) else None

    info = {
        "candidates": [{"k_init": c["k_init"], "init": c["init"], "w_orient_multiplier": c["w_orient_multiplier"],
                        "orientation_score": finite(c["orientation_score"]),
                        "orientation_score_smooth": finite(c["orientation_score_smooth"])} for c in candidates],
        "init": best["init"],
        "feature_model": _feature_model_name(s, P1, P2) if learned else None,
        # the learned map's smooth orientation score was below fallback_below: axiomatic candidates ran too
        "axiomatic_fallback": bool(fallback),
        "chosen_w_orient_multiplier": best["w_orient_multiplier"],
        "orientation_score": finite(best["orientation_score"]),
        # the same measured on the functional map (smooth, resolution-independent): about 0.9
        # for correct maps of FAUST_r humans, lower for partial left-right flips
        "orientation_score_smooth": finite(best["orientation_score_smooth"]),
        "device": str(device),
        "refine_iters": s.refine_iters,
        "refine_on_subsets": refine_subset is not None,
        "zoomout_samples_matched_to_all_source": bool(all_source),
        "k_final": int(k_final),
        "zoomout_samples": int(len(samples[1])) if samples is not None else None,
        # "point_cloud": no faces (learned init: estimated outward normals, kNN gradients;
        # no orientation scores)
        "shape_kinds": ["mesh" if P.shape.is_mesh else "point_cloud" for P in (P1, P2)],
    }
    return Match(p2p_21=p2p_21, p2p_12=p2p_12, fmap_12=C, settings=s.to_dict(), timings=timings, info=info,
                 source_summary=src.summary(), target_summary=tgt.summary())
