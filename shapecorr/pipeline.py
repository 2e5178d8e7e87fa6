"""The one-call API: ``match(source, target, preset=...) -> Match``, as named steps.

1. :func:`plan_pair`      sizes for this pair (basis sizes, final map size, ZoomOut samples)
2. :func:`prepare_pair_work` normalize both shapes, eigenbases, outward normals (cached), and each
                          shape's own work (:func:`shape_work`), both shapes at once where it pays
3. initial maps           learned features (:func:`shape_features`, computed with each shape's
                          preparation) matched by :func:`features_to_fmap` (default),
                          :func:`axiomatic_initial_map` (WKS, orientation-aware exact solve) or
                          :func:`zeroshot_initial_map` (a random network trained on the pair; on two
                          meshes its features also go through the exact solve, :func:`zeroshot_solves`)
4. :func:`refine`         ZoomOut to the final size, then both vertex maps
5. :func:`assess`         orientation scores and the ground-truth-free confidence
6. :func:`select`         one rule: the candidate with the highest confidence
7. feature solves         two meshes whose learned map is below ``fallback_below`` (not trusted,
                          or trusted but not near-certain): exact solves on the learned features
                          (:data:`FEATURE_SOLVES`)
8. adaptation             with ``adapt_when`` "always", or "low_confidence" and an untrusted
                          learned map: :func:`adapted_pair_features` (the network fine-tuned on
                          the pair, no ground truth, with the ``adapt_regularizer`` loss) give
                          one more candidate, refined with those features as guides; with
                          "replace" it replaces the model's own (step 3)
9. fallback               a learned or zero-shot map below ``fallback_below`` also runs the axiomatic
                          candidates (on a pair with a point cloud, first exact solves on the learned
                          features)
10. zero-shot retries     a zero-shot match whose kept map is still untrusted: up to
                          ``zeroshot_retries`` more random starts (:meth:`_Run._zeroshot_retries`)

Every candidate map is a :class:`Candidate`; every front end (Python, CLI, viewer) goes
through :func:`match`.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .config import MatchSettings, SolveSettings, available_presets, load_preset, presets_like  # noqa: F401 (re-exported)
from .core import LowConfidenceWarning, SettingsError, Shape, TooFewPointsError, check_device, load
from .fmap import FmapWeights, knn_blocked, p2p_to_fmap, solve_fmap
from .fmap.confidence import keeps_trust
from .fmap.convert import usable_cores
from .fmap.landmarks import (check_landmarks, enforce_landmarks, landmark_errors, landmark_functions,
                             landmark_times)
from .fmap.prepare import Prepared, prepare_shape, prepare_shapes, shape_descriptors
from .fmap.refine import (bijective_zoomout, farthest_point_sampling_spectral, feature_agreement, feature_guides,
                          guided_p2p, maps_agreement, zoomout)
from .result import Match
from .spectral import multiplication_operators, orientation_operators

log = logging.getLogger(__name__)

#: initial maps that run a feature network (they need its eigenpairs and outward normals)
NETWORK_INITS = ("learned", "zeroshot")
#: candidates whose ZoomOut is guided by the learned features (``guide_weight``)
GUIDED_INITS = ("learned", "learned_reverse")
#: the precision polish grows the map to at most n / this many eigenfunctions (n: the smaller
#: shape's vertices). It was chosen on 5k-vertex shapes growing to 140 (about 35 vertices each);
#: a coarser shape's higher eigenfunctions follow its meshing more than its geometry (a rigid copy
#: matched through 700-vertex proxies lost precision when grown from 30 to 70), so it polishes less
POLISH_VERTICES_PER_FUNCTION = 35

__all__ = ["match", "Match", "MatchSettings", "load_preset", "available_presets", "Candidate", "PairPlan",
           "plan_pair", "prepare", "prepare_pair", "prepare_pair_work", "ShapeWork", "as_shape"]


def as_shape(x, *, strict: bool = False) -> Shape:
    """A :class:`Shape` as it is, or loaded from a path."""
    return x if isinstance(x, Shape) else load(x, strict=strict)


def match(source, target, preset: str | dict | MatchSettings | None = None, *, device: str = "cpu",
          progress: Callable[[str, float], None] | None = None, cache: bool | None = None,
          strict: bool = False, landmarks=None, **overrides) -> Match:
    """Dense correspondence between two shapes (paths or :class:`Shape`).

    ``preset``: a shipped name (``default``, ``fast``, ``accurate``, ``axiomatic``), a YAML path,
    a dict or :class:`MatchSettings`; keyword ``overrides`` replace single settings (e.g.
    ``k_final=60``). ``device``: ``"cpu"`` or ``"cuda"``. ``progress(stage, fraction)`` is
    called as stages finish. ``cache``: False skips the disk cache for this call. ``strict``:
    refuse imperfect meshes given as paths instead of handling them with a warning.
    ``landmarks``: ``(source vertex, target vertex)`` pairs (0-based) known to correspond, three
    or more spread over the shape (nose, tail tip, paws), for shapes far from isometric (a cat
    and a dog) whose map swaps parts: maps made from them (:mod:`shapecorr.fmap.landmarks`) join
    the candidates, the most trusted map that holds them is kept (:func:`select_holding`), and
    each pair is then held exactly; ``info["landmarks"]`` says how far the map was from them
    before that, ``info["init"]`` which map was kept.

    The result's ``info["confidence"]`` says how much to trust it; below the calibrated
    threshold a :class:`~shapecorr.core.LowConfidenceWarning` is emitted too. A pair matched
    again with ``second_model`` whose two maps disagree on most of the target is flagged too,
    and the other match is the result's ``alternative``.

    A pair with a point cloud matched through reconstructed surfaces (``point_cloud_surface``)
    whose map is not trusted is matched as points too, and the more trusted map is kept
    (``info["point_cloud_paths"]``); a mesh and a cloud whose map is still not trusted, or
    a mesh matched against a cloud's raw points that carry their own normals, are then matched
    as two clouds too (the mesh as the cloud of its vertices), the more trusted kept.
    """
    from threadpoolctl import threadpool_limits

    t_call = time.perf_counter()
    device = check_device(device)  # a clear error before any work
    settings = load_preset(preset, **overrides)
    limit = threadpool_limits(settings.blas_threads) if settings.blas_threads else nullcontext()
    with limit:
        src, tgt = as_shape(source, strict=strict), as_shape(target, strict=strict)
        lm = None if landmarks is None else check_landmarks(landmarks, src.n_vertices, tgt.n_vertices)
        result = _Run(settings, device, progress, cache, landmarks=lm).match(src, tgt, strict)
        if _through_surface(result) and result.info["confidence_low"]:
            result = _more_trusted_of_both_paths(result, _Run(settings.replace(point_cloud_surface="none"), device,
                                                              progress, cache, landmarks=lm).match(src, tgt, strict))
        if (result.info["confidence_low"] or _mesh_against_points_with_normals(result, src, tgt)) \
                and usable_as_points(src, tgt):
            result = _more_trusted_as_two_clouds(result, _Run(settings.replace(point_cloud_surface="none"), device,
                                                              progress, cache, mesh_as_points=True, landmarks=lm
                                                              ).match(src, tgt, strict))
    if lm is None and _second_model_runs(settings, result, src, tgt):  # landmarks: no learned map to compare
        said = None if progress is None else (lambda stage, fraction: progress(f"second model: {stage}", fraction))
        result = _more_trusted_with_the_second_model(result, _Run(settings.replace(feature_model=settings.fallback.second_model),
                                                                  device, said, cache).match(src, tgt, strict),
                                                     src, settings.fallback.flag_disagreement_below)
    _whole_call_total(result, time.perf_counter() - t_call)
    _flag_undecided_sides(result.info, src, tgt)
    warn_if_not_trusted(result.info, src.name, tgt.name)
    return result


def not_trusted_message(info: dict, source_name: str, target_name: str) -> str | None:
    """Why a match is not trusted, in one line, from its ``info`` (as :func:`match` left it, or as
    a saved match keeps it); None for a trusted match (or one whose confidence was not computed)."""
    if not info.get("confidence_low") or info.get("confidence") is None:
        return None
    pair, c, advice = f"{source_name} -> {target_name}", info["confidence"], info.get("confidence_advice", "")
    if info.get("sides_undecided"):
        return (f"{pair}: which way round the map is cannot be told (its confidence, {c:.2f}, measures its fit "
                f"only): {advice}")
    threshold = info.get("confidence_threshold")
    if threshold is None or c < threshold:
        below = "" if threshold is None else f" (below {threshold:.2f})"
        return f"{pair}: low confidence {c:.2f}{below}; the map is probably wrong in places. {advice}"
    # flagged by a check the confidence's fit cannot see
    return f"{pair}: not trusted, although its confidence is {c:.2f} (a measure of its fit only): {advice}"


def warn_if_not_trusted(info: dict, source_name: str, target_name: str, *, prefix: str = "",
                        stacklevel: int = 2) -> bool:
    """Emit a :class:`~shapecorr.core.LowConfidenceWarning` (``prefix`` + :func:`not_trusted_message`)
    when the match is not trusted; returns whether it did. :func:`match` calls it for every
    match it returns; the commands call it for a saved match they are given (``--map``)."""
    message = not_trusted_message(info, source_name, target_name)
    if message is not None:
        warnings.warn(LowConfidenceWarning(prefix + message), stacklevel=stacklevel + 1)
    return message is not None


def _whole_call_total(result: Match, seconds: float) -> None:
    """``timings["total"]`` is the whole call's time, every run included (a second feature model,
    a point cloud's other paths); the kept run's own total stays as ``kept_run_total`` when
    other runs took time too."""
    t = result.timings
    if "total" in t and seconds - t["total"] > 0.05:
        t["kept_run_total"] = t["total"]
    t["total"] = round(max(seconds, t.get("total", 0.0)), 4)


def _second_model_runs(s: MatchSettings, result: Match, src: Shape, tgt: Shape) -> bool:
    """Two meshes matched with the learned features whose match is below ``fallback_below``
    (the calibrated threshold when None) are matched again with ``second_model``."""
    f = s.fallback
    below = result.info["confidence_threshold"] if f.fallback_below is None else f.fallback_below
    return (f.second_model is not None and f.second_model != s.feature_model and s.init == "learned"
            and src.is_mesh and tgt.is_mesh and result.info["confidence"] < below)


def _more_trusted_with_the_second_model(first: Match, second: Match, src: Shape, below: float | None) -> Match:
    """The more trusted of the matches with the first and the second feature model (the first on
    a tie); ``info["second_model"]`` says what ran and which was kept, and how much the two maps
    agree (:func:`maps_agreement` at ``DISAGREEMENT_RADIUS`` on the unit-area source). Two models
    that put most of the target elsewhere (agreement below ``below``, the setting
    ``flag_disagreement_below``) say at least one map is wrong, which the confidence (a map's fit:
    a body turned round fits well too) cannot tell: the kept match is flagged low confidence,
    its map and confidence value unchanged, and the other match is its ``alternative``."""
    kept = second if second.info["confidence"] > first.info["confidence"] else first
    agreement = maps_agreement(first.p2p_21, second.p2p_21, src.vertices / np.sqrt(src.area), DISAGREEMENT_RADIUS)
    flagged = below is not None and agreement < below
    kept.info["second_model"] = {"ran": True, "model": second.info["feature_model"],
                                 "confidence_first": first.info["confidence"],
                                 "confidence_second": second.info["confidence"], "kept": "second" if kept is second else "first",
                                 "agreement": round(agreement, 4), "below": below, "flagged": bool(flagged)}
    if flagged:
        other = kept.alternative = first if kept is second else second
        before = kept.info["confidence_advice"] if kept.info["confidence_low"] else ""
        kept.info["confidence_low"] = True
        kept.info["confidence_advice"] = (
            f"the {'first' if other is first else 'second'} feature model's match ({other.info['feature_model']}, "
            f"confidence {other.info['confidence']:.2f}) puts {100 * (1 - agreement):.0f} % of the target's "
            "vertices elsewhere than this one does, so one of the two is wrong in most places (a body turned round "
            "or mirrored fits as well as the right map); compare the two pictures (`shapecorr match` writes the "
            "other match to other_model/; Match.alternative)" + (f". {before}" if before else ""))
    return kept


def _flag_undecided_sides(info: dict, src: Shape, tgt: Shape) -> bool:
    """Mark the match low confidence when a point cloud of the pair encloses no volume
    (:func:`shapecorr.core.pointcloud.sides_decided`: an open or flat sheet of points): the
    cloud's outward side is a guess, so a map and its mirror image fit it equally well, however
    good the fit (a flat figure drawn as points is its own mirror image turned over).
    ``info["sides_undecided"]`` names such clouds. Returns whether there was one."""
    from .core.pointcloud import sides_decided

    undecided = [sh.name for sh in (src, tgt)
                 if not sh.is_mesh and not sides_decided(sh.vertices, normals=sh.point_normals)]
    info["sides_undecided"] = undecided
    if not undecided:
        return False
    info["confidence_low"] = True
    info["confidence_advice"] = (
        f"{' and '.join(undecided)} {'encloses' if len(undecided) == 1 else 'enclose'} no volume (an open or flat "
        "sheet of points), so which side is out cannot be told from the points, and this map and its mirror image "
        "fit equally well; give the shape as a mesh (its faces' winding tells the sides apart) or with its "
        "normals (PLY nx ny nz, or XYZ columns 4-6), or look at the "
        "picture for left and right swapped")
    return True


def _mesh_as_points(shapes: tuple) -> tuple:
    """The pair with its mesh as the cloud of its vertices. Where the cloud has its own normals
    (a file's), the mesh's points carry the mesh's vertex normals, so both sides' outward sides
    come from the shapes themselves; otherwise both get estimated normals (the mesh's normals
    against a cloud's estimated ones disagree on an open model: realworld alligator 0.96 -> 21.39)."""
    given = any(sh.point_normals is not None for sh in shapes if not sh.is_mesh)

    def points(mesh: Shape) -> Shape:
        normals = mesh.vertex_normals if given else None
        if normals is not None and not (np.all(np.isfinite(normals)) and np.all(np.linalg.norm(normals, axis=1) > 0.5)):
            normals = None  # a vertex in no face has none: estimated for all
        return Shape(mesh.vertices, None, name=mesh.name, path=mesh.path, validate=False, point_normals=normals)

    return tuple(points(sh) if sh.is_mesh else sh for sh in shapes)


def _mesh_against_points_with_normals(result: Match, src: Shape, tgt: Shape) -> bool:
    """Whether a mesh was matched against a cloud's raw points (its surface not usable) that
    carry their own normals: such a pair is also matched as two clouds whatever its confidence
    (:func:`_mesh_as_points`: both sides' normals then come from the shapes). The mesh's operators
    against the cloud's pair two discretizations, and a trusted map can be wrong in places:
    realworld alligator against its 5000 drawn points with normals 4.64 at confidence 0.98, as
    two clouds 1.05 at 1.00 (docs/bench/pointcloud_cpu/file_normals/two_clouds). Without file
    normals the two clouds' map never won on those models and the TOSCA_r cats, so it is not run."""
    if src.is_mesh == tgt.is_mesh or _through_surface(result) or result.info.get("mesh_as_points"):
        return False
    cloud = tgt if src.is_mesh else src
    return cloud.point_normals is not None


def _through_surface(result: Match) -> bool:
    """Whether a point cloud of the pair was matched through its reconstructed surface."""
    proxy = result.info.get("proxy")
    return bool(proxy and any(proxy.get("reconstructed", ())))


def _more_trusted_as_two_clouds(kept: Match, clouds: Match) -> Match:
    """Of a mesh-and-cloud pair's untrusted map and its map as two clouds (the mesh as the cloud
    of its vertices), the more trusted (the first on ties), with both confidences in
    ``info["point_cloud_paths"]``. The mesh's own operators against the cloud's pair two
    discretizations: realworld models against 5000 points drawn on them, bent and turned, went
    from 18.99 / 20.59 / 36.83 (beetle, alligator, teapot, all untrusted) to 3.90 / 0.96 / 4.70
    as two clouds; but on TOSCA_r cats against the clouds of other cats' vertices the two clouds
    were worse (12.14 / 9.42 / 5.11 against 3.48 / 2.94 / 2.89), hence a third path for untrusted
    maps only (docs/bench/pointcloud_cpu/realworld)."""
    paths = dict(kept.info.get("point_cloud_paths") or {})
    best = clouds if clouds.info["confidence"] > kept.info["confidence"] else kept
    paths.update(first_confidence=kept.info["confidence"], two_clouds_confidence=clouds.info["confidence"],
                 kept="two_clouds" if best is clouds else paths.get("kept", "first"))
    best.info["point_cloud_paths"] = paths
    return best


def _more_trusted_of_both_paths(surface: Match, points: Match) -> Match:
    """Of a pair's map through reconstructed surfaces and its map as points, the more trusted
    (the surface's on ties), with both confidences in ``info["point_cloud_paths"]``. Chosen on
    FAUST_r 070-079 clouds: the untrusted surface maps were 2 of 20 (one flipped at 6.29 with
    confidence 0.34, where the points gave 3.57 at 0.37)."""
    kept = points if points.info["confidence"] > surface.info["confidence"] else surface
    kept.info["point_cloud_paths"] = {"surface_confidence": surface.info["confidence"],
                                      "points_confidence": points.info["confidence"],
                                      "kept": "points" if kept is points else "surface"}
    return kept


# ------------------------------------------------------------------------------ the pair
@dataclass(frozen=True)
class PairPlan:
    """Sizes for one pair, decided once from both shapes' vertex counts and the settings."""

    large: bool  # both shapes above large_above
    k_basis: tuple[int, int]  # eigenpairs computed on each shape
    k_init: int
    k_final: int
    n_samples: int | None  # ZoomOut samples per shape (None: all vertices)
    refine_subset: int | None  # full-resolution steps on this many random target vertices (None: all)


def plan_pair(n1: int, n2: int, s: MatchSettings, device: str = "cpu") -> PairPlan:
    """The sizes of a match between shapes of ``n1`` and ``n2`` vertices.

    A pair is *large* when both shapes are above ``large_above``: ZoomOut then grows the map to
    ``k_final_large`` on ``zoomout_samples_large`` samples. Sizes the shapes cannot carry
    (a basis needs fewer eigenpairs than points) raise :class:`TooFewPointsError` naming the
    setting to lower; the descriptors, candidates and features are capped silently, since
    they follow the map sizes.
    """
    n_min = min(n1, n2)
    cap = n_min - 2
    large = n_min > s.large_above
    k_final = (s.k_final_large or s.k_final) if large else s.k_final
    if large:
        k_final = min(k_final, cap)
    if k_final > cap or s.k_init > cap:
        raise TooFewPointsError(
            f"a shape has only {n_min} points, too few for a functional map of size {k_final}: use "
            f"k_final <= {max(cap, 1)} (the CLI's --k {max(cap, 1)}; k_init follows).")
    n_samples = (s.zoomout_samples_large or s.zoomout_samples) if large else s.zoomout_samples
    if n_samples is not None and n_samples >= n_min:
        n_samples = None
    k_basis = []
    for n in (n1, n2):
        k = max(k_final, s.k_init, min(s.k_descriptor, n - 2), *[min(k, n - 2) for k in s.k_init_candidates])
        if s.init in NETWORK_INITS:
            # the network was trained on a fixed number of eigenpairs (capped for tiny shapes)
            k = max(k, min(s.k_features, n - 2))
            if s.fallback.use_fallback:
                k = max(k, min(s.k_needed(s.fallback_solve_settings()), n - 2))
        k_basis.append(k)
    refine_subset = None
    if (s.refine_iters or s.guided_refine_iters) and max(n1, n2) > s.refine_max_vertices \
            and not str(device).startswith("cuda"):
        refine_subset = min(s.refine_max_vertices, n2)
    return PairPlan(large, (k_basis[0], k_basis[1]), s.k_init, k_final, n_samples, refine_subset)


def needs_normals(s: MatchSettings) -> bool:
    """Whether a point cloud's outward normals are estimated: the learned features' tangent
    frames need them, and so do the orientation term and scores (which tell left from right)."""
    return s.init in NETWORK_INITS or bool(s.solve.w_orient)


def prepare(shape: Shape, s: MatchSettings, *, device: str = "cpu", cache: bool | None = None) -> Prepared:
    """One shape prepared as :func:`match` prepares it when paired with a shape of its size."""
    plan = plan_pair(shape.n_vertices, shape.n_vertices, s, device)
    return prepare_shape(shape, plan.k_basis[0], laplacian_kind=s.laplacian, point_cloud_normals=needs_normals(s),
                         device=device, cache=cache)


def prepare_pair(src: Shape, tgt: Shape, s: MatchSettings, plan: PairPlan, *, device: str = "cpu",
                 cache: bool | None = None) -> tuple[Prepared, Prepared]:
    """Normalized shapes, eigenbases and outward normals of both shapes (cached)."""
    normals = needs_normals(s)
    return prepare_shapes((src, tgt), plan.k_basis, laplacian_kind=s.laplacian, point_cloud_normals=normals,
                          device=device, cache=cache)


@dataclass(frozen=True)
class ShapeWork:
    """What the match needs of one shape on its own, before the two shapes meet."""

    prepared: Prepared
    samples: np.ndarray | None  # ZoomOut's well-spread vertices (None: all vertices)
    features: np.ndarray | None  # the learned per-vertex features (learned initial map only)
    descr: np.ndarray  # the confidence's descriptors
    distances: np.ndarray | None  # the map-free half of the confidence's metric distortion


def prepare_pair_work(src: Shape, tgt: Shape, s: MatchSettings, plan: PairPlan, *, device: str = "cpu",
                      cache: bool | None = None) -> tuple[ShapeWork, ShapeWork]:
    """:func:`prepare_pair` and then :func:`shape_work` of each shape: two shapes that are
    prepared at once (the second in a forked child) do their own work at once too."""
    model = feature_model_name(s, src, tgt) if s.init == "learned" else None

    sizes = (src.n_vertices, tgt.n_vertices)

    def then(i: int, P: Prepared, threads: int | None) -> ShapeWork:
        return shape_work(P, s, plan, model, which=i, n_other=sizes[1 - i], device=device, threads=threads)

    normals = needs_normals(s)
    pairs = prepare_shapes((src, tgt), plan.k_basis, laplacian_kind=s.laplacian, point_cloud_normals=normals,
                           device=device, cache=cache, then=then)
    return pairs[0][1], pairs[1][1]


def shape_work(P: Prepared, s: MatchSettings, plan: PairPlan, feature_model: str | None, *, which: int,
               n_other: int, device: str = "cpu", threads: int | None = None) -> ShapeWork:
    """ZoomOut's samples, the learned features (with ``feature_model``) and the confidence's
    descriptors and map-free distances of one prepared shape (``which``: 0 the source, 1 the
    target, paired with a shape of ``n_other`` vertices), on ``threads`` BLAS threads (None:
    the usual setting)."""
    from threadpoolctl import threadpool_limits

    from .fmap.confidence import map_free_distances

    with threadpool_limits(threads) if threads else nullcontext():
        samples = None
        if plan.n_samples is not None:
            samples = farthest_point_sampling_spectral(P.evecs, plan.n_samples, seed=s.seed)
        feats = None
        if feature_model is not None:
            feats = shape_features(P, feature_model, device=device, threads=threads or s.feature_threads or usable_cores())
        return ShapeWork(P, samples, feats, confidence_descriptors(P), map_free_distances(P.shape, which, n_other))


# ------------------------------------------------------------------------- candidates
@dataclass
class Candidate:
    """One candidate map: how it started, the refined maps, and how much it is trusted."""

    init: str  # "learned", "learned_reverse", "learned_adapted", "zeroshot", "zeroshot_solve", "axiomatic", "axiomatic_fallback", "features_fallback"
    k_init: int
    w_orient_multiplier: float | None
    fmap_12: np.ndarray
    p2p_21: np.ndarray
    p2p_12: np.ndarray
    orientation_score: float | None = None  # vertex map (shapes with an orientation)
    orientation_score_smooth: float | None = None  # functional map (shapes with an orientation)
    confidence: object | None = None  # shapecorr.fmap.confidence.Confidence
    energy: str | None = None  # axiomatic candidates: the solve's "term_scales/lap_mask"
    # refined at the screening sizes of a large pair (_Run._screened): ranked, never kept
    screened: bool = False
    initial: np.ndarray | None = None  # the initial map, kept on screened candidates to refine again

    @property
    def trust(self) -> float:
        """The selection key: the confidence in [0, 1]."""
        return float(self.confidence.value)

    def summary(self) -> dict:
        return {"init": self.init, "k_init": self.k_init, "w_orient_multiplier": self.w_orient_multiplier,
                "energy": self.energy,
                "orientation_score": self.orientation_score,
                "orientation_score_smooth": self.orientation_score_smooth,
                "confidence": round(self.trust, 4), "screened": self.screened,
                "confidence_signals": self.confidence.to_dict()["signals"]}


def select_holding(best: Candidate, others: list[Candidate], made: list[Candidate], landmarks: np.ndarray,
                   source_vertices: np.ndarray) -> Candidate:
    """With landmarks: the map the pipeline kept (``best``) and the maps made from the landmarks
    (``made``) that hold them (mean landmark error at most :data:`LANDMARK_HOLD` on the unit-area
    source), the most trusted of them; when ``best`` does not hold them, its ``others`` that do
    are considered too; when none holds them, the one that comes nearest. A map that holds
    them keeps its precision; one that swaps the parts they mark (a tail for a hind leg) gives
    way."""
    def error(c: Candidate) -> float:
        return float(landmark_errors(c.p2p_21, landmarks, source_vertices).mean())

    pool = [best] + [c for c in made if not c.screened]
    if error(best) > LANDMARK_HOLD:
        pool += [c for c in others if c is not best and not c.screened]
    errors = [error(c) for c in pool]
    holding = [c for c, e in zip(pool, errors) if e <= LANDMARK_HOLD]
    return select(holding) if holding else pool[int(np.argmin(errors))]


def select(candidates: list[Candidate]) -> Candidate:
    """The one selection rule: the most trusted candidate (the first on ties) that was refined
    at the pair's own sizes (a screened candidate only ranks the others of its batch)."""
    return max((c for c in candidates if not c.screened), key=lambda c: c.trust)


@dataclass
class _Run:
    """One match: the settings and the per-pair state the named steps share."""

    s: MatchSettings
    device: str
    progress: Callable | None
    cache: bool | None
    # a mesh against a point cloud matched as two clouds, the mesh as the cloud of its vertices
    # (pipeline.match's third path for a mixed pair, see usable_as_points)
    mesh_as_points: bool = False
    # (source vertex, target vertex) pairs of the input shapes (checked), or None
    landmarks: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    descr: tuple | None = None  # the confidence's descriptors of both shapes (computed once)
    work: tuple = ()  # each shape's ShapeWork

    def _stage(self, name: str, fraction: float, t0: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)
        log.info("%-14s %.3fs", name, self.timings[name])
        if self.progress:
            self.progress(name, fraction)

    # --------------------------------------------------------------------- flow
    def match(self, source, target, strict: bool) -> Match:
        t_all = t0 = time.perf_counter()
        src, tgt = as_shape(source, strict=strict), as_shape(target, strict=strict)
        self._stage("load", 0.05, t0)
        t0 = time.perf_counter()
        self.proxies = make_proxies(src, tgt, self.s)
        self.clouds = not (src.is_mesh and tgt.is_mesh)
        work = (src, tgt) if self.proxies is None else (self.proxies[0].shape, self.proxies[1].shape)
        if self.mesh_as_points and self.proxies is None:
            work = _mesh_as_points(work)
        self.inputs = work
        if self.proxies is not None:
            self._stage("proxy", 0.15, t0)
            t0 = time.perf_counter()
        self.plan = plan_pair(work[0].n_vertices, work[1].n_vertices, self.s, self.device)
        self.work = prepare_pair_work(*work, self.s, self.plan, device=self.device, cache=self.cache)
        self.P1, self.P2 = (w.prepared for w in self.work)
        self.descr = tuple(w.descr for w in self.work)
        self._stage("prepare", 0.55, t0)  # with each shape's samples, features and descriptors
        self._setup_refinement()

        if self.s.init == "learned" and self.s.adapt_when == "replace":
            candidates = self._adapted_instead_of_the_models()
        else:
            candidates = self._models_then_adapted()
        best = select(candidates)
        fallback = self._needs_fallback(best)
        if fallback:
            if not self._both_meshes:
                candidates += self._feature_solve_candidates(self.s.fallback_solve_settings(), best)
            candidates += self._axiomatic_candidates(self.s.fallback_solve_settings(), "axiomatic_fallback",
                                                     select(candidates))
            best = self._select_fallback(candidates, best)
        retries = self._zeroshot_retries(best)
        if retries:  # a retry's map replaces the kept one only when trusted more (not on a tie)
            candidates += retries
            best = max(best, select(retries), key=lambda c: c.trust)
        if self.landmarks is not None:
            made = self._landmark_candidates()
            best = select_holding(best, candidates, made, self.work_landmarks, self.P1.shape.vertices)
            candidates += made
        best = self._polished(best)
        best = self._registered(best)
        maps = self._full_resolution_maps(best)
        if self.landmarks is not None:
            maps = self._with_landmarks(src, maps)
        self.timings["total"] = round(time.perf_counter() - t_all, 4)
        return self._result(src, tgt, candidates, best, fallback, maps)

    # --------------------------------------------------------------- landmarks
    def _work_landmarks(self) -> np.ndarray:
        """The landmark pairs on the shapes matched (the proxies' vertices nearest the landmarks
        on a pair matched through proxies; a pair falling on a proxy vertex taken already is
        dropped there, and held exactly at full resolution all the same)."""
        lm = self.landmarks
        if self.proxies is None:
            return lm
        pairs = np.stack([self.proxies[0].anchor()[lm[:, 0]], self.proxies[1].anchor()[lm[:, 1]]], axis=1)
        keep = np.ones(len(pairs), dtype=bool)
        for col in (0, 1):
            _, first = np.unique(pairs[:, col], return_index=True)
            once = np.zeros(len(pairs), dtype=bool)
            once[first] = True
            keep &= once
        return pairs[keep]

    def _landmark_candidates(self) -> list[Candidate]:
        """The maps made from the landmarks: each axiomatic initial size and orientation weight
        of the solve group (:func:`axiomatic_inits`), the landmark functions joined to the
        solve's descriptors, and every ZoomOut step guided by those functions
        (:mod:`shapecorr.fmap.landmarks`)."""
        t0 = time.perf_counter()
        P1, P2 = self.P1, self.P2
        lm = self.work_landmarks = self._work_landmarks()
        solve = self.s.fallback_solve_settings()
        if self.clouds:
            solve = point_cloud_solve(solve)
        times = landmark_times(P1.evals, P2.evals)
        f1, f2 = (landmark_functions(P.evals, P.evecs, ids, times) for P, ids in ((P1, lm[:, 0]), (P2, lm[:, 1])))
        kw = dict(descriptor=solve.descriptor, n_descriptors=solve.n_descriptors, step=solve.descriptor_step,
                  k_descriptor=solve.k_descriptor)
        descr = tuple(np.hstack([shape_descriptors(P, **kw), f]) for P, f in ((P1, f1), (P2, f2)))
        ops = AxiomaticOperators(P1, P2, solve, descriptors=descr)
        guides = feature_guides(f1, f2, LANDMARK_GUIDE_WEIGHT)
        self._stage("landmarks", 0.7, t0)
        return [self._candidate("landmarks", k, mult, axiomatic_initial_map(ops, k, mult), guides=guides)
                for k, mult in axiomatic_inits(solve, self.plan.k_init, ops.use_orient, self.plan.k_basis)]

    def _with_landmarks(self, src: Shape, maps: tuple) -> tuple:
        """The full-resolution maps holding every landmark pair exactly; what the map did at the
        landmarks before goes to ``self.landmark_info``."""
        p2p_21, p2p_12, per_vertex = maps
        errors = landmark_errors(p2p_21, self.landmarks, src.vertices) / np.sqrt(max(src.area, 1e-300)) \
            if src.is_mesh else landmark_errors(p2p_21, self.landmarks, src.vertices)
        self.landmark_info = {"pairs": int(len(self.landmarks)),
                              # where the map sent each landmark before it was held exactly
                              # (source distance, x sqrt(area) for a mesh)
                              "error_before_mean": round(float(errors.mean()), 4),
                              "error_before_max": round(float(errors.max()), 4)}
        p2p_21, p2p_12 = enforce_landmarks(p2p_21, p2p_12, self.landmarks)
        return p2p_21, p2p_12, per_vertex

    def _models_then_adapted(self) -> list[Candidate]:
        """The first candidates, the feature solves when the best is below ``fallback_below`` (two
        meshes), then the adapted map as one more candidate when adaptation runs."""
        candidates = self._first_candidates()
        best = select(candidates)
        self.adaptation = self._adaptation_reason(best)
        candidates += self._early_feature_solves(best)
        if self.adaptation["ran"]:
            candidates.append(self._adapted_candidate())
            self.adaptation.update(confidence=round(candidates[-1].trust, 4),
                                   kept=select(candidates) is candidates[-1])
        return candidates

    def _adapted_instead_of_the_models(self) -> list[Candidate]:
        """``adapt_when="replace"``: the adapted map is the first candidate (the model's own is not
        made), then the feature solves when it is below ``fallback_below`` (two meshes)."""
        self.adaptation = self._adaptation_reason(None)
        candidates = [self._adapted_candidate()]
        self.adaptation.update(confidence=round(candidates[0].trust, 4), kept=True)
        return candidates + self._early_feature_solves(candidates[0])

    @property
    def _both_meshes(self) -> bool:
        return self.P1.shape.is_mesh and self.P2.shape.is_mesh

    def _early_feature_solves(self, best: Candidate) -> list[Candidate]:
        """Two meshes whose best map so far is below ``fallback_below``: the feature solves, made
        before adaptation (point clouds get them with the fallback)."""
        if self._both_meshes and self._needs_fallback(best):
            return self._feature_solve_candidates(self.s.fallback_solve_settings(), best)
        return []

    def _needs_fallback(self, best: Candidate) -> bool:
        """A learned map below ``fallback_below`` (by default a map the confidence does not trust
        or is not near-certain of): the fallback candidates run too (shapes with an orientation:
        meshes, point clouds with their estimated normals)."""
        oriented = self.P1.orientation_faces is not None and self.P2.orientation_faces is not None
        f = self.s.fallback
        below = best.confidence.threshold if f.fallback_below is None else f.fallback_below
        return self.s.init in NETWORK_INITS and oriented and f.use_fallback and best.trust < below

    def _select_fallback(self, candidates: list[Candidate], before: Candidate) -> Candidate:
        """The most trusted candidate; on a pair with a point cloud, a fallback map replaces the
        map before it only when it is trusted itself (the confidence was calibrated on meshes: on
        point clouds, FAUST_r 080-099, an untrusted fallback map was more often worse than the
        untrusted learned map it beat by a little)."""
        best = select(candidates)
        if self.P1.shape.is_mesh and self.P2.shape.is_mesh or not best.confidence.low:
            return best
        return before

    def _adaptation_reason(self, best: Candidate | None) -> dict:
        """Whether test-time adaptation runs on this pair (``adapt_when``), and why (``best``: the
        model's own map, which "low_confidence" looks at; None with "replace")."""
        when = self.s.adapt_when
        info = {"ran": False, "when": when}
        if self.s.init != "learned" or when == "never":
            return info
        if when == "low_confidence":
            if not best.confidence.low:
                return {**info, "reason": f"confidence {best.trust:.2f} not below {best.confidence.threshold:.2f}"}
            reason = f"low confidence {best.trust:.2f} (below {best.confidence.threshold:.2f})"
        else:
            reason = when  # "always" or "replace"
        steps, lr = adaptation_steps_lr(self.s)
        info = {**info, "ran": True, "reason": reason, "steps": steps, "lr": lr, "regularizer": self.s.adapt_regularizer}
        return info if best is None else {**info, "confidence_before": round(best.trust, 4)}

    def _adapted_candidate(self) -> Candidate:
        """The learned initial map again, from the network fine-tuned on this pair, refined with
        the fine-tuned features as its guides (as the learned map is with the model's): unguided,
        its ZoomOut lost the precision the guides give (FAUST_r 071 -> 078: 0.91 learned, 1.54
        adapted unguided, 0.92 guided; docs/bench/generalize_cpu/adapt_guides)."""
        t0 = time.perf_counter()
        progress = None
        if self.progress:
            progress = (lambda step, steps, loss: self.progress(f"adaptation step {step}/{steps} (loss {loss:.4g})",
                                                                0.6 + 0.15 * step / max(steps, 1)))
        feats = adapted_pair_features(self.P1, self.P2, self.plan.k_init, self.s, device=self.device, progress=progress)
        C0 = features_to_fmap(feats, self.P1, self.P2, self.plan.k_init, device=self.device,
                              queries=self.samples[1] if self.samples is not None else None)
        self._stage("adaptation", 0.75, t0)
        self.adaptation["time_s"] = self.timings["adaptation"]
        return self._candidate("learned_adapted", self.plan.k_init, None, C0,
                               guides=refinement_guides(list(feats), self.s))

    def _first_candidates(self) -> list[Candidate]:
        if self.s.init == "learned":
            t0 = time.perf_counter()
            C0 = features_to_fmap([w.features for w in self.work], self.P1, self.P2, self.plan.k_init,
                                  device=self.device, queries=self.samples[1] if self.samples is not None else None)
            self._stage("learned_features", 0.65, t0)
            out = [self._candidate("learned", self.plan.k_init, None, C0)]
            if reverse_learned_map(self.s, self.P1.shape, self.P2.shape):
                out.append(self._reverse_learned_candidate())
            return out
        if self.s.init == "zeroshot":
            return self._zeroshot_candidates()
        return self._axiomatic_candidates(self.s.solve, "axiomatic")

    def _reverse_learned_candidate(self) -> Candidate:
        """The learned initial map made from the source's side: each source vertex's nearest
        feature on the target (on the source's ZoomOut samples when sampled), fitted as
        ``fmap_21`` and transposed (near-isometries have near-orthogonal maps), then refined with
        the same feature guides and assessed. On FAUST_r clouds the two directions' guided
        ZoomOut sometimes ends in different maps (one with the hands swapped)."""
        t0 = time.perf_counter()
        queries = self.samples[0] if self.samples is not None else None
        C21 = features_to_fmap([w.features for w in self.work[::-1]], self.P2, self.P1, self.plan.k_init,
                               device=self.device, queries=queries)
        self._stage("learned_features", 0.65, t0)
        return self._candidate("learned_reverse", self.plan.k_init, None, C21.T)

    def _zeroshot_candidates(self, retry: int = 0) -> list[Candidate]:
        """The zero-shot map of the random start ``seed + retry`` and, on two meshes, the exact
        solves on its features."""
        t0 = time.perf_counter()
        progress = None
        if self.progress:
            progress = (lambda step, steps, loss: self.progress(f"zero-shot step {step}/{steps} (loss {loss:.4g})",
                                                                0.55 + 0.1 * step / max(steps, 1)))
        feats = zeroshot_pair_features(self.P1, self.P2, self.plan.k_init, self.s, device=self.device,
                                       seed=self.s.seed + retry, progress=progress)
        C0 = features_to_fmap(feats, self.P1, self.P2, self.plan.k_init, device=self.device,
                              queries=self.samples[1] if self.samples is not None else None)
        self._stage("zeroshot", 0.65, t0)
        return [self._candidate("zeroshot", self.plan.k_init, None, C0)] + self._zeroshot_solve_candidates(feats)

    def _zeroshot_retries(self, best: Candidate) -> list[Candidate]:
        """While the map kept so far (the zero-shot maps and, when it ran, the fallback's) is not
        trusted, up to ``zeroshot_retries`` more zero-shot rounds from other random starts (seeds
        ``seed + 1``, ``seed + 2`` ...). Retrying only then, after the fallback, spends the time
        only where the answer would be untrusted (on TOSCA_r a retry before the fallback replaced a
        trusted fallback map by a flipped one trusted more)."""
        out = []
        if self.s.init != "zeroshot" or not best.confidence.low:
            return out
        for retry in range(1, 1 + self.s.zeroshot_retries):
            out += self._zeroshot_candidates(retry)
            if not select(out).confidence.low:
                break
        return out

    def _zeroshot_solve_candidates(self, feats: tuple) -> list[Candidate]:
        """On two meshes, the exact solves on the zero-shot features ``(feat_1, feat_2)`` at each
        ``(k_init, w_orient multiplier)`` of :func:`zeroshot_solves`: all are assessed (the most
        trusted candidate is kept by :func:`select`)."""
        solves = zeroshot_solves(self.s)
        if not solves or not (self.P1.shape.is_mesh and self.P2.shape.is_mesh):
            return []
        t0 = time.perf_counter()
        ops = AxiomaticOperators(self.P1, self.P2, self.s.fallback_solve_settings(), descriptors=tuple(feats))
        cap = min(self.plan.k_basis)
        out = [self._candidate("zeroshot_solve", k, mult, axiomatic_initial_map(ops, k, mult))
               for k, mult in solves if k <= cap]
        self._stage("zeroshot_solve", 0.7, t0)
        return out

    def _axiomatic_candidates(self, solve: SolveSettings, kind: str, against: Candidate | None = None
                              ) -> list[Candidate]:
        """For the solve group's energy and then each of its ``extra_energies`` (the descriptors
        and operators are shared), each axiomatic initial map refined and assessed, in order,
        until one is trusted. ``against``: the map kept so far, when these are fallback
        candidates (screened on a large pair, see :meth:`_screened`)."""
        t0 = time.perf_counter()
        ops = AxiomaticOperators(self.P1, self.P2, solve)
        self._stage("descriptors", 0.7, t0)
        if not (self.P1.shape.is_mesh and self.P2.shape.is_mesh):
            solve = point_cloud_solve(solve)
        screen = against is not None and self.screen is not None
        out = []
        for scales, mask in ((solve.term_scales, solve.lap_mask), *solve.extra_energies):
            for k, mult in axiomatic_inits(solve, self.plan.k_init, ops.use_orient, self.plan.k_basis):
                C0 = axiomatic_initial_map(ops, k, mult, energy=(scales, mask))
                cand = self._candidate(kind, k, mult, C0, energy=f"{scales}/{mask}", screened=screen)
                out.append(cand)
                if not cand.confidence.low:
                    break
        return self._screened(out, against) if screen else out

    def _feature_solve_candidates(self, solve: SolveSettings, against: Candidate) -> list[Candidate]:
        """The exact solve with the learned features as its descriptors (and their commutativity
        and orientation operators; on a point cloud, on its local triangles), at each of
        :data:`FEATURE_SOLVES`: all are assessed (the most trusted is kept by :func:`select`).
        The regularised solve keeps apart limbs that the nearest-feature map swaps. None without
        learned features. Two meshes run them as soon as the learned map is not trusted (next to
        the adapted candidate, whether adaptation runs is decided on the learned map alone); a
        pair with a point cloud in the fallback. ``against``: the map kept so far (a large pair's
        are screened, see :meth:`_screened`)."""
        if any(w.features is None for w in self.work):
            return []
        ops = AxiomaticOperators(self.P1, self.P2, solve, descriptors=tuple(w.features for w in self.work))
        cap = min(self.plan.k_basis)
        screen = self.screen is not None
        out = [self._candidate("features_fallback", k, mult, axiomatic_initial_map(ops, k, mult), screened=screen)
               for k, mult in FEATURE_SOLVES if k <= cap]
        return self._screened(out, against) if screen else out

    def _screened(self, batch: list[Candidate], against: Candidate) -> list[Candidate]:
        """A batch of screened fallback candidates, and each of them that is trusted more than
        ``against`` (the map kept so far) refined again from its own start at the pair's sizes:
        only those can be kept (``screen_fallback``). Screening only drops the
        candidates that do not beat the kept map even at the screening sizes; it does not rank the
        others (close candidates swap places between the sizes: FAUST_r 085 -> 095 at scan
        resolution, 0.747 / 0.766 screened, 0.786 / 0.691 at the pair's sizes). On a FAUST_r pair
        remeshed at 21k and 29k vertices the ten fallback candidates took 102 s of ZoomOut at the
        pair's sizes and 72 s screened, both runs at once (most of the rest is their vertex maps
        on all vertices)."""
        return batch + [self._candidate(c.init, c.k_init, c.w_orient_multiplier, c.initial, energy=c.energy)
                        for c in batch if c.trust > against.trust]

    # ----------------------------------------------------------------- refinement
    def _setup_refinement(self) -> None:
        P2, plan, s = self.P2, self.plan, self.s
        self.samples = None
        if plan.n_samples is not None:
            self.samples = (self.work[0].samples, self.work[1].samples)
        self.refine_subset = refine_rows(plan, P2.shape.n_vertices, s.seed)
        self.guides = refinement_guides([w.features for w in self.work], s)
        self.screen = screening_plan(plan, s, self.samples)

    def _candidate(self, kind: str, k: int, mult: float | None, C0: np.ndarray,
                   energy: str | None = None, guides: tuple | None = None, screened: bool = False) -> Candidate:
        """``C0`` refined and assessed. The ZoomOut is guided by ``guides`` when given, else by the
        model's features for the learned maps (:data:`GUIDED_INITS`), else not at all;
        ``screened``: at the screening sizes (:func:`screening_plan`) instead of the pair's."""
        t0 = time.perf_counter()
        if guides is None and kind in GUIDED_INITS:
            guides = self.guides
        initial = C0
        if self.s.prior_refine is not None:
            C0 = toward_prior(C0, self.s.prior_refine)
        plan, samples = self.screen if screened else (self.plan, self.samples)
        C, p2p_21, p2p_12 = refine(C0, self.P1, self.P2, self.s, plan, samples=samples,
                                   refine_subset=self.refine_subset, device=self.device, guides=guides)
        self._stage("zoomout", 0.85, t0)
        t0 = time.perf_counter()
        cand = assess(Candidate(kind, k, mult, C, p2p_21, p2p_12, energy=energy, screened=screened,
                                initial=initial if screened else None), self.P1, self.P2,
                      self.descr, tuple(w.distances for w in self.work))
        self._stage("confidence", 0.95, t0)
        return cand

    def _polished(self, best: Candidate) -> Candidate:
        """The kept map grown by ``polish_extra`` eigenfunctions by an unguided ZoomOut
        (:func:`polish_map`) when the learned features agree with it on fewer than ``polish_below``
        of the target vertices (:func:`shapecorr.fmap.refine.feature_agreement`: the features are
        then less precise on these shapes than the map, and the guides that held it the right way
        round also blur it), and always in a run without a learned feature model (the
        ``zeroshot`` and ``axiomatic`` inits: no guides held its ZoomOut's precision; FAUST_r
        070-079, docs/bench/prior_cpu/zeroshot_polish).
        The grown map is kept unless the confidence stops trusting a map it trusted; what happened
        goes to ``Match.info["polish"]``. A pair too large for ZoomOut steps on all vertices
        (``refine_subset``) is not polished: grown on samples, the map got worse on every such
        pair measured (docs/bench/generalize_cpu/tosca_remeshed/notes.md)."""
        z, plan = self.s.zoomout, self.plan
        if best.init == "landmarks":  # an unguided ZoomOut would let go of the landmarks
            self.polish = {"ran": False, "k": None, "skipped": "landmarks: the map's ZoomOut steps were guided by them"}
            return best
        feats = [w.features for w in self.work]
        n_min = min(self.P1.shape.n_vertices, self.P2.shape.n_vertices)
        k = None
        if z.polish_extra is not None:
            k = min(plan.k_final + z.polish_extra, n_min // POLISH_VERTICES_PER_FUNCTION)
        self.polish = {"ran": False, "k": k, "below": z.polish_below}
        if k is None or k <= plan.k_final:
            return best
        if self.refine_subset is not None:
            self.polish["skipped"] = "large pair: its ZoomOut steps run on a subset of the vertices"
            return best
        t0 = time.perf_counter()
        if all(f is not None for f in feats):  # a learned feature model's: their agreement decides
            queries = self.samples[1] if self.samples is not None else None
            agreement = feature_agreement(best.p2p_21, feats[0], feats[1], self.P1.shape.vertices, queries=queries,
                                          device=self.device)
            self.polish["agreement"] = round(agreement, 4)
            if agreement >= z.polish_below:
                self._stage("polish", 0.97, t0)
                return best
        else:
            self.polish["reason"] = f"no learned feature model ({self.s.init}): the map's ZoomOut had no guides"
        Q1, Q2 = prepare_shapes(self.inputs, (k, k), laplacian_kind=self.s.laplacian,
                                point_cloud_normals=needs_normals(self.s), device=self.device, cache=self.cache)
        C, p2p_21, p2p_12 = polish_map(best.fmap_12, Q1, Q2, self.s, k, device=self.device)
        grown = assess(Candidate(best.init, best.k_init, best.w_orient_multiplier, C, p2p_21, p2p_12,
                                 energy=best.energy), Q1, Q2, self.descr, tuple(w.distances for w in self.work))
        kept = keeps_trust(best.confidence.low, grown.confidence.low)
        self._stage("polish", 0.97, t0)
        self.polish.update(ran=True, bijective_iters=polish_bijective_iters(self.s, Q1, Q2),
                           kept=kept, confidence_before=round(best.trust, 4),
                           confidence_after=round(grown.trust, 4), time_s=self.timings["polish"])
        if not kept:
            return best
        self.P1, self.P2 = Q1, Q2
        self.plan = replace(plan, k_basis=(k, k), k_final=k)
        return grown

    def _learned_disagreement(self, best: Candidate, candidates: list[Candidate]) -> dict | None:
        """A kept axiomatic map against the most trusted learned map of the pair
        (:func:`maps_agreement` at ``DISAGREEMENT_RADIUS``); flagged below
        ``flag_disagreement_below``. None when there is nothing to compare."""
        below = self.s.fallback.flag_disagreement_below
        learned = [c for c in candidates if c.init.startswith("learned") and not c.screened]
        if below is None or not best.init.startswith("axiomatic") or not learned:
            return None
        ref = select(learned)
        agreement = maps_agreement(best.p2p_21, ref.p2p_21, self.P1.shape.vertices, DISAGREEMENT_RADIUS)
        return {"agreement": round(agreement, 4), "with": ref.init, "below": below, "flagged": agreement < below}

    def _registered(self, best: Candidate) -> Candidate:
        """The kept map read off a registration (:func:`shapecorr.deform.precise.registered_vertex_maps`:
        the source deformed onto the target from the map, ARAP-regularized non-rigid ICP) when
        the confidence is below ``register_below`` or the learned features agree with it on fewer
        than ``register_agreement_below`` of the target vertices (:meth:`_registration_reason`), on
        two meshes; a pair with a shape above ``refine_max_vertices`` vertices, or matched through
        proxies, is registered through proxies of ``register_proxy_size`` vertices (not at all when
        that is None).
        Intrinsic matching leaves maps between shapes of different builds imprecise or partly
        wrong; lying on the target surface, the deformed source repairs much of that. The
        registered map (its functional map the projection of its vertex map) is kept unless the
        confidence stops trusting a map it trusted; what happened goes to
        ``Match.info["registration"]``."""
        z = self.s.zoomout
        below = z.register_below
        self.registration = {"ran": False, "below": below}
        why = self._registration_reason(best)
        if why is None:
            return best
        self.registration["why"] = why
        if self.clouds:  # (two mesh inputs are prepared as meshes)
            self.registration["reason"] = ("a point cloud (matched as points or through a surface reconstructed "
                                           "from it): registration runs on two meshes")
            return best
        n_max = max(self.P1.shape.n_vertices, self.P2.shape.n_vertices)
        large = self.proxies is not None or n_max > z.refine_max_vertices
        if large and z.register_proxy_size is None:
            # at full resolution 21k vertices took 18 s of CPU (FAUST_r remeshed 080->099)
            self.registration["reason"] = (f"large pair ({n_max} vertices, above refine_max_vertices "
                                           f"{z.refine_max_vertices}) and register_proxy_size null: not registered")
            return best
        from .deform.precise import registered_vertex_maps

        t0 = time.perf_counter()
        P1, P2 = self.P1, self.P2
        through = z.register_max_vertices(n_max)
        p2p_21, p2p_12, fit = registered_vertex_maps(P1.shape, P2.shape, best.p2p_21, best.p2p_12,
                                                     max_vertices=through)
        k2, k1 = np.shape(best.fmap_12)
        C = p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, P2.mass, k1=k1, k2=k2)
        reg = assess(Candidate(best.init, best.k_init, best.w_orient_multiplier, C, p2p_21, p2p_12,
                               energy=best.energy), P1, P2, self.descr, tuple(w.distances for w in self.work))
        kept = keeps_trust(best.confidence.low, reg.confidence.low)
        self._stage("registration", 0.98, t0)
        self.registration.update(ran=True, kept=kept, fit=round(float(fit), 6), through_proxies=through,
                                 confidence_before=round(best.trust, 4),
                                 confidence_after=round(reg.trust, 4), time_s=self.timings["registration"])
        return reg if kept else best

    def _registration_reason(self, best: Candidate) -> str | None:
        """Why the kept map should be registered (``"confidence"`` below ``register_below``, or
        ``"agreement"``: the learned features agree with it on fewer than ``register_agreement_below``
        of the target vertices, as measured by the polish), or None."""
        z = self.s.zoomout
        if z.register_below is not None and best.trust < z.register_below:
            return "confidence"
        agreement = self.polish.get("agreement")
        if z.register_agreement_below is not None and agreement is not None and agreement < z.register_agreement_below:
            return "agreement"
        return None

    def _full_resolution_maps(self, best: Candidate) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(p2p_21, p2p_12, vertex_confidence)`` of the input shapes: the best candidate's, or
        lifted from the proxies to every vertex."""
        per_vertex = best.confidence.per_vertex
        if self.proxies is None:
            return best.p2p_21, best.p2p_12, per_vertex
        from .fmap.lift import lift_fmap

        t0 = time.perf_counter()
        proxy1, proxy2 = self.proxies
        lifted = lift_fmap(best.fmap_12, proxy1, proxy2, self.P1.evecs, self.P2.evecs, p2p_21_proxy=best.p2p_21,
                           p2p_12_proxy=best.p2p_12)
        if per_vertex is not None:
            per_vertex = np.clip(proxy2.interpolate(per_vertex), 0.0, 1.0)
        self._stage("lift", 1.0, t0)
        return lifted.p2p_21, lifted.p2p_12, per_vertex

    # -------------------------------------------------------------------- result
    def _result(self, src: Shape, tgt: Shape, candidates: list[Candidate], best: Candidate, fallback: bool,
                maps: tuple) -> Match:
        s, plan, conf = self.s, self.plan, best.confidence
        disagreement = self._learned_disagreement(best, candidates)
        flagged = bool(disagreement and disagreement["flagged"])
        advice = conf.advice_for(presets_like(s))
        if self.landmarks is not None and conf.low:
            advice = ("look at the picture and add a landmark pair on each part the map still confuses "
                      "(confidence is calibrated on near-isometric pairs: a right map between different "
                      "animals can score low)")
        if flagged:
            advice = (f"the learned features put {100 * (1 - disagreement['agreement']):.0f} % of the target's "
                      "vertices elsewhere than this axiomatic map does (a rotated or mirrored map is likely); look at "
                      "the picture, or try --adapt or --preset accurate" + (f". {advice}" if advice else ""))
        info = {
            "candidates": [c.summary() for c in candidates],
            "init": best.init,
            "feature_model": feature_model_name(s, self.P1.shape, self.P2.shape) if s.init == "learned" else None,
            "axiomatic_fallback": bool(fallback),  # the best map was below fallback_below: the fallback candidates ran too
            # test-time adaptation: whether it ran, why, its steps, time and the adapted map's confidence
            "adaptation": self.adaptation,
            # the precision polish: the features' agreement with the map, and whether it ran and was kept
            "polish": self.polish,
            # the registration of a low-confidence map: whether it ran and was kept, its fit
            "registration": self.registration,
            "chosen_w_orient_multiplier": best.w_orient_multiplier,
            "orientation_score": best.orientation_score,
            # measured on the functional map: about 0.9 for correct FAUST_r maps, negative for flips
            "orientation_score_smooth": best.orientation_score_smooth,
            "confidence": round(float(conf.value), 4),
            "confidence_low": bool(conf.low) or flagged,
            "confidence_threshold": float(conf.threshold),
            "confidence_advice": advice,
            # a kept axiomatic map against the learned map (see _learned_disagreement), or None
            "learned_disagreement": disagreement,
            # the landmark pairs given (None: none) and how far the map was from them before they were held
            "landmarks": self.landmark_info if self.landmarks is not None else None,
            "confidence_details": conf.to_dict(),
            "device": str(self.device),
            "large_pair": plan.large,
            "k_basis": list(plan.k_basis),
            "k_final": int(np.shape(best.fmap_12)[0]),
            "zoomout_samples": plan.n_samples,
            "refine_on_subsets": self.refine_subset is not None,
            "shape_kinds": ["mesh" if sh.is_mesh else "point_cloud" for sh in (src, tgt)],
            # a mesh against a cloud matched as the cloud of its vertices (match's third path)
            "mesh_as_points": bool(self.mesh_as_points and self.proxies is None),
            # matched through proxies (the functional map is in the proxies' bases), or None
            "proxy": None if self.proxies is None else {
                "sizes": [int(p.shape.n_vertices) for p in self.proxies],
                "reconstructed": [not sh.is_mesh for sh in (src, tgt)],  # a point cloud's surface
                "surface_normals": [p.normals for p in self.proxies],  # which normals it came from
                "projection_distance_max": [float(p.distance.max()) if len(p.distance) else 0.0 for p in self.proxies]},
        }
        p2p_21, p2p_12, per_vertex = maps
        return Match(p2p_21=p2p_21, p2p_12=p2p_12, fmap_12=best.fmap_12, settings=s.to_dict(),
                     timings=dict(self.timings), info=info, source_summary=src.summary(),
                     target_summary=tgt.summary(), source_hash=src.content_hash, target_hash=tgt.content_hash,
                     vertex_confidence=per_vertex)


# ----------------------------------------------------------------------- the steps
#: two maps agree at a target vertex when its images lie within this distance (unit-area source)
DISAGREEMENT_RADIUS = 0.2
#: weight of the landmark functions among the ZoomOut's spectral embeddings (see feature_guides)
LANDMARK_GUIDE_WEIGHT = 2.0
#: a map holds the landmarks when it sends the target's landmarks, on average, at most this far
#: from the source's (unit-area source): a part swapped is 0.3 and more away
LANDMARK_HOLD = 0.05


def usable_as_points(src: Shape, tgt: Shape) -> bool:
    """Whether a pair is a mesh and a point cloud whose mesh can stand as the cloud of its vertices
    (pipeline.match's third path): no duplicate or unused vertex, which would be stray points."""
    if src.is_mesh == tgt.is_mesh:
        return False
    mesh = src if src.is_mesh else tgt
    return mesh.n_duplicate_vertices == 0 and len(mesh.unreferenced_vertices) == 0


def make_proxies(src: Shape, tgt: Shape, s: MatchSettings) -> tuple | None:
    """Proxies of both shapes when two meshes include one above ``proxy_above`` vertices, or for
    a pair with a point cloud whose surface is reconstructed (:func:`shapecorr.core.reconstruct.pair_proxies`
    with the settings' ``large`` fields); else None."""
    from .core.reconstruct import pair_proxies

    large = s.large
    return pair_proxies(src, tgt, proxy_above=large.proxy_above, proxy_size=large.proxy_size,
                        point_cloud_surface=large.point_cloud_surface)


def feature_model_name(s: MatchSettings, shape1: Shape, shape2: Shape) -> str:
    """A pair with a point cloud uses the model that also learned from point clouds."""
    if s.feature_model_point_cloud and not (shape1.is_mesh and shape2.is_mesh):
        return s.feature_model_point_cloud
    return s.feature_model


def reverse_learned_map(s: MatchSettings, shape1: Shape, shape2: Shape) -> bool:
    """Whether the learned initial map is made in the other direction too (``learned_reverse``)."""
    mode = s.learned_reverse
    return mode == "always" or (mode == "point_clouds" and not (shape1.is_mesh and shape2.is_mesh))


def shape_features(P: Prepared, feature_model: str, *, device: str = "cpu", threads: int | None = None) -> np.ndarray:
    """Unit-length learned features ``(n, d)`` of one prepared shape by the named model."""
    from .learn import load_feature_model, surface_operators

    model = load_feature_model(feature_model, device=device)
    ops = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, model.config, device=device)
    return model.features(ops, threads=threads)


def adapted_pair_features(P1: Prepared, P2: Prepared, k: int, s: MatchSettings, *, device: str = "cpu",
                          progress: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit per-vertex features ``(feat_1 (n1, d), feat_2 (n2, d))`` of the network fine-tuned on
    this pair (``adapt_steps`` steps at ``adapt_lr``, seeded by ``seed``) with the self-supervised
    deep functional-map loss, which needs no ground truth (its maps of size ``k``, or the prior's
    with ``adapt_regularizer: prior``; :func:`shapecorr.learn.adapt.adapt_features`). The bundled
    model itself is not changed."""
    from .learn import load_feature_model, surface_operators
    from .learn.adapt import adapt_features, adaptation_loss
    from .learn.selfsup import SpectralData

    model = load_feature_model(feature_model_name(s, P1.shape, P2.shape), device=device)
    ops = [surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, model.config, device=device)
           for P in (P1, P2)]
    weights, k_prior = adaptation_loss(s.adapt_regularizer, s.zeroshot_prior)
    n_eigen = min(len(P1.evals), len(P2.evals))
    if k_prior is not None and k_prior > n_eigen:
        raise SettingsError(f"adapt_regularizer {s.adapt_regularizer!r} needs functional maps of {k_prior} x {k_prior}, "
                            f"but only {n_eigen} eigenpairs were computed; raise k_features.")
    k_loss = k_prior or k  # the prior's size, else the initial map's (capped by each shape's eigenpairs)
    spec = [SpectralData.from_numpy(P.evals, P.evecs, P.mass, k=min(k_loss, len(P.evals)), device=device)
            for P in (P1, P2)]
    steps, lr = adaptation_steps_lr(s)
    return adapt_features(model, ops[0], ops[1], spec[0], spec[1], steps=steps, lr=lr, seed=s.seed, device=device,
                          progress=progress, threads=s.feature_threads or usable_cores(), weights=weights)


def zeroshot_initial_map(P1: Prepared, P2: Prepared, k: int, s: MatchSettings, *, device: str = "cpu",
                         queries: np.ndarray | None = None, progress: Callable | None = None,
                         seed: int | None = None) -> np.ndarray:
    """Initial ``fmap_12 (k, k)`` as from the learned features (:func:`features_to_fmap`), from
    the zero-shot features of :func:`zeroshot_pair_features`."""
    feats = zeroshot_pair_features(P1, P2, k, s, device=device, progress=progress, seed=seed)
    return features_to_fmap(feats, P1, P2, k, device=device, queries=queries)


def zeroshot_pair_features(P1: Prepared, P2: Prepared, k: int, s: MatchSettings, *, device: str = "cpu",
                           progress: Callable | None = None, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit per-vertex features ``(feat_1 (n1, d), feat_2 (n2, d))`` of a network started at random
    and trained on this pair only (``zeroshot_steps`` at ``zeroshot_lr``, seeded by ``seed``, None:
    the settings'), with the learned prior over functional maps (``zeroshot_prior``) or the axiomatic
    terms as the loss's regularizers (``zeroshot_regularizer``; its maps of size ``k``, at most
    :data:`~shapecorr.learn.prior.zeroshot.ZEROSHOT_K`), and, when both shapes have an orientation
    (meshes; point clouds through their normals' local triangles), the orientation term
    (``zeroshot_orient``) with the axiomatic solve's orientation operators
    (:class:`AxiomaticOperators`); no trained feature model
    (:func:`shapecorr.learn.prior.zeroshot.zeroshot_features`)."""
    from .learn import surface_operators
    from .learn.prior import zeroshot as zs
    from .learn.selfsup import SpectralData

    ops = [surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, zs.ZEROSHOT_CONFIG, device=device)
           for P in (P1, P2)]
    k_loss = min(k, zs.ZEROSHOT_K, len(P1.evals), len(P2.evals))
    orient_w = zs.ZEROSHOT_ORIENT if s.zeroshot_orient is None else s.zeroshot_orient
    orient = zeroshot_orientation_operators(P1, P2, k_loss, s.solve) if orient_w else (None, None)
    spec = [SpectralData.from_numpy(P.evals, P.evecs, P.mass, k=k_loss, device=device, orient=O)
            for P, O in zip((P1, P2), orient)]
    feats = zs.zeroshot_features(
        ops[0], ops[1], spec[0], spec[1], steps=zs.ZEROSHOT_STEPS if s.zeroshot_steps is None else s.zeroshot_steps,
        lr=zs.ZEROSHOT_LR if s.zeroshot_lr is None else s.zeroshot_lr, regularizer=s.zeroshot_regularizer,
        prior=s.zeroshot_prior, orient=orient_w, seed=s.seed if seed is None else seed, device=device, progress=progress,
        threads=s.feature_threads or usable_cores())
    return feats


def zeroshot_solves(s: MatchSettings) -> tuple:
    """The ``(k_init, w_orient multiplier)`` solves on the zero-shot features: the settings'
    ``zeroshot_solves``, or (None) :data:`shapecorr.learn.prior.zeroshot.ZEROSHOT_SOLVES`."""
    if s.zeroshot_solves is not None:
        return s.zeroshot_solves
    from .learn.prior.zeroshot import ZEROSHOT_SOLVES

    return ZEROSHOT_SOLVES


def zeroshot_orientation_operators(P1: Prepared, P2: Prepared, k: int, solve: SolveSettings) -> tuple:
    """The axiomatic solve's orientation operators ``(O1 (p, k, k), O2 (p, k, k))`` of its
    descriptors (``solve``), or ``(None, None)`` unless both shapes have an orientation
    (:attr:`Prepared.orientation_faces`)."""
    from dataclasses import replace

    ops = AxiomaticOperators(P1, P2, replace(solve, w_dcomm=0.0, w_orient=solve.w_orient or 1.0))
    orient = ops.at(k)[3]
    return (None, None) if orient is None else orient


def adaptation_steps_lr(s: MatchSettings) -> tuple[int, float]:
    """The adaptation's steps and learning rate: the settings', or (None) the defaults of
    :mod:`shapecorr.learn.adapt` (one home for them; that module imports torch, so the
    settings do not read them)."""
    from .learn import adapt

    return (adapt.ADAPT_STEPS if s.adapt_steps is None else s.adapt_steps,
            adapt.ADAPT_LR if s.adapt_lr is None else s.adapt_lr)


def features_to_fmap(feats, P1: Prepared, P2: Prepared, k: int, *, device: str = "cpu",
                     queries: np.ndarray | None = None) -> np.ndarray:
    """``fmap_12 (k, k)`` of the nearest-feature vertex map of per-vertex ``feats`` (source, target):
    each target vertex goes to the source vertex with the nearest feature, and that vertex map
    is projected onto the first ``k`` eigenfunctions. With ``queries`` (well-spread target
    vertices) only those are matched and the map is fitted on them by least squares, which
    keeps large shapes cheap."""
    if queries is None:
        p2p_21 = knn_blocked(feats[1], feats[0], device=device)
        return p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, P2.mass, k1=k, k2=k)
    p2p_21 = knn_blocked(feats[1][queries], feats[0], device=device)
    return p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, k1=k, k2=k, queries=queries)


