"""The map between two shapes of a finished collection, on demand.

Three ways, from the cheapest:

- ``via="template"``: the map files composed, ``template_to_B[A_to_template]`` (two
  nearest-vertex roundings, one on the template, one on B);
- ``via="latent"``: nearest neighbours between the shapes' latent embeddings ``Phi_A A_A`` and
  ``Phi_B A_B`` (``OUT/latent``): the consistent functional maps composed, with one rounding at
  the end; no shape is read;
- ``refine=True`` after either: the pair's own ZoomOut steps at the final size (the pipeline's
  full-resolution steps, :func:`refine_pair`) started from that map, guided by both shapes'
  learned features as the pipeline's learned map is (when the run's settings use learned
  features); reads both shapes' eigenbases (from the disk cache, or computed again) and runs the
  feature network on each (kept in memory for the next pair), about 1.5 s of CPU for a first pair
  of 5k-vertex shapes, 0.5 s once their features are known.
  Where the map files of both shapes were read off a registration (``registration`` kept in
  ``maps/NAME_confidence.json``: the matcher registered their direct maps, as on animals), the
  refined pair is registered too, as the matcher registers after its ZoomOut (the ZoomOut
  steps alone would lose the registration's precision); about 6 s of CPU more at 5k vertices.

``via="auto"`` is ``template`` when the map files of both shapes were made with the guided
ZoomOut steps (``CollectionSettings.guided_final``, learned presets; recorded as ``guided`` in
``maps/NAME_confidence.json``), else ``latent`` when both embeddings are there (the joint
refinement ran), else ``template``. With guided files, composing them is closer to the ground
truth than the latent space (FAUST_r tuning shapes 000-077, 45 pairs: 1.20 against 2.16, and
1.06 against 1.08 once refined); without, the latent space was (2.29 against 2.44). See the
README's Collections section.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..config import MatchSettings, load_preset
from ..core import MatchFileError, load
from ..fmap import p2p_to_fmap, zoomout
from ..fmap.convert import usable_cores
from ..fmap.refine import guided_p2p
from ..fmap.prepare import Prepared
from ..pipeline import feature_model_name, plan_pair, prepare, refine_rows, refinement_guides, shape_features
from .store import CollectionFolder, compose, compose_latent

VIAS = ("auto", "latent", "template")


class PairMaps(NamedTuple):
    p2p_ab: np.ndarray  # (n_a,) vertex of b for each vertex of a
    p2p_ba: np.ndarray  # (n_b,) vertex of a for each vertex of b
    via: str  # "latent" or "template"
    refined: bool
    registered: bool = False  # the refined maps read off a registration of a onto b


def pair_maps(folder, a: str, b: str, *, via: str = "auto", refine: bool = False, iterations: int | None = None,
              device: str = "cpu") -> PairMaps:
    """The maps between shapes ``a`` and ``b`` of the collection in ``folder`` (see the module).

    ``iterations``: ZoomOut steps of the refinement (default: the run's ``refine_iters``).
    """
    f = folder if isinstance(folder, CollectionFolder) else CollectionFolder(folder)
    f.check()
    if via not in VIAS:
        raise ValueError(f"via={via!r}: use one of {', '.join(VIAS)}.")
    if via == "auto":
        via = "latent" if f.has_latent(a, b) and not guided_files(f, a, b) else "template"
    p2p_ab, p2p_ba = compose_latent(f, a, b) if via == "latent" else compose(f, a, b)
    if not refine:
        return PairMaps(p2p_ab, p2p_ba, via, False)
    s = run_settings(f)
    Pa, Pb = (_prepared(f, name, s, device) for name in (a, b))
    guides = pair_guides(tuple(f.shape_path(n) for n in (a, b)), (Pa, Pb), s, device)
    p2p_ab, p2p_ba = refine_pair(p2p_ba, Pa, Pb, s, iterations=iterations, device=device, guides=guides)
    if not registered_files(f, a, b):
        return PairMaps(p2p_ab, p2p_ba, via, True)
    from ..deform.precise import registered_vertex_maps

    p2p_ba, p2p_ab, _ = registered_vertex_maps(Pa.shape, Pb.shape, p2p_ba, p2p_ab,
                                               max_vertices=s.zoomout.register_max_vertices(
                                                   max(Pa.shape.n_vertices, Pb.shape.n_vertices)))
    return PairMaps(p2p_ab, p2p_ba, via, True, True)


def registered_files(folder: CollectionFolder, a: str, b: str) -> bool:
    """Whether the map files of ``a`` and ``b`` (the template's own need none) were read off a
    registration (``CollectionSettings.register_final``)."""
    template = folder.template()
    names = [n for n in (a, b) if n != template]
    return bool(names) and all((folder.confidence(n).get("registration") or {}).get("kept", False) for n in names)


def guided_files(folder: CollectionFolder, a: str, b: str) -> bool:
    """Whether the map files of ``a`` and ``b`` (the template's own need none) were made with the
    guided ZoomOut steps."""
    template = folder.template()
    return all(folder.confidence(n).get("guided", False) for n in (a, b) if n != template)


def run_settings(folder: CollectionFolder) -> MatchSettings:
    """The match settings the collection was run with (from its report)."""
    report = folder.report()
    match = report.get("settings", {}).get("match")
    if match is None:
        raise MatchFileError(f"{folder.report_path}: missing or without the run's settings (the run did not "
                             "finish); rerun `shapecorr collection` before refining pairs.")
    return load_preset(match)


def _prepared(folder: CollectionFolder, name: str, s: MatchSettings, device: str) -> Prepared:
    path = folder.shape_path(name)
    if path is None:
        raise MatchFileError(f"{folder.root}: the file of shape {name!r} is not known or no longer there "
                             f"({folder.record_path(name)}); the refinement needs the shapes themselves.")
    return prepare_file(path, s, device)


def prepare_file(path, s: MatchSettings, device: str) -> Prepared:
    """A collection's shape file prepared as a match prepares it (from the disk cache), without
    its warnings again (the collection run reported them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare(load(path), s, device=device)


#: learned features of the shapes refined last, by (file, its modification time, model, device):
#: a benchmark or a viewer that refines many pairs of one collection runs the network once per shape
_FEATURES: dict = {}
_FEATURES_KEPT = 64


def pair_guides(paths: tuple, prepared: tuple, s: MatchSettings, device: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The pipeline's feature guides (:func:`shapecorr.pipeline.refinement_guides`) of a pair,
    from both shapes' learned features (``paths``: their files, which key the features kept in
    memory; ``prepared``: the shapes prepared), or None when the settings use no learned
    features or no guides. The network runs on ``s.feature_threads`` threads (None: all usable
    cores), as a match with these settings runs it."""
    if s.init != "learned" or not s.zoomout.guide_weight:
        return None
    model = feature_model_name(s, *(P.shape for P in prepared))
    threads = s.feature_threads or usable_cores()
    feats = [_features(path, P, model, device, threads) for path, P in zip(paths, prepared)]
    return refinement_guides(feats, s)


def _features(path, P: Prepared, model: str, device: str, threads: int) -> np.ndarray:
    path = Path(path)
    key = (str(path), path.stat().st_mtime_ns, model, device, threads)
    if key not in _FEATURES:
        if len(_FEATURES) >= _FEATURES_KEPT:
            _FEATURES.pop(next(iter(_FEATURES)))
        _FEATURES[key] = shape_features(P, model, device=device, threads=threads)
    return _FEATURES[key]


def refine_pair(p2p_ba: np.ndarray, Pa: Prepared, Pb: Prepared, s: MatchSettings, *, iterations: int | None = None,
                device: str = "cpu", guides: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(p2p_ab, p2p_ba)`` after ZoomOut steps at the final size started from ``p2p_ba``
    (vertex of a for each vertex of b): the functional map is fitted to the vertex map on
    all vertices, the vertex map recomputed from it, ``iterations`` times more (default the
    settings' ``refine_iters``, at least 1); on pairs too large for that (above
    ``refine_max_vertices`` on CPU) the fits use the pipeline's random subset of b's vertices.
    ``guides`` (per-vertex arrays of a and b, :func:`pair_guides`) join the spectral embeddings
    in every vertex-map step, both directions', as in :func:`shapecorr.pipeline.refine`; the
    reverse map goes through the adjoint, as there."""
    plan = plan_pair(Pa.shape.n_vertices, Pb.shape.n_vertices, s, device)
    k = min(plan.k_final, Pa.evecs.shape[1], Pb.evecs.shape[1])
    iters = max(1, s.refine_iters if iterations is None else int(iterations))
    C0 = p2p_to_fmap(np.asarray(p2p_ba), Pa.evecs[:, :k], Pb.evecs[:, :k], Pb.mass)
    C, p2p_ba = zoomout(C0, Pa.evecs, Pb.evecs, Pb.mass, k_final=k, refine_iters=iters,
                        refine_subset=refine_rows(plan, Pb.shape.n_vertices, s.seed), device=device, guides=guides)
    ga, gb = guides if guides is not None else (None, None)
    p2p_ab = guided_p2p(C.T, Pb.evecs, Pa.evecs, gb, ga, device=device)
    return p2p_ab, p2p_ba


def pair_info(folder: CollectionFolder, a: str, b: str, maps: PairMaps) -> dict:
    """What ``map.json`` says about a pair's maps."""
    how = {"latent": "nearest neighbours in the collection's latent space",
           "template": "through the template (map files composed)"}[maps.via]
    return {"source": a, "target": b, "template": folder.template(), "via": maps.via,
            "composed": how + (", then ZoomOut steps of the pair" if maps.refined else "")
            + (" and its registration" if maps.registered else ""), "refined": maps.refined,
            "registered": maps.registered,
            "source_confidence": folder.confidence(a).get("confidence"),
            "target_confidence": folder.confidence(b).get("confidence")}

