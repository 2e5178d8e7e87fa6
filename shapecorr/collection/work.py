"""The work of a collection, one shape or one pair at a time: the functions the executors run.

Each function takes paths and a :class:`WorkContext` (settings, cache folder, output folder),
writes its result under ``OUT/work`` or ``OUT/maps`` (atomically) and returns a small record.
A result already on disk for the same input file, template and settings is returned without
recomputation, which is what makes a rerun resume. All matching goes through
:mod:`shapecorr.pipeline` (``prepare``, ``match``, ``assess``), as every front end does.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..config import MatchSettings
from ..core import load, set_cache_dir
from ..fmap import p2p_to_fmap
from ..fmap.confidence import keeps_trust
from ..pipeline import Candidate, assess, confidence_descriptors, match, prepare
from . import consistency as cons
from .blocks import read_block
from .graph import signature
from .pairs import pair_guides, prepare_file, refine_pair
from .store import CollectionFolder, read_npz, write_indices, write_json, write_latent, write_npz


@dataclass(frozen=True)
class WorkContext:
    """What every task needs besides its own inputs (one copy in the object store)."""

    settings: MatchSettings
    out: str
    cache_dir: str | None  # the disk cache folder (None: disabled)
    device: str = "cpu"
    #: CPU threads of a match's feature network where the settings leave it open (None: all
    #: usable cores, as in one process); see ``collection(threads=...)``
    threads: int | None = None

    @property
    def folder(self) -> CollectionFolder:
        return CollectionFolder(self.out)

    @cached_property
    def match_settings(self) -> MatchSettings:
        """The settings a match runs with: :attr:`settings` with :attr:`threads` (a speed
        setting only; :attr:`key`, which decides what is redone, is that of :attr:`settings`)."""
        if self.threads is None or self.settings.feature_threads is not None:
            return self.settings
        return self.settings.replace(feature_threads=int(self.threads))

    @cached_property
    def key(self) -> str:
        """Identifies the match settings: results made with others are redone (computed once
        per copy of the context, not once per call)."""
        blob = json.dumps(self.settings.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def enter(self) -> None:
        """Use the run's cache folder in this worker (a Ray worker starts with the default)."""
        set_cache_dir(self.cache_dir)


def _file_stamp(path) -> list:
    st = Path(path).stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _warning_texts(caught) -> list[str]:
    return sorted({" ".join(str(w.message).split()) for w in caught})


# ----------------------------------------------------------------------------- per shape
def prepare_shape_task(name: str, path: str, ctx: WorkContext) -> dict:
    """Load one shape, prepare it as the matcher will (eigenbasis into the disk cache) and
    return its record: vertex count, content hash, shape-DNA signature. Raises on an
    unreadable or unusable file (the caller records it)."""
    ctx.enter()
    folder = ctx.folder
    stamp = _file_stamp(path)
    rec_path = folder.record_path(name)
    if rec_path.exists():
        try:
            rec = json.loads(rec_path.read_text())
            if rec.get("stamp") == stamp and rec.get("key") == ctx.key and rec.get("path") == str(path):
                return dict(rec, reused=True)
        except (OSError, json.JSONDecodeError):
            pass
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shape = load(path)
        P = prepare(shape, ctx.settings, device=ctx.device)
    rec = {"name": name, "path": str(path), "stamp": stamp, "key": ctx.key, "n_vertices": int(shape.n_vertices),
           "kind": "mesh" if shape.is_mesh else "point_cloud", "hash": shape.content_hash,
           "signature": [round(float(x), 6) for x in signature(P.evals)], "warnings": _warning_texts(caught),
           "time_s": round(time.perf_counter() - t0, 4), "cpu_s": round(time.process_time() - c0, 4)}
    write_json(rec_path, rec)
    return dict(rec, reused=False)