class AxiomaticOperators:
    """Descriptor projections and commutativity/orientation operators of one solve setting,
    built once at the largest size asked for (the leading blocks are the smaller sizes)."""

    def __init__(self, P1: Prepared, P2: Prepared, solve: SolveSettings, descriptors: tuple | None = None):
        self.P1, self.P2, self.solve = P1, P2, solve
        kw = dict(descriptor=solve.descriptor, n_descriptors=solve.n_descriptors, step=solve.descriptor_step,
                  k_descriptor=solve.k_descriptor)
        # ``descriptors``: per-vertex ``(n, p)`` arrays of both shapes used instead of the solve's own
        self.descr = descriptors if descriptors is not None else (shape_descriptors(P1, **kw), shape_descriptors(P2, **kw))
        self.use_orient = bool(solve.w_orient) and P1.orientation_faces is not None and P2.orientation_faces is not None
        self._ops: dict[int, tuple] = {}

    def at(self, k: int) -> tuple:
        have = [kk for kk in self._ops if kk >= k]
        if not have:
            self._ops[k] = self._build(k)
            have = [k]
        A, B, dcomm, orient = self._ops[min(have)]
        cut = (lambda pair: None if pair is None else (pair[0][:, :k, :k], pair[1][:, :k, :k]))
        return A[:k], B[:k], cut(dcomm), cut(orient)

    def _build(self, k: int) -> tuple:
        (P1, P2), (d1, d2) = (self.P1, self.P2), self.descr
        A = P1.evecs[:, :k].T @ (P1.mass[:, None] * d1)
        B = P2.evecs[:, :k].T @ (P2.mass[:, None] * d2)
        dcomm = orient = None
        if self.solve.w_dcomm:
            dcomm = (multiplication_operators(d1, P1.evecs[:, :k], P1.mass),
                     multiplication_operators(d2, P2.evecs[:, :k], P2.mass))
        if self.use_orient:
            orient = tuple(orientation_operators(P.shape.vertices, winding(P)[0], d, P.evecs[:, :k], winding(P)[1])
                           for P, d in ((P1, d1), (P2, d2)))
        return A, B, dcomm, orient


