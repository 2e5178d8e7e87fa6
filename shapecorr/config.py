"""Match settings and presets: frozen, grouped, validated when built, with one home.

:class:`MatchSettings` holds every parameter of :func:`shapecorr.pipeline.match`, in groups:

- ``features``  the learned initial map (feature network, eigenpairs it needs)
- ``solve``     the axiomatic initial map (descriptors, energy weights, candidate sizes)
- ``zoomout``   initial and final functional-map sizes, ZoomOut samples, full-resolution steps
- ``large``     what changes when *both* shapes of a pair are large (the one meaning of "large")
- ``fallback``  when a learned map is not trusted, the axiomatic solve runs too, with its changes
- top level     ``init``, ``laplacian``, ``seed``, ``blas_threads``

A preset is a YAML file of settings in ``shapecorr/presets/NAME.yaml`` (package data), written
flat (``k_final: 60``) or grouped (``zoomout: {k_final: 60}``); every setting name is unique
across groups, so keyword overrides are flat: ``load_preset("fast", k_final=60)``. The dataclass
defaults are the single source of defaults; ``default.yaml`` only describes them. Unknown names
and values out of range raise :class:`~shapecorr.core.SettingsError` here, before any work.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.errors import SettingsError
from .deform.precise import REGISTER_PROXY_SIZE, register_max_vertices
from .learn.features import bundled_models
from .fmap.solve import LAP_MASKS, SCALES as TERM_SCALES

PRESET_DIR = Path(__file__).resolve().parent / "presets"
LAPLACIANS = ("auto", "robust", "cotan", "pointcloud")
DESCRIPTORS = ("wks", "hks")
INITS = ("learned", "axiomatic", "zeroshot")
LOSS_REGULARIZERS = ("prior", "axiomatic")  # of zero-shot matching and of adaptation
ADAPT_WHEN = ("never", "always", "low_confidence", "replace")
#: pairs whose learned initial map is also made in the other direction (``learned_reverse``)
LEARNED_REVERSE = ("never", "point_clouds", "always")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise SettingsError(message)


def _positive_int(name: str, value, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
           f"{name} must be an integer >= {minimum}{' or null' if allow_none else ''}, got {value!r}.")


def _number(name: str, value, *, allow_none: bool = False, minimum: float | None = None) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    _check(ok and (minimum is None or value >= minimum),
           f"{name} must be a number{f' >= {minimum}' if minimum is not None else ''}"
           f"{' or null' if allow_none else ''}, got {value!r}.")


@dataclass(frozen=True)
class FeatureSettings:
    """The learned initial map (``init="learned"``)."""

    feature_model: str = "faust_r_wks"  # bundled model name or a model file path
    # the model for pairs with a point cloud (None: feature_model); the bundled one was
    # fine-tuned on the same shapes as meshes and as point clouds of their vertices
    feature_model_point_cloud: str | None = "faust_r_wks_pc"
    k_features: int = 100  # eigenpairs computed for the network (>= its k_input and k_diffusion)
    feature_threads: int | None = None  # CPU threads for the network's matrix products (None: all usable cores)
    # test-time adaptation: the network fine-tuned on the pair itself with the self-supervised
    # loss (no ground truth), giving one more candidate map: "never", "always", or
    # "low_confidence" (only when the learned map's confidence is below its threshold: the
    # default; a trusted map costs nothing more), or "replace" (on every pair, and the adapted
    # network's map replaces the model's own instead of being one more candidate); with an init
    # other than "learned", adaptation does not run (there is no learned network to adapt)
    adapt_when: str = "low_confidence"
    adapt_steps: int | None = None  # optimizer steps when it runs (None: shapecorr.learn.adapt.ADAPT_STEPS)
    adapt_lr: float | None = None  # their learning rate (None: shapecorr.learn.adapt.ADAPT_LR)
    # the regularizers of the adaptation's loss: "axiomatic" (resolvent mask in the map layer,
    # orthogonality and Laplacian commutativity in the loss) or "prior" (the learned prior
    # zeroshot_prior: its distilled mask and score-distillation penalty, on maps of its size)
    adapt_regularizer: str = "axiomatic"
    # the learned initial map made in the other direction too (each source point's nearest feature
    # on the target, transposed), refined and assessed like the first, the more trusted kept:
    # on "point_clouds" (pairs with a point cloud; the default), "always" or "never"
    learned_reverse: str = "point_clouds"
    # init "zeroshot": a random feature network trained on the pair itself (no trained model),
    # its regularizers the learned prior's ("prior": zeroshot_prior, a bundled name or .pt
    # file) or the axiomatic ones; steps/lr None: shapecorr.learn.prior.zeroshot's defaults
    zeroshot_steps: int | None = None
    zeroshot_lr: float | None = None
    zeroshot_regularizer: str = "prior"
    zeroshot_prior: str = "prior_k30"
    # weight of the zero-shot loss's orientation term on two meshes (None: shapecorr.learn.prior.zeroshot's default; 0: off)
    zeroshot_orient: float | None = None
    # while the zero-shot map is not trusted (confidence below its threshold), up to this many more
    # zero-shot maps from other random starts (seed + 1, ...); the most trusted candidate is kept
    zeroshot_retries: int = 0
    # on two meshes, each zero-shot map's features are also matched by the exact functional-map solve
    # (descriptor preservation, their commutativity and orientation operators, the fallback's solve
    # weights) at these (k_init, w_orient multiplier) pairs, each one more candidate (None:
    # shapecorr.learn.prior.zeroshot.ZEROSHOT_SOLVES; empty: none)
    zeroshot_solves: tuple | None = None

    def __post_init__(self):
        for name in ("feature_model", "feature_model_point_cloud"):
            value = getattr(self, name)
            if value is None and name == "feature_model_point_cloud":
                continue
            _check(isinstance(value, str) and value, f"{name} must be a model name or file path, got {value!r}.")
            _check(_model_exists(value), f"{name}: no bundled model or file {value!r}; bundled: "
                   f"{', '.join(bundled_models()) or 'none'} (or give the path of a trained model file).")
        _positive_int("k_features", self.k_features, minimum=2)
        _positive_int("feature_threads", self.feature_threads, allow_none=True)
        _check(self.adapt_when in ADAPT_WHEN, f"unknown adapt_when {self.adapt_when!r}; use one of "
               f"{', '.join(ADAPT_WHEN)} (test-time adaptation of the feature network on the pair).")
        _check(self.learned_reverse in LEARNED_REVERSE, f"unknown learned_reverse {self.learned_reverse!r}; use one "
               f"of {', '.join(LEARNED_REVERSE)}.")
        _positive_int("adapt_steps", self.adapt_steps, allow_none=True)
        _check(self.adapt_regularizer in LOSS_REGULARIZERS, f"unknown adapt_regularizer "
               f"{self.adapt_regularizer!r}; use one of {', '.join(LOSS_REGULARIZERS)}.")
        _number("adapt_lr", self.adapt_lr, allow_none=True, minimum=0.0)
        _check(self.adapt_lr is None or self.adapt_lr > 0,
               f"adapt_lr must be a number > 0 or null, got {self.adapt_lr!r}.")
        _positive_int("zeroshot_steps", self.zeroshot_steps, allow_none=True, minimum=0)
        _number("zeroshot_lr", self.zeroshot_lr, allow_none=True, minimum=0.0)
        _check(self.zeroshot_lr is None or self.zeroshot_lr > 0,
               f"zeroshot_lr must be a number > 0 or null, got {self.zeroshot_lr!r}.")
        _number("zeroshot_orient", self.zeroshot_orient, allow_none=True, minimum=0.0)
        _positive_int("zeroshot_retries", self.zeroshot_retries, minimum=0)
        if self.zeroshot_solves is not None:
            _check(isinstance(self.zeroshot_solves, (list, tuple)) and all(
                isinstance(p, (list, tuple)) and len(p) == 2 for p in self.zeroshot_solves),
                f"zeroshot_solves must be a list of [k_init, w_orient multiplier] pairs or null, "
                f"got {self.zeroshot_solves!r}.")
            for k, mult in self.zeroshot_solves:
                _positive_int("zeroshot_solves k_init", k, minimum=2)
                _number("zeroshot_solves w_orient multiplier", mult, minimum=0.0)
            object.__setattr__(self, "zeroshot_solves", tuple((int(k), float(m)) for k, m in self.zeroshot_solves))
        _check(self.zeroshot_regularizer in LOSS_REGULARIZERS, f"unknown zeroshot_regularizer "
               f"{self.zeroshot_regularizer!r}; use one of {', '.join(LOSS_REGULARIZERS)}.")
        _check(isinstance(self.zeroshot_prior, str) and _prior_exists(self.zeroshot_prior),
               f"zeroshot_prior: no bundled prior or file {self.zeroshot_prior!r}; {_bundled_priors()}.")


@dataclass(frozen=True)
class SolveSettings:
    """The axiomatic initial map: descriptors and the energy of the exact functional-map solve."""

    descriptor: str = "wks"
    n_descriptors: int = 100
    descriptor_step: int = 2  # keep every n-th descriptor in the energy
    k_descriptor: int = 40  # eigenpairs used to build descriptors (fewer = smoother, more robust)
    w_descr: float = 1.0
    w_lap: float = 0.01
    w_dcomm: float = 0.1
    w_orient: float = 1.0
    orient_candidates: tuple = (1.0,)  # w_orient multipliers tried at k_init (two meshes)
    k_init_candidates: tuple = (20, 40)  # further initial-map sizes tried after those
    flip_check: bool = True  # try those candidates (two meshes) and keep the most trusted map
    # how the energy's terms are normalized ("frobenius", or pyFM's "canonical": through the
    # effective number of descriptors) and the Laplacian mask ("squared" or "resolvent");
    # shapecorr.fmap.solve explains both
    term_scales: str = "frobenius"
    lap_mask: str = "squared"
    # more energies ([term_scales, lap_mask] pairs) whose axiomatic candidates run after this
    # one's, each until one is trusted; the most trusted map of all is kept (the exact solves on
    # learned features use the energy above only)
    extra_energies: tuple = ()

    def __post_init__(self):
        _check(self.term_scales in TERM_SCALES,
               f"unknown term_scales {self.term_scales!r}; use one of {', '.join(TERM_SCALES)}.")
        _check(self.lap_mask in LAP_MASKS, f"unknown lap_mask {self.lap_mask!r}; use one of {', '.join(LAP_MASKS)}.")
        extra = self.extra_energies
        _check(isinstance(extra, (list, tuple)) and all(isinstance(e, (list, tuple)) and len(e) == 2 for e in extra),
               f"extra_energies must be a list of [term_scales, lap_mask] pairs, got {extra!r}.")
        for scales, mask in extra:
            _check(scales in TERM_SCALES and mask in LAP_MASKS, f"extra_energies: unknown energy [{scales!r}, "
                   f"{mask!r}]; term_scales is one of {', '.join(TERM_SCALES)}, lap_mask one of {', '.join(LAP_MASKS)}.")
        object.__setattr__(self, "extra_energies", tuple((str(s), str(m)) for s, m in extra))
        _check(self.descriptor in DESCRIPTORS,
               f"unknown descriptor {self.descriptor!r}; use one of {', '.join(DESCRIPTORS)}.")
        _positive_int("n_descriptors", self.n_descriptors)
        _positive_int("descriptor_step", self.descriptor_step)
        _positive_int("k_descriptor", self.k_descriptor, minimum=2)
        for name in ("w_descr", "w_lap", "w_dcomm", "w_orient"):
            _number(name, getattr(self, name), minimum=0.0)
        object.__setattr__(self, "orient_candidates", tuple(self.orient_candidates))
        object.__setattr__(self, "k_init_candidates", tuple(self.k_init_candidates))
        _check(len(self.orient_candidates) >= 1, "orient_candidates needs at least one multiplier.")
        for m in self.orient_candidates:
            _number("orient_candidates", m, minimum=0.0)
        for k in self.k_init_candidates:
            _positive_int("k_init_candidates", k, minimum=2)
        _check(isinstance(self.flip_check, bool), f"flip_check must be true or false, got {self.flip_check!r}.")


@dataclass(frozen=True)
class ZoomOutSettings:
    """Sizes of the initial and final maps and how ZoomOut reaches the final one."""

    k_init: int = 30  # size of the initial functional map
    k_final: int = 100  # ZoomOut target size
    zoomout_step: int = 5
    zoomout_samples: int | None = 2000  # vertices per shape used by the ZoomOut steps (None: all)
    refine_iters: int = 2  # full-resolution ZoomOut iterations at k_final after the sampled ones
    refine_max_vertices: int = 8000  # above this size (CPU), refine on this many random target vertices
    # feature-guided ZoomOut (learned initial map): every vertex-map step of the learned candidate
    # matches [spectral embedding, learned features] (fmap.refine.feature_guides: the features'
    # leading guide_dims joint principal axes, rows scaled to an RMS norm of guide_weight; the
    # spectral embedding's is sqrt(k)); 0: spectral embedding alone
    guide_weight: float = 6.0
    guide_dims: int | None = 32  # None: all feature dimensions
    # full-resolution iterations of the feature-guided ZoomOut (refine_iters: unguided): the guides
    # hold the map, one iteration does what two did (19 FAUST_r tune pairs of 070-079: 1.176 against
    # 1.173, for 0.3 s less CPU; scripts/diag_refine.py --variant g6_d32_f1)
    guided_refine_iters: int = 1
    # precision polish of a learned pipeline's kept map: when the learned features agree with it
    # on fewer than polish_below of the target vertices (the nearest-feature source vertex within
    # 0.05 sqrt(area) of the map's image; fmap.refine.feature_agreement), the features are less
    # precise on these shapes than the map (as on animals), so an unguided ZoomOut on all vertices
    # grows the map by polish_extra more eigenfunctions (100 -> 140), and it is kept unless the
    # confidence stops trusting it; None: never (docs/bench/tosca_diag/notes.md, "Precision polish").
    # Pairs too large for steps on all vertices (refine_max_vertices, CPU) are not polished: grown
    # on samples the map got worse (docs/bench/generalize_cpu/tosca_remeshed/notes.md)
    polish_extra: int | None = 40
    polish_below: float = 0.75
    # ... then this many bijective ZoomOut steps at that size (fmap.refine.bijective_zoomout: both
    # directions' maps together, each vertex-map step asking them to invert each other; 0: none;
    # two meshes only; notes.md, "A bijective polish")
    polish_bijective_iters: int = 2
    # registration of a kept map the confidence is not near-certain of (below register_below; two
    # meshes of at most refine_max_vertices each, not matched through proxies): the source is
    # deformed onto the target from the map (ARAP-regularized non-rigid ICP,
    # shapecorr.deform.registration) and both vertex maps are read off it; kept unless the
    # confidence stops trusting a map it trusted. Between shapes of different builds (parts
    # re-proportioned) it repairs maps that intrinsic matching leaves imprecise or partly wrong;
    # it can hurt where a shape touches itself (crossed arms, joined hands). None: never. Chosen
    # on re-proportioned tune shapes (FAUST_r 070-079, TOSCA_r's even-numbered animals;
    # docs/bench/generalize_cpu/nonisometric_sets/register_polish)
    register_below: float | None = 0.95
    # ... and a map whatever its confidence when the learned features agree with it on fewer than
    # this fraction of the target vertices (the polish's measure, fmap.refine.feature_agreement:
    # the features are less precise than the map there, as on animals; human maps agree at 0.95
    # or more; measured where the polish measures it: a learned feature model, polish_extra set,
    # a pair refined on all its vertices). None: the confidence alone decides. Same limits as
    # register_below. Chosen on the re-proportioned tune animals (register_polish study);
    # TOSCA_r: docs/bench/tosca_full_cpu/registration_agreement
    register_agreement_below: float | None = 0.75
    # ... a pair with a shape above refine_max_vertices (a scan-resolution pair, or one matched
    # through proxies) through proxies of about this many vertices (shapecorr.deform.precise.
    # deformed_source: every source vertex follows its proxy), so that it costs a 5k pair's
    # registration (5-6 s of CPU); the size at which the registration was chosen. None: such
    # pairs are not registered (docs/bench/generalize_cpu/scanres_registration)
    register_proxy_size: int | None = REGISTER_PROXY_SIZE

    def register_max_vertices(self, n_vertices: int) -> int | None:
        """The ``max_vertices`` of a registration of a pair whose larger shape has ``n_vertices``
        (:func:`shapecorr.deform.precise.deformed_source`): None (full resolution) up to
        ``refine_max_vertices``, else ``register_proxy_size``."""
        return register_max_vertices(n_vertices, full_up_to=self.refine_max_vertices,
                                     proxy_size=self.register_proxy_size)
    # refine every initial map toward this learned prior over functional maps before its ZoomOut
    # (a bundled name such as prior_k30, or a .pt file of `shapecorr prior train`; the prior's
    # use 3 of issue 12). None (the default): off, because it made the maps after ZoomOut worse
    # on FAUST_r and TOSCA_r (README, "Learned prior over functional maps"). An initial map
    # smaller than the prior's size is left as it is.
    prior_refine: str | None = None

    def __post_init__(self):
        _positive_int("k_init", self.k_init, minimum=2)
        _positive_int("k_final", self.k_final, minimum=2)
        _check(self.k_init <= self.k_final, f"k_init ({self.k_init}) must not exceed k_final ({self.k_final}).")
        _positive_int("zoomout_step", self.zoomout_step)
        _positive_int("zoomout_samples", self.zoomout_samples, allow_none=True, minimum=10)
        _positive_int("refine_iters", self.refine_iters, minimum=0)
        _positive_int("refine_max_vertices", self.refine_max_vertices, minimum=10)
        _number("guide_weight", self.guide_weight, minimum=0.0)
        _positive_int("guide_dims", self.guide_dims, allow_none=True)
        _positive_int("guided_refine_iters", self.guided_refine_iters, minimum=0)
        _positive_int("polish_extra", self.polish_extra, allow_none=True, minimum=1)
        _number("polish_below", self.polish_below, minimum=0.0)
        _check(self.polish_below <= 1.0, f"polish_below is a fraction of vertices in [0, 1], got {self.polish_below!r}.")
        _positive_int("polish_bijective_iters", self.polish_bijective_iters, minimum=0)
        _number("register_below", self.register_below, allow_none=True, minimum=0.0)
        _number("register_agreement_below", self.register_agreement_below, allow_none=True, minimum=0.0)
        if self.register_proxy_size is not None:
            _positive_int("register_proxy_size", self.register_proxy_size, minimum=100)
        _check(self.register_agreement_below is None or self.register_agreement_below <= 1.0,
               f"register_agreement_below is a fraction of vertices in [0, 1] or null, got {self.register_agreement_below!r}.")
        _check(self.prior_refine is None or (isinstance(self.prior_refine, str) and _prior_exists(self.prior_refine)),
               f"prior_refine: no bundled prior or file {self.prior_refine!r}; {_bundled_priors()} (or null: off).")


#: how a pair with a point cloud is matched: through a surface reconstructed from the cloud, or as points
POINT_CLOUD_SURFACES = ("mixed", "poisson", "none")


@dataclass(frozen=True)
class LargeSettings:
    """A pair is *large* when both shapes have more than ``large_above`` vertices; a finer mesh
    resolves more eigenfunctions, so ZoomOut then grows the map to ``k_final_large`` on
    ``zoomout_samples_large`` samples, and the target's samples are matched among all source
    vertices (FAUST_r subdivided to 80k vertices, 5 pairs: 1.39 -> 1.26 x100).

    Two meshes of which one has more than ``proxy_above`` vertices are matched through proxies
    of about ``proxy_size`` vertices each (:mod:`shapecorr.core.proxy`: quadric decimation, every
    vertex projected onto it) and the map is lifted to every vertex (:mod:`shapecorr.fmap.lift`):
    a 125k-vertex FAUST_r pair in about 30 s of CPU and under 1 GB, as accurate as at 5k
    (``docs/bench/large_cpu``). ``proxy_above: null`` matches at full resolution.

    ``point_cloud_surface``: ``"poisson"`` matches a pair with a point cloud through a surface
    reconstructed from each cloud (:mod:`shapecorr.core.reconstruct`, needs pymeshlab) as a
    proxy, by the mesh path, and lifts the map to every point; a cloud whose reconstruction
    fails its checks (or without pymeshlab) is matched as points, with a warning; a map
    through the surfaces that is not trusted is compared with the points' map and the more
    trusted is kept (FAUST_r 070-079 clouds, 20 pairs: 3.29 / 4 above 5 as points, 2.89 / 4
    through the surfaces, 2.75 / 3 with that rule; 10 mesh -> cloud pairs: 3.04 / 1 -> 2.55 / 1).
    This is the default: with the third ``faust_r_wks`` two clouds gain too (validation, FAUST_r
    070-079, 20 pairs: 2.33 / 2 above 5 as points, 2.08 / 0 through the surfaces; then the 40
    test pairs once: 2.50 / 5 -> 1.96 / 0; docs/bench/generalize_cpu/pc_surface_third), for
    about twice the CPU. ``"mixed"`` (the default before): only a pair of a mesh and a point
    cloud (with the second model two clouds gained nothing for 3-4x the time:
    docs/bench/generalize_cpu/pc_surface). ``"none"``: always as points."""

    large_above: int = 8000
    k_final_large: int | None = 130  # None: k_final
    zoomout_samples_large: int | None = 5000  # None: zoomout_samples
    proxy_above: int | None = 30000
    proxy_size: int = 10000  # above large_above, so that proxy pairs are large pairs
    point_cloud_surface: str = "poisson"
    # a large pair's fallback candidates (feature solves, axiomatic solves) are refined first at a
    # 5k pair's sizes (k_final on zoomout_samples samples), and only those that beat the map kept
    # so far are refined again at the pair's sizes (pipeline.screening_plan, _Run._screened). On
    # 12 large pairs with the fallback (scan-resolution FAUST_r with missing regions, TOSCA_r
    # remeshed) every error stayed the same, for 3-38 % less CPU (a 21k/29k pair 139 -> 111 s);
    # False: every candidate at the pair's sizes (docs/bench/generalize_cpu/scanres_flawed/screening)
    screen_fallback: bool = True

    def __post_init__(self):
        _positive_int("large_above", self.large_above, minimum=10)
        _check(isinstance(self.screen_fallback, bool),
               f"screen_fallback must be true or false, got {self.screen_fallback!r}.")
        _check(self.point_cloud_surface in POINT_CLOUD_SURFACES, f"unknown point_cloud_surface "
               f"{self.point_cloud_surface!r}; use one of {', '.join(POINT_CLOUD_SURFACES)}.")
        _positive_int("proxy_above", self.proxy_above, allow_none=True, minimum=100)
        _positive_int("proxy_size", self.proxy_size, minimum=100)
        if self.proxy_above is not None:
            _check(self.proxy_size < self.proxy_above, f"proxy_size ({self.proxy_size}) must be below proxy_above "
                   f"({self.proxy_above}): a proxy stands in for a larger shape.")
        _positive_int("k_final_large", self.k_final_large, allow_none=True, minimum=2)
        _positive_int("zoomout_samples_large", self.zoomout_samples_large, allow_none=True, minimum=10)


def _as_lists(value):
    """Tuples (nested too, and inside mappings) as lists: JSON- and YAML-friendly."""
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return [_as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def _as_tuples(value):
    """Lists (nested too) as tuples, so that settings read from YAML stay hashable."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# the settings of the solve group that the fallback may change