def match_template_task(name: str, path: str, shape_hash: str, template: dict, ctx: WorkContext) -> dict:
    """The direct map of one shape to the template (``shapecorr.match(shape, template)``),
    kept in ``work/direct/NAME.npz``: ``to_template`` (template vertex per shape vertex),
    ``from_template`` (shape vertex per template vertex) and the confidence."""
    ctx.enter()
    dest = ctx.folder.direct_path(name)
    done = read_npz(dest) if dest.exists() else None
    if done is not None and str(done["template_hash"]) == template["hash"] and str(done["key"]) == ctx.key \
            and str(done["shape_hash"]) == shape_hash:
        return _direct_summary(name, done, reused=True)
    t0, c0 = time.perf_counter(), time.process_time()
    if name == template["name"]:
        n = int(template["n_vertices"])
        ident = np.arange(n)
        arrays = dict(to_template=ident, from_template=ident, confidence=1.0, threshold=0.0, timings="{}",
                      warnings="[]")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = match(path, template["path"], ctx.match_settings, device=ctx.device)
        arrays = dict(to_template=m.p2p_12, from_template=m.p2p_21, confidence=float(m.info["confidence"]),
                      threshold=float(m.info["confidence_threshold"]), timings=json.dumps(m.timings),
                      warnings=json.dumps(_warning_texts(caught)),
                      registered=bool((m.info.get("registration") or {}).get("ran")))
    arrays.update(template_hash=template["hash"], key=ctx.key, shape_hash=shape_hash,
                  time_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    write_npz(dest, **arrays)
    return _direct_summary(name, arrays, reused=False)


def _direct_summary(name: str, d: dict, *, reused: bool) -> dict:
    return {"name": name, "confidence": float(d["confidence"]), "threshold": float(d["threshold"]),
            "time_s": round(float(d["time_s"]), 4), "cpu_s": round(float(d.get("cpu_s", 0.0)), 4),
            "timings": json.loads(str(d["timings"])),
            "warnings": json.loads(str(d["warnings"])), "reused": reused}


def match_pair_task(a: dict, b: dict, ctx: WorkContext) -> dict:
    """An independent pairwise map between neighbours ``a`` and ``b`` (their records; kept in
    ``work/edges/A--B.npz``:
    ``p2p_ab`` vertex of b per vertex of a, ``p2p_ba`` the other way, the confidence)."""
    ctx.enter()
    (a, path_a, hash_a), (b, path_b, hash_b) = ((r["name"], r["path"], r["hash"]) for r in (a, b))
    dest = ctx.folder.edge_path(a, b)
    hashes = f"{hash_a}:{hash_b}"
    done = read_npz(dest) if dest.exists() else None
    if done is not None and str(done["key"]) == ctx.key and str(done["hashes"]) == hashes:
        return {"a": a, "b": b, "confidence": float(done["confidence"]), "threshold": float(done["threshold"]),
                "time_s": round(float(done["time_s"]), 4), "cpu_s": round(float(done.get("cpu_s", 0.0)), 4),
                "reused": True}
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = match(path_a, path_b, ctx.match_settings, device=ctx.device)
    arrays = dict(p2p_ab=m.p2p_12, p2p_ba=m.p2p_21, confidence=float(m.info["confidence"]),
                  threshold=float(m.info["confidence_threshold"]), key=ctx.key, hashes=hashes,
                  time_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    write_npz(dest, **arrays)
    return {"a": a, "b": b, "confidence": arrays["confidence"], "threshold": arrays["threshold"],
            "time_s": round(arrays["time_s"], 4), "cpu_s": round(arrays["cpu_s"], 4), "reused": False}


# ----------------------------------------------------------------------------- joint refinement
#: bases a worker keeps in memory after reading them (the template's is asked for by every
#: template edge); a few MB each at 5k vertices, so a worker's memory stays flat
BASIS_MEMORY = 8


def basis_task(name: str, path: str, shape_hash: str, ctx: WorkContext, n_samples: int | None, k: int) -> str:
    """The prepared shape's basis for the joint refinement (from the disk cache), cut to its
    first ``k`` functions after choosing the samples, into ``work/bases/NAME.npz``; returns that
    path. Neither the driver nor Ray's object store holds the collection's bases: the tasks
    that need one read its file (:func:`load_basis`)."""
    ctx.enter()
    dest = ctx.folder.basis_path(name)
    stamp = f"{shape_hash}:{ctx.key}:{n_samples}:{k}"
    done = read_npz(dest) if dest.exists() else None
    if done is not None and str(done.get("stamp")) == stamp:
        return str(dest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P = prepare(load(path), ctx.settings, device=ctx.device)
    B = cons.make_basis(P.evecs, P.mass, P.shape.vertices, n_samples, seed=ctx.settings.seed)
    write_npz(dest, evecs=B.evecs[:, :k], mass=B.mass, samples=B.samples.astype(np.int32), vertices=B.vertices,
              stamp=stamp)
    return str(dest)


_bases: OrderedDict = OrderedDict()


def load_basis(path: str) -> cons.Basis:
    """A basis written by :func:`basis_task` (the last :data:`BASIS_MEMORY` read are kept,
    keyed by the file's size and time, so a rewritten file is read again)."""
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    B = _bases.get(key)
    if B is not None:
        _bases.move_to_end(key)
        return B
    d = read_npz(path)
    if d is None:
        raise OSError(f"{path}: unreadable basis file (rerun the collection)")
    B = cons.Basis(d["evecs"], d["mass"], d["samples"].astype(np.int64), d["vertices"])
    _bases[key] = B
    while len(_bases) > BASIS_MEMORY:
        _bases.popitem(last=False)
    return B


def initial_edge(bi: str, bj: str, ctx: WorkContext, kind: str, a: str, b: str, k: int):
    """``(X_ab, X_ba)`` (float32) at size ``k`` from an edge's stored vertex maps (``kind``:
    ``"template"`` for a shape's direct map, ``a`` the shape and ``b`` the template; ``"pair"``
    for neighbours); ``bi``, ``bj`` the two basis files."""
    folder = ctx.folder
    Bi, Bj = load_basis(bi), load_basis(bj)
    if kind == "template":
        d = read_npz(folder.direct_path(a))
        X = cons.initial_edge_fmaps(Bi, Bj, d["from_template"], d["to_template"], k)
    else:
        d = read_npz(folder.edge_path(a, b))
        X = cons.initial_edge_fmaps(Bi, Bj, d["p2p_ba"], d["p2p_ab"], k)
    return tuple(x.astype(np.float32) for x in X)


def refit_edge_task(bi: str, bj: str, i: int, j: int, a_file: str, k: int, k_next: int, full: bool) -> tuple:
    """One consistent-ZoomOut refit (:func:`consistency.refit_edge`) of the edge between shapes
    ``i`` and ``j`` (``bi``, ``bj`` their basis files): ``(X_ij, X_ji)`` in float32. Their
    latent matrices (``k x k`` float64) are read from the file ``a_file`` (a
    :class:`.blocks.FileBlocks` of the driver's joint refinement)."""
    Ai, Aj = (read_block(a_file, s, (k, k), np.float64).astype(np.float32) for s in (i, j))
    X = cons.refit_edge(load_basis(bi), load_basis(bj), Ai, Aj, k_next, full)
    return tuple(x.astype(np.float32) for x in X)


def final_maps_task(name: str, path: str, b: str, bt: str, latent: tuple | None, template: dict,
                    ctx: WorkContext, route: dict, guided: bool = False, register: bool = False) -> dict:
    """Write a shape's final maps to and from the template (``OUT/maps``), their confidence
    (the pipeline's calibrated confidence of the final map) and its cycle figures before and
    after the consistency step; ``latent``: ``(file, record, k)`` of the shape's ``k x k``
    float64 latent matrix in a :class:`.blocks.FileBlocks` file (None: no joint refinement,
    the direct maps are kept); ``b``, ``bt`` the basis files of the shape and of the template.
    ``guided``: the maps read off the latent space then get the pair's ZoomOut steps guided by
    both shapes' learned features (:func:`.pairs.refine_pair`; only with settings that have
    learned features and guides), which restores the precision of the direct maps that the
    latent space's nearest neighbours lose. ``register``: where the matcher read the shape's
    direct map off a registration (``registered`` in its direct file), the final maps read off
    the latent space are registered too (:func:`_registered_final`). Returns the record written
    to ``maps/NAME_confidence.json``."""
    ctx.enter()
    folder = ctx.folder
    A = None if latent is None else read_block(latent[0], latent[1], (latent[2], latent[2]), np.float64)
    B, BT = load_basis(b), load_basis(bt)
    direct = read_npz(folder.direct_path(name))
    t0, c0 = time.perf_counter(), time.process_time()
    rec = {"name": name, "direct_confidence": round(float(direct["confidence"]), 4), **route,
           "roundtrip_before": cons.roundtrip_error(B.vertices, direct["to_template"], direct["from_template"])}
    if name == template["name"] or A is None:
        to_t, from_t = direct["to_template"], direct["from_template"]
    else:
        to_t, from_t = cons.final_maps(B, BT, A)
    if name == template["name"]:
        rec.update(confidence=1.0, confidence_low=False, threshold=float(direct["threshold"]))
    else:
        P1, P2 = (prepare_file(p, ctx.settings, ctx.device) for p in (path, template["path"]))
        guides = None
        if guided and A is not None:  # without the joint refinement the direct maps are kept as they are
            guides = pair_guides((path, template["path"]), (P1, P2), ctx.match_settings, ctx.device)
        if guides is not None:
            to_t, from_t = refine_pair(from_t, P1, P2, ctx.settings, device=ctx.device, guides=guides)
        rec["guided"] = guides is not None
        confidence = _final_confidence(P1, P2, B, BT, to_t, from_t, ctx)
        if register and A is not None and bool(direct.get("registered", False)):
            to_t, from_t, confidence, rec["registration"] = _registered_final(P1, P2, B, BT, to_t, from_t,
                                                                             confidence, ctx)
        rec.update(confidence)
    rec["roundtrip_after"] = cons.roundtrip_error(B.vertices, to_t, from_t)
    write_indices(folder.to_template_path(name), to_t)
    write_indices(folder.from_template_path(name), from_t)
    _write_latent(folder, name, B, A)
    rec["time_s"] = round(time.perf_counter() - t0, 4)
    rec["cpu_s"] = round(time.process_time() - c0, 4)
    write_json(folder.confidence_path(name), rec)
    return rec


def _write_latent(folder: CollectionFolder, name: str, B: cons.Basis, A: np.ndarray | None) -> None:
    """The shape's latent embedding ``Phi A`` into ``OUT/latent`` (the template's is its own
    basis, ``A_T = I``); without a joint refinement (``A`` None) an older run's file is
    removed, so that pairwise maps are never composed from stale embeddings."""
    path = folder.latent_path(name)
    if A is None:
        path.unlink(missing_ok=True)
    else:
        write_latent(path, cons.embedding(B, A))


def _registered_final(P1, P2, B: cons.Basis, BT: cons.Basis, to_t: np.ndarray, from_t: np.ndarray, before: dict,
                      ctx: WorkContext) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """The final maps of a shape (``P1``) and the template (``P2``) read off a registration of the
    shape onto the template started from them, as the matcher does for a low-confidence map
    or one its features agree with less; kept unless the confidence stops trusting maps it
    trusted (``before``: their :func:`_final_confidence`). Returns ``(to_t, from_t, confidence
    of the kept maps, record)``."""
    from ..deform.precise import registered_vertex_maps

    t0 = time.perf_counter()
    reg_from, reg_to, fit = registered_vertex_maps(P1.shape, P2.shape, from_t, to_t,
                                                   max_vertices=ctx.settings.zoomout.register_max_vertices(
                                                       max(P1.shape.n_vertices, P2.shape.n_vertices)))
    after = _final_confidence(P1, P2, B, BT, reg_to, reg_from, ctx)
    kept = keeps_trust(before["confidence_low"], after["confidence_low"])
    record = {"kept": kept, "fit": round(float(fit), 6), "confidence_before": before["confidence"],
              "confidence_after": after["confidence"], "time_s": round(time.perf_counter() - t0, 4)}
    return (reg_to, reg_from, after, record) if kept else (to_t, from_t, before, record)


def _final_confidence(P1, P2, B: cons.Basis, BT: cons.Basis, to_t: np.ndarray, from_t: np.ndarray,
                      ctx: WorkContext) -> dict:
    """The pipeline's calibrated confidence of the final map ``shape -> template`` (``P1``,
    ``P2``: the shape and the template prepared)."""
    k = min(B.k, BT.k, ctx.settings.k_final)
    fmap_12 = p2p_to_fmap(from_t, P1.evecs[:, :k], P2.evecs[:, :k], P2.mass)
    cand = assess(Candidate("collection", k, None, fmap_12, from_t, to_t), P1, P2,
                  (confidence_descriptors(P1), confidence_descriptors(P2)))
    c = cand.confidence
    return {"confidence": round(float(c.value), 4), "confidence_low": bool(c.low), "threshold": float(c.threshold)}


def triangle_pair(bt: str, ctx: WorkContext, a: str, b: str) -> tuple:
    """:func:`triangle_task` of the neighbour edge ``(a, b)`` before and after the consistency
    step: ``(before, after)``, each ``(error from a, error from b)``, or None where it could not
    be computed (a file missing or unreadable: the figure leaves that edge out)."""
    pair = []
    for before in (True, False):
        try:
            pair.append(triangle_task(bt, ctx, a, b, before))
        except Exception:  # noqa: BLE001 - a figure, not a result: the edge is left out of it
            pair.append(None)
    return tuple(pair)


def triangle_task(bt: str, ctx: WorkContext, a: str, b: str, before: bool) -> tuple[float, float]:
    """The cycle ``a -> b -> template -> a`` with the independent pairwise map of a neighbour
    edge, for the maps to the template before (direct) or after (final files) the consistency
    step: ``(error from a, error from b)`` (see :func:`consistency.triangle_error`); ``bt`` the
    template's basis file."""
    folder = ctx.folder
    B_template = load_basis(bt)
    e = read_npz(folder.edge_path(a, b))
    if before:
        ta, tb = read_npz(folder.direct_path(a))["to_template"], read_npz(folder.direct_path(b))["to_template"]
    else:
        ta, tb = folder.to_template(a), folder.to_template(b)
    V = B_template.vertices
    return cons.triangle_error(V, ta, tb, e["p2p_ab"]), cons.triangle_error(V, tb, ta, e["p2p_ba"])