def winding(P: Prepared) -> tuple[np.ndarray, float]:
    """``(faces, sign)`` for the orientation operators: a mesh's faces and winding sign; a point
    cloud's local triangles, wound outward (:attr:`Prepared.orientation_faces`)."""
    return (P.shape.faces, P.sign) if P.shape.is_mesh else (P.orientation_faces, 1.0)


#: w_orient multipliers tried after the solve's own on a pair with a point cloud (chosen on
#: FAUST_r 070-079 as point clouds): the point-cloud orientation term, on estimated normals
#: and overlapping local triangles, picks the right-handed map at a less predictable weight
POINT_CLOUD_ORIENT_MULTIPLIERS = (3.0, 10.0, 0.0)


#: ``(k_init, w_orient multiplier)`` of the exact solves with the learned features as descriptors
#: that run, all of them, on a pair whose learned map is not trusted (chosen on FAUST_r 070-079
#: point clouds; on two meshes, measured on TOSCA_r tune pairs: docs/bench/tosca_diag/notes.md)
FEATURE_SOLVES = ((30, 1.0), (30, 10.0), (20, 1.0), (20, 10.0))


def point_cloud_solve(solve: SolveSettings) -> SolveSettings:
    """The solve group for a pair with a point cloud: :data:`POINT_CLOUD_ORIENT_MULTIPLIERS`
    tried after the solve's own ``orient_candidates``."""
    extra = tuple(m for m in POINT_CLOUD_ORIENT_MULTIPLIERS if m not in solve.orient_candidates)
    return replace(solve, orient_candidates=solve.orient_candidates + extra)