FALLBACK_KEYS = tuple(f.name for f in fields(SolveSettings))


@dataclass(frozen=True)
class FallbackSettings:
    """With ``use_fallback``, a learned map whose confidence is below ``fallback_below`` also
    runs the fallback candidates (on two meshes the exact solves on the learned features, then
    the axiomatic solves with ``fallback_solve``: changes to the solve group; by default pyfmaps'
    README weights and WKS from 100 eigenpairs, which suit shape classes far from the model's
    humans, and after the axiomatic candidates of our energy those of pyFM's, ``extra_energies``,
    :mod:`shapecorr.fmap.solve`); the most trusted map is kept. ``fallback_below`` is 0.95 by
    default: a map the confidence trusts (at or above its calibrated threshold, 0.59) but is not
    near-certain of gets this second opinion as well (every FAUST_r test map is at 0.987 or
    more, so it costs nothing there; on TOSCA_r's animals the trusted maps between 0.59 and
    0.95 were the ones with swapped limbs). None: the calibrated threshold, i.e. only maps
    flagged as not trusted."""

    use_fallback: bool = True
    fallback_below: float | None = 0.95
    # a kept axiomatic map (the learned features had no say in it) whose images lie within
    # 0.2 sqrt(area) of the most trusted learned map's on fewer than this fraction of the target
    # vertices is flagged as not trusted: the two disagree about where half the shape goes (a
    # rotated or mirrored body), and the confidence cannot tell which is right. The map is kept;
    # only its trust changes. None: off. The half is a priori (no tune pair had such a map kept:
    # right axiomatic maps kept on tune pairs agreed on 0.93-1.00, docs/bench/generalize_cpu/
    # nonisometric_sets/wrong_axiomatic). The same fraction flags a match whose first and second
    # models' maps (second_model below) disagree, whichever is kept (docs/bench/confidence/
    # second_opinion).
    flag_disagreement_below: float | None = 0.5
    # a second feature model (a bundled name or a file): two meshes whose match is below
    # fallback_below are matched once more, whole, with it as feature_model, and the more trusted
    # match is kept (info["second_model"]); None: off, and off when a feature_model is given
    # without it (load_preset). On 45 re-proportioned FAUST_r validation pairs (the tune set),
    # with selfsup_general, 3.74 -> 3.41 mean and 4 -> 3 pairs above 5; confirmed on the test
    # sets before it became the default (docs/bench/generalize_cpu/second_model_default); about
    # 2.5-3x the CPU of the pairs it runs on (the ~19 % of TOSCA_r pairs below 0.95, no FAUST_r one).
    second_model: str | None = "selfsup_general"
    fallback_solve: tuple = (("extra_energies", (("canonical", "resolvent"),)), ("k_descriptor", 100),
                             ("w_dcomm", 1.0), ("w_lap", 0.1))

    def __post_init__(self):
        _check(isinstance(self.use_fallback, bool), f"use_fallback must be true or false, got {self.use_fallback!r}.")
        _number("fallback_below", self.fallback_below, allow_none=True, minimum=0.0)
        _number("flag_disagreement_below", self.flag_disagreement_below, allow_none=True, minimum=0.0)
        _check(self.second_model is None or (isinstance(self.second_model, str) and self.second_model.strip()),
               f"second_model must be a feature model's name or file, or null; got {self.second_model!r}.")
        _check(self.flag_disagreement_below is None or self.flag_disagreement_below <= 1.0,
               f"flag_disagreement_below is a fraction of vertices in [0, 1] or null, got "
               f"{self.flag_disagreement_below!r}.")
        items = self.fallback_solve
        if isinstance(items, dict):
            items = tuple(sorted(items.items()))
        items = tuple(sorted((str(k), _as_tuples(v)) for k, v in (items or ())))
        bad = sorted({k for k, _ in items} - set(FALLBACK_KEYS))
        _check(not bad, f"fallback_solve: {bad} cannot be set for the fallback solve; allowed: "
               f"{', '.join(FALLBACK_KEYS)}.")
        object.__setattr__(self, "fallback_solve", items)


GROUPS = {"features": FeatureSettings, "solve": SolveSettings, "zoomout": ZoomOutSettings,
          "large": LargeSettings, "fallback": FallbackSettings}
TOP_LEVEL = ("init", "laplacian", "seed", "blas_threads")
# flat setting name -> its group
GROUP_OF = {f.name: g for g, cls in GROUPS.items() for f in fields(cls)}


@dataclass(frozen=True)
class MatchSettings:
    """Every parameter of the match pipeline, grouped (see the module docstring). Build with
    :func:`load_preset` or :meth:`from_dict`; change with :meth:`replace` (a new object)."""

    init: str = "learned"  # initial map: "learned" (feature nearest neighbours) or "axiomatic" (WKS solve)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    solve: SolveSettings = field(default_factory=SolveSettings)
    zoomout: ZoomOutSettings = field(default_factory=ZoomOutSettings)
    large: LargeSettings = field(default_factory=LargeSettings)
    fallback: FallbackSettings = field(default_factory=FallbackSettings)
    laplacian: str = "auto"
    seed: int = 0
    # BLAS/OpenMP threads inside match (None: library default). One thread is as fast here (the
    # matrices are small) and immune to spinning BLAS threads when processes share the cores.
    blas_threads: int | None = 1

    def __post_init__(self):
        _check(self.init in INITS, f"unknown init {self.init!r}; use 'learned' (learned features), "
               "'axiomatic' (WKS functional-map solve) or 'zeroshot' (features optimised on the pair).")
        _check(self.laplacian in LAPLACIANS,
               f"unknown laplacian {self.laplacian!r}; use one of {', '.join(LAPLACIANS)}.")
        _positive_int("seed", self.seed, minimum=0)
        _positive_int("blas_threads", self.blas_threads, allow_none=True)
        for name, cls in GROUPS.items():
            _check(isinstance(getattr(self, name), cls), f"{name} must be a {cls.__name__}.")
        _check(self.init == "learned" or self.features.adapt_when not in ("always", "replace"),
               f"adapt_when={self.features.adapt_when!r} adapts the learned features, but init is {self.init!r}; "
               "use init 'learned' (a preset other than 'axiomatic') or adapt_when 'never'.")

    def __getattr__(self, name: str) -> Any:
        """Flat read access to grouped settings (``s.k_final`` is ``s.zoomout.k_final``)."""
        group = GROUP_OF.get(name)
        if group is None:
            raise AttributeError(f"MatchSettings has no setting {name!r}")
        return getattr(object.__getattribute__(self, group), name)

    # ---------------------------------------------------------------- derived
    def fallback_solve_settings(self) -> SolveSettings:
        """The solve group of the fallback (this one with ``fallback.fallback_solve`` applied)."""
        return dataclasses.replace(self.solve, **dict(self.fallback.fallback_solve))

    def k_needed(self, solve: SolveSettings | None = None) -> int:
        """Eigenpairs the solver needs on a shape (before learned-feature or large-pair extras)."""
        s = solve or self.solve
        return max(self.k_final, self.k_init, s.k_descriptor, *s.k_init_candidates)

    # ---------------------------------------------------------- conversions
    @classmethod
    def from_dict(cls, d: dict) -> "MatchSettings":
        """Settings from a flat or grouped dict (a preset file's content)."""
        return cls().replace(**d)

    def replace(self, **changes) -> "MatchSettings":
        """A copy with flat (``k_final=60``) or grouped (``zoomout={"k_final": 60}``) changes."""
        grouped: dict[str, dict] = {g: {} for g in GROUPS}
        top: dict[str, Any] = {}
        unknown = []
        for key, value in changes.items():
            if key in GROUPS:
                if not isinstance(value, dict):
                    raise SettingsError(f"{key} must be a mapping of settings, got {value!r}.")
                for k, v in value.items():
                    if GROUP_OF.get(k) != key:
                        unknown.append(f"{key}.{k}")
                    grouped[key][k] = v
            elif key in GROUP_OF:
                grouped[GROUP_OF[key]][key] = value
            elif key in TOP_LEVEL:
                top[key] = value
            else:
                unknown.append(key)
        if unknown:
            raise SettingsError(f"unknown match setting(s) {sorted(unknown)}; known: "
                                f"{', '.join(sorted([*GROUP_OF, *TOP_LEVEL]))}.")
        try:
            new_groups = {g: dataclasses.replace(getattr(self, g), **c) for g, c in grouped.items() if c}
            return dataclasses.replace(self, **top, **new_groups)
        except TypeError as exc:  # a wrongly typed value that the checks could not compare
            raise SettingsError(f"invalid match settings: {exc}") from exc

    def to_dict(self) -> dict:
        """Grouped, JSON- and YAML-friendly (tuples as lists); ``from_dict`` reads it back."""
        out: dict[str, Any] = {name: getattr(self, name) for name in TOP_LEVEL}
        for g in GROUPS:
            d = dataclasses.asdict(getattr(self, g))
            if g == "fallback":
                d["fallback_solve"] = dict(self.fallback.fallback_solve)
            out[g] = {k: _as_lists(v) for k, v in d.items()}
        return out

    def flat(self) -> dict:
        """Every setting under its flat name."""
        out = {name: getattr(self, name) for name in TOP_LEVEL}
        for g in GROUPS:
            out.update(self.to_dict()[g])
        return out