def axiomatic_inits(solve: SolveSettings, k_init: int, use_orient: bool, k_basis: tuple[int, int]) -> list[tuple]:
    """The axiomatic candidates in the order they are tried: ``(size, w_orient multiplier)``."""
    if not (solve.flip_check and use_orient):
        return [(k_init, 1.0)]
    cap = min(k_basis)
    sizes = [k for k in solve.k_init_candidates if k <= cap]
    return [(k_init, m) for m in solve.orient_candidates] + [(k, 1.0) for k in sizes]


def axiomatic_initial_map(ops: AxiomaticOperators, k: int, w_orient_multiplier: float = 1.0,
                          energy: tuple[str, str] | None = None) -> np.ndarray:
    """Initial ``fmap_12 (k, k)`` by the exact solve of descriptor preservation, Laplacian and
    descriptor commutativity and the orientation-preserving term, with the weights of the
    operators' solve group and its energy, or ``energy = (term_scales, lap_mask)``."""
    s = ops.solve
    scales, mask = (s.term_scales, s.lap_mask) if energy is None else energy
    A, B, dcomm, orient = ops.at(k)
    w = FmapWeights(descr=s.w_descr, lap=s.w_lap, dcomm=s.w_dcomm, orient=s.w_orient * w_orient_multiplier,
                    scales=scales, lap_mask=mask)
    return solve_fmap(A, B, ops.P1.evals, ops.P2.evals, w, dcomm_ops=dcomm, orient_ops=orient)


def toward_prior(C0: np.ndarray, prior: str) -> np.ndarray:
    """The initial map ``C0`` moved toward the learned prior ``prior`` before ZoomOut
    (``prior_refine``; :meth:`shapecorr.learn.prior.FmapPrior.refine`, its noise level estimated
    from the map), or ``C0`` as it is when smaller than the prior's maps."""
    from .learn.prior import load_prior

    model = load_prior(prior)
    return C0 if min(np.shape(C0)) < model.k else model.refine(C0)


def screening_plan(plan: PairPlan, s: MatchSettings, samples: tuple | None) -> tuple[PairPlan, tuple | None] | None:
    """``(plan, samples)`` at which a large pair's fallback candidates are screened: a 5k pair's
    ZoomOut sizes (``k_final`` on the first ``zoomout_samples`` of the pair's own samples, which
    are in farthest-point order, so they are that many farthest points), or None (not a large
    pair, ``screen_fallback`` off, or sizes that would not be smaller)."""
    if not (plan.large and s.screen_fallback):
        return None
    k_final = min(s.k_final, plan.k_final)
    n = s.zoomout_samples
    if samples is not None and n is not None and n < min(len(samples[0]), len(samples[1])):
        samples = (samples[0][:n], samples[1][:n])
    if k_final == plan.k_final and (samples is None or len(samples[1]) == plan.n_samples):
        return None
    n_samples = None if samples is None else len(samples[1])
    return replace(plan, k_final=k_final, n_samples=n_samples), samples