# ------------------------------------------------------------------------------ presets
def _model_exists(name: str) -> bool:
    return name in bundled_models() or Path(name).expanduser().is_file()


# the bundled priors over functional maps (shapecorr.learn.prior; read here without importing torch)
PRIOR_DIR = Path(__file__).resolve().parent / "learn" / "prior" / "weights"


def _prior_exists(name: str) -> bool:
    return bool(name) and ((PRIOR_DIR / f"{name}.pt").is_file() or Path(name).expanduser().is_file())


def _bundled_priors() -> str:
    """What a settings error about a prior offers instead."""
    names = ", ".join(p.stem for p in sorted(PRIOR_DIR.glob("prior_*.pt"))) or "none"
    return f"bundled: {names} (or a .pt file written by `shapecorr prior train`)"


def available_presets() -> list[str]:
    """Names of the presets shipped in the package."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def presets_like(settings: MatchSettings) -> tuple[str, ...]:
    """The shipped presets whose settings are exactly ``settings`` (what a match made with them
    ran: its advice does not suggest them again); none for settings changed by overrides."""
    return tuple(name for name in available_presets() if _shipped(name) == settings)


@functools.lru_cache(maxsize=None)
def _shipped(name: str) -> MatchSettings:
    return load_preset(name)


def preset_description(name: str) -> str:
    """The one-line description at the top of a shipped preset."""
    return str(_read_yaml(PRESET_DIR / f"{name}.yaml").get("description", ""))


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read this preset file ({exc.strerror or exc}).") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a preset must be a mapping of settings, got {type(data).__name__}.")
    return data


def _preset_dict(preset) -> dict:
    if isinstance(preset, MatchSettings):
        return preset.to_dict()
    if isinstance(preset, dict):
        return dict(preset)
    if preset is None:
        preset = "default"
    path = Path(preset)
    if path.suffix not in (".yaml", ".yml"):
        path = PRESET_DIR / f"{preset}.yaml"
        if not path.exists():
            raise SettingsError(f"unknown preset {str(preset)!r}; available: {', '.join(available_presets())} "
                                "(or give the path of a YAML file).")
    elif not path.exists():
        raise SettingsError(f"preset file {path}: no such file.")
    return _read_yaml(path)


def load_preset(preset: str | Path | dict | MatchSettings | None = None, **overrides) -> MatchSettings:
    """Settings from a preset (a shipped name, a YAML path, a dict or settings; None: default),
    with flat keyword ``overrides``.

    Sizes asked for explicitly hold at every resolution: ``k_final`` or ``zoomout_samples``
    given without their ``*_large`` counterparts also apply to large pairs, and a ``k_final``
    below the preset's ``k_init`` lowers ``k_init`` to it. A ``feature_model`` given without
    ``feature_model_point_cloud`` is used for point clouds too, and turns ``second_model`` off
    unless that is given too.
    """
    base = _preset_dict(preset)
    base.pop("description", None)
    overrides = dict(overrides)
    for name in ("k_final", "zoomout_samples"):
        if name in overrides and f"{name}_large" not in overrides:
            overrides[f"{name}_large"] = None
    if "feature_model" in overrides and "feature_model_point_cloud" not in overrides:
        overrides["feature_model_point_cloud"] = None
    if "feature_model" in overrides and "second_model" not in overrides:
        overrides["second_model"] = None  # the caller's model, not a bundled second one
    settings = MatchSettings.from_dict(base)
    k_final = overrides.get("k_final")
    if "k_init" not in overrides and isinstance(k_final, int) and k_final >= 2:
        overrides["k_init"] = min(settings.k_init, k_final)
    return settings.replace(**overrides)