def refine_rows(plan: PairPlan, n2: int, seed: int) -> np.ndarray | None:
    """The random vertices of shape 2 (sorted, seeded) on which the full-resolution ZoomOut
    steps of a pair too large for them run, or None (all vertices)."""
    if plan.refine_subset is None:
        return None
    return np.sort(np.random.default_rng(seed).choice(n2, plan.refine_subset, replace=False))


def refinement_guides(features: list, s: MatchSettings) -> tuple[np.ndarray, np.ndarray] | None:
    """The feature guides of the learned candidate's ZoomOut (``guide_weight``, ``guide_dims``),
    or None (no guidance, or no learned features)."""
    if not s.zoomout.guide_weight or any(f is None for f in features):
        return None
    return feature_guides(features[0], features[1], s.zoomout.guide_weight, s.zoomout.guide_dims)


def refine(C0: np.ndarray, P1: Prepared, P2: Prepared, s: MatchSettings, plan: PairPlan, *,
           samples: tuple | None = None, refine_subset: np.ndarray | None = None,
           device: str = "cpu", guides: tuple | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ZoomOut from ``C0`` to ``plan.k_final``, then both vertex maps: ``(fmap_12, p2p_21, p2p_12)``.

    On large pairs the target's samples are matched among all source vertices (the samples'
    spacing would limit the map); the reverse map goes through the adjoint (near-isometries
    have near-orthogonal functional maps). ``guides`` (per-vertex arrays of both shapes, see
    :func:`shapecorr.fmap.refine.feature_guides`) join the spectral embeddings in every vertex-map
    step, the reverse map's too, and the full-resolution iterations are ``guided_refine_iters``
    instead of ``refine_iters``."""
    iters = s.refine_iters if guides is None else s.guided_refine_iters
    C, p2p_21 = zoomout(C0, P1.evecs, P2.evecs, P2.mass, k_final=plan.k_final, step=s.zoomout_step,
                        samples=samples, device=device, refine_iters=iters,
                        refine_subset=refine_subset, sample_source=not (plan.large and samples is not None),
                        guides=guides)
    g1, g2 = guides if guides is not None else (None, None)
    p2p_12 = guided_p2p(C.T, P2.evecs, P1.evecs, g2, g1, device=device)
    return C, p2p_21, p2p_12


def polish_bijective_iters(s: MatchSettings, P1: Prepared, P2: Prepared) -> int:
    """The polish's bijective steps on this pair: ``polish_bijective_iters`` on two meshes, none
    with a point cloud (on the two FAUST_r cloud pairs the polish runs on, they made both maps
    worse by 0.1; notes.md, "A bijective polish")."""
    both_meshes = P1.shape.is_mesh and P2.shape.is_mesh
    return s.polish_bijective_iters if both_meshes else 0


def polish_map(C: np.ndarray, Q1: Prepared, Q2: Prepared, s: MatchSettings, k: int, *,
               device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The functional map ``C`` grown on to size ``k`` by ZoomOut without guides, and both vertex
    maps: ``(fmap_12, p2p_21, p2p_12)``. ``Q1``, ``Q2``: the shapes prepared with ``k`` eigenpairs.

    Every step runs on all vertices, and on two meshes ``polish_bijective_iters`` bijective steps
    at size ``k`` follow (:func:`~shapecorr.fmap.refine.bijective_zoomout`, from the grown map and
    its reverse vertex map)."""
    C, p2p_21 = zoomout(C, Q1.evecs, Q2.evecs, Q2.mass, k_final=k, step=s.zoomout_step, device=device)
    iters = polish_bijective_iters(s, Q1, Q2)
    if iters:
        p2p_12 = guided_p2p(C.T, Q2.evecs, Q1.evecs, device=device)
        C21 = p2p_to_fmap(p2p_12, Q2.evecs, Q1.evecs, Q1.mass, k1=k, k2=k)
        C, _, p2p_21, p2p_12 = bijective_zoomout(C, C21, Q1.evecs, Q2.evecs, Q1.mass, Q2.mass, k_final=k,
                                                refine_iters=iters - 1, device=device)
        return C, p2p_21, p2p_12
    p2p_12 = guided_p2p(C.T, Q2.evecs, Q1.evecs, device=device)
    return C, p2p_21, p2p_12


def confidence_descriptors(P: Prepared) -> np.ndarray:
    """The descriptors the confidence compares at matched points: WKS as the default solve
    builds them, whatever the preset (the confidence model was calibrated on these)."""
    d = SolveSettings()
    return shape_descriptors(P, descriptor=d.descriptor, n_descriptors=d.n_descriptors, step=d.descriptor_step,
                             k_descriptor=d.k_descriptor)


def assess(c: Candidate, P1: Prepared, P2: Prepared, descr: tuple[np.ndarray, np.ndarray],
           known_distances: tuple = (None, None)) -> Candidate:
    """The confidence of a candidate (with its orientation scores, on shapes with an orientation:
    meshes, point clouds with their estimated normals); ``known_distances``: the shapes'
    map-free distances when computed beforehand."""
    from .fmap.confidence import match_confidence

    orientation = None  # two meshes: the confidence takes their own normals and faces
    if not (P1.shape.is_mesh and P2.shape.is_mesh) and P1.vertex_normals is not None \
            and P2.orientation_faces is not None:
        orientation = (P1.vertex_normals, P2.orientation_faces)
    c.confidence = match_confidence(P1.shape, P2.shape, P1.evecs, P1.mass, P2.evecs, P2.mass, c.fmap_12,
                                    c.p2p_21, c.p2p_12, descr[0], descr[1], sign1=P1.sign, sign2=P2.sign,
                                    known_distances=known_distances, orientation=orientation)
    c.orientation_score = c.confidence.signals.get("orientation")
    c.orientation_score_smooth = c.confidence.signals.get("orientation_smooth")
    return c
