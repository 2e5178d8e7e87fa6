"""``collection(paths, template=...)``: every shape of a folder in correspondence with a template
and, through it, with each other, consistently.

Stages (each timed in ``report.json``):

1. ``scan``       the shape files (a folder's meshes and point clouds, or a list of paths)
2. ``prepare``    each shape once: load, eigenbasis (disk cache), shape-DNA signature
3. ``template``   the given one, the previous run's, or the medoid under the shape-DNA distance
4. ``match``      each shape to the template (``shapecorr.match``), with its confidence
5. ``neighbours`` independent maps between each shape and its nearest shapes (the shape graph)
6. ``consistency``the joint refinement (:mod:`.consistency`): synchronized latent bases and
                  consistent ZoomOut; a low-confidence direct map is outvoted by its neighbours;
                  its edge maps and latent matrices stream from files (:mod:`.blocks`)
7. ``maps``       the final maps and their confidence into ``OUT/maps``
8. ``gallery``    the picture of the shapes coloured through the template

Shapes and pairs are tasks of an executor (:mod:`.engine`): Ray (local, or a cluster) or this
process. A shape that cannot be read or matched is recorded in the report and left out; the
rest goes on. What is on disk from an earlier run with the same inputs is reused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import load_preset
from ..core import LowConfidenceWarning, SettingsError, ShapecorrError, get_cache
from ..core.io import MESH_FORMATS
from ..core.raster import up_axis_name
from . import consistency as cons
from . import graph, work
from .engine import Batching, make_executor, stream
from .blocks import FileBlocks
from .store import CollectionFolder, write_json, write_npz_rows, write_text

log = logging.getLogger(__name__)

#: file types a folder is scanned for (``.txt`` point clouds are left out: a folder's notes are .txt too)
SCAN_FORMATS = tuple(MESH_FORMATS) + (".xyz", ".pts")


class CollectionError(ShapecorrError):
    """A collection that cannot be run as asked (no shapes, an unusable template...)."""


@dataclass(frozen=True)
class CollectionSettings:
    """How a collection is made consistent (the match settings are a preset, separately).

    neighbours : nearest shapes (shape-DNA) each shape is also matched to; 0 keeps only the
        direct maps to the template (then no joint refinement is possible, only the direct maps).
    consistent : run the joint refinement (False: the direct maps are the final maps).
    k_init : size at which the consistent ZoomOut starts (the direct maps are projected to it).
    step : size increment per round; the final size is the match settings' ``k_final``.
    refine_rounds : extra refit-and-synchronize rounds at the final size (on the samples).
    full_rounds : then rounds at the final size on all vertices (slower, more accurate).
    samples : vertices per shape on which edge maps are fitted during the rounds (None: all).
    low_factor : weight factor of an edge whose confidence is below the threshold.
    guided_final : the final maps to and from the template, read off the latent space, get the
        pair's ZoomOut steps guided by both shapes' learned features (match settings with
        learned features only; :func:`.pairs.refine_pair`).
    register_final : a shape whose direct match to the template was read off a registration
        (the matcher's ``register_below`` / ``register_agreement_below`` decided it) gets its final
        maps, read off the latent space, registered too: the shape deformed onto the template
        from its final map and both maps read off it (:func:`shapecorr.deform.precise.registered_vertex_maps`),
        kept unless the confidence stops trusting them.
    gallery : draw ``gallery.png`` (at most ``gallery_shapes`` shapes, evenly chosen).
    gallery_up : the shapes' up axis in the gallery (``"y"``, ``"z"``, ... see
        :data:`shapecorr.core.raster.UP_AXES`).
    """

    neighbours: int = 2
    consistent: bool = True
    k_init: int = 20
    step: int = 10
    refine_rounds: int = 1
    full_rounds: int = 1
    samples: int | None = 2000
    low_factor: float = cons.LOW_CONFIDENCE_FACTOR
    guided_final: bool = True
    register_final: bool = True
    gallery: bool = True
    gallery_shapes: int = 40
    gallery_up: str = "y"

    def __post_init__(self):
        for name in ("neighbours", "refine_rounds", "full_rounds"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise SettingsError(f"collection setting {name}={v!r}: use an integer >= 0.")
        for name in ("k_init", "step", "gallery_shapes"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise SettingsError(f"collection setting {name}={v!r}: use an integer >= 1.")
        if self.samples is not None and (not isinstance(self.samples, int) or self.samples < 10):
            raise SettingsError(f"collection setting samples={self.samples!r}: use an integer >= 10 or None.")
        if not 0.0 < float(self.low_factor) <= 1.0:
            raise SettingsError(f"collection setting low_factor={self.low_factor!r}: use a number in (0, 1].")
        try:
            up_axis_name(self.gallery_up)
        except ValueError as exc:
            raise SettingsError(f"collection setting gallery_up: {exc}") from None


@dataclass
class CollectionResult:
    """A finished collection: its output folder and what is in it (maps are read on demand)."""

    folder: Path
    template: str
    names: list
    failures: list
    report: dict

    def to_template(self, name: str) -> np.ndarray:
        """Template vertex matched to each vertex of ``name``."""
        return CollectionFolder(self.folder).to_template(name)

    def from_template(self, name: str) -> np.ndarray:
        """Vertex of ``name`` matched to each template vertex."""
        return CollectionFolder(self.folder).from_template(name)

    def map(self, a: str, b: str, *, via: str = "auto", refine: bool = False) -> np.ndarray:
        """Vertex of ``b`` matched to each vertex of ``a``, without matching them again:
        ``via`` ``"latent"`` (nearest neighbours in the consistent latent space) or
        ``"template"`` (the map files composed); ``"auto"``: the map files when they were made
        with the guided steps, else the latent space when the joint refinement ran (see
        :mod:`.pairs`);
        ``refine`` adds the pair's own ZoomOut steps (see :mod:`.pairs`)."""
        from .pairs import pair_maps

        return pair_maps(self.folder, a, b, via=via, refine=refine).p2p_ab


# ----------------------------------------------------------------------------- inputs
def scan(paths) -> tuple[list[tuple[str, Path]], list[dict]]:
    """``[(name, path)]`` of the shapes (a folder's shape files, or the given paths) and the
    failures found already (two files with one name)."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if len(items) == 1 and not Path(items[0]).exists():
        raise CollectionError(f"{items[0]}: no such file or folder; give a folder of shapes or a list of files.")
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SCAN_FORMATS)
        else:
            files.append(p)
    shapes, failures, seen = [], [], {}
    for f in files:
        name = f.stem
        if name in seen:
            failures.append({"name": name, "path": str(f), "stage": "scan",
                             "error": f"another file has the same name ({seen[name]}); rename one (a shape's maps "
                                      "are named after its file name without extension)"})
            continue
        seen[name] = f
        shapes.append((name, f))
    return shapes, failures


def _check_out(out: Path, shapes: list) -> None:
    """Nothing is written into the user's folders of shapes."""
    out_abs = out.resolve()
    for folder in {p.parent.resolve() for _, p in shapes}:
        if out_abs == folder or folder in out_abs.parents:
            raise CollectionError(f"--out {out}: inside the folder of shapes {folder}; the input folder is never "
                                  "written to; choose an output folder elsewhere.")
    if out.exists() and not out.is_dir():
        raise CollectionError(f"--out {out} exists and is not a folder; give a folder (it is created if needed).")


# ----------------------------------------------------------------------------- progress
class _Bar:
    """A progress bar on stderr with items per second and the time left (tqdm), or nothing."""

    def __init__(self, show: bool, total: int, desc: str, unit: str):
        self.bar = None
        if show and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1, mininterval=0.5)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- the run
def collection(paths, template=None, *, out=None, preset=None, settings: CollectionSettings | None = None,
               engine: str = "auto", address: str | None = None, num_cpus: int | None = None, device: str = "cpu",
               progress: bool = False, batching: Batching | None = None, threads: int | None = None,
               **overrides) -> CollectionResult:
    """Put a collection of shapes in correspondence through a template, consistently.

    paths : a folder of shapes (``.off .obj .ply .stl .glb .gltf .xyz .pts``) or a list of files.
    template : a shape's name (file name without extension) or path; None chooses the medoid
        of the collection under the shape-DNA distance (or keeps the previous run's).
    out : the output folder (see :mod:`shapecorr.collection.store`); None: a new temporary one.
    preset, overrides : match settings as for :func:`shapecorr.match` (e.g. ``preset="fast"``).
    settings : :class:`CollectionSettings` (neighbours, consistency rounds ...).
    engine : ``"ray"``, ``"local"`` (this process) or ``"auto"`` (Ray if installed);
        ``address`` joins a running Ray cluster; ``num_cpus`` caps a local Ray's workers.
    progress : progress bars on stderr (shapes/s and time left).
    batching : how calls are grouped into Ray tasks (:class:`.engine.Batching`; default: tasks
        of about a second of measured CPU, at least 4 per worker and stage).
    threads : CPU threads of a match's feature network where the preset leaves it open (None:
        all usable cores, as ``shapecorr.match``). A Ray task reserves one CPU, so on a local Ray
        ``threads=1`` keeps the workers from oversubscribing the cores (on 10 FAUST_r shapes it
        halved the CPU of a match under load); the maps then differ from those made with another
        thread count in a few vertices (floating-point rounding of the network), so the default
        keeps them equal to the in-process engine's.

    Returns a :class:`CollectionResult`; ``OUT/report.json`` has timings, failures and
    consistency figures. Rerunning with the same ``out`` redoes only what is not done.
    """
    t_start = time.perf_counter()
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise SettingsError(f"threads={threads!r}: use an integer >= 1, or None (all usable cores).")
    cs = settings or CollectionSettings()
    ms = load_preset(preset, **overrides)
    shapes, failures = scan(paths)
    if not shapes:
        raise CollectionError(f"{paths}: no shape files found (looked for {', '.join(SCAN_FORMATS)}).")
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="shapecorr-collection-"))
    _check_out(out, shapes)
    out.mkdir(parents=True, exist_ok=True)
    cache = get_cache()
    t_scan = time.perf_counter() - t_start
    t0 = time.perf_counter()
    ex = make_executor(engine, address=address, num_cpus=num_cpus)
    t_engine = time.perf_counter() - t0
    ctx = work.WorkContext(ms, str(out), None if cache is None else str(cache.root), device, threads=threads)
    run = _Run(ctx, cs, progress, batching or Batching())
    run.timings["scan"] = round(t_scan, 4)
    run.timings["engine_start"] = round(t_engine, 4)
    run.failures = failures
    try:
        run.ex = ex
        run.ctx_ref = ex.put(ctx)
        result = run.run(shapes, template)
    finally:
        t0 = time.perf_counter()
        ex.close()
        run.timings["engine_stop"] = round(time.perf_counter() - t0, 4)
    run.timings["total"] = round(time.perf_counter() - t_start, 4)
    report = run.write_report(result)
    return CollectionResult(out, result["template"]["name"], result["names"], run.failures, report)


class _Shapes:
    """The driver's table of the shapes: name, file, content hash, vertex count and shape-DNA
    (a few hundred bytes per shape). Everything else a stage produces goes to disk as it
    finishes (:mod:`.store`), so the driver's memory does not grow with the shapes' sizes."""

    def __init__(self):
        self.names: list[str] = []
        self.paths: list[str] = []
        self.hashes: list[str] = []
        self.n_vertices: list[int] = []
        self.signatures: list[np.ndarray] = []  # float64 shape-DNA, as the records store it
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.names)

    def add(self, rec: dict) -> None:
        self.index[rec["name"]] = len(self.names)
        self.names.append(rec["name"])
        self.paths.append(rec["path"])
        self.hashes.append(rec["hash"])
        self.n_vertices.append(int(rec["n_vertices"]))
        self.signatures.append(np.asarray(rec["signature"], dtype=np.float64))

    def record(self, i: int) -> dict:
        """What a task needs of shape ``i``."""
        return {"name": self.names[i], "path": self.paths[i], "hash": self.hashes[i],
                "n_vertices": self.n_vertices[i]}

    def subset(self, keep) -> _Shapes:
        out = _Shapes()
        for i in keep:
            out.add(dict(self.record(i), signature=self.signatures[i]))
        return out


class _Figures:
    """Per-shape numbers of the final maps, for the report (arrays, not the records)."""

    def __init__(self, n: int):
        self.done = np.zeros(n, dtype=bool)
        self.low = np.zeros(n, dtype=bool)
        self.rerouted = np.zeros(n, dtype=bool)
        self.confidence = np.full(n, np.nan)
        self.roundtrip_before = np.full(n, np.nan)
        self.roundtrip_after = np.full(n, np.nan)

    def add(self, i: int, rec: dict) -> None:
        """One shape's record (``maps/NAME_confidence.json``)."""
        self.done[i] = True
        self.low[i] = bool(rec.get("confidence_low"))
        self.rerouted[i] = rec.get("route") == "through neighbours"
        self.confidence[i] = float(rec["confidence"])
        self.roundtrip_before[i] = float(rec["roundtrip_before"])
        self.roundtrip_after[i] = float(rec["roundtrip_after"])


class _Cpu:
    """Sum and count of the CPU seconds of the tasks computed in this run (reused ones left out)."""

    def __init__(self):
        self.tasks, self.total = 0, 0.0

    def add(self, rec: dict) -> None:
        if not rec.get("reused"):
            self.tasks += 1
            self.total += float(rec.get("cpu_s", 0.0))

    def summary(self) -> dict:
        return {"tasks": self.tasks, "total": round(self.total, 3),
                "mean": round(self.total / self.tasks, 4) if self.tasks else None}


class _Run:
    """One collection run: the stages, sharing the executor, the shape table and timings.

    Results stream: each task's output is on disk when it returns, and the driver keeps of it
    only what a later stage needs (confidences, edge list, per-shape figures), in arrays. The
    joint refinement's edge maps and latent matrices are files (``work/sync``, read and written
    a record at a time), so it holds the ``k x k`` matrices of one shape and its neighbours,
    whatever the number of shapes (see docs/scale.md for the bytes)."""

    def __init__(self, ctx: work.WorkContext, cs: CollectionSettings, progress: bool,
                 batching: Batching | None = None):
        self.ctx, self.cs, self.progress = ctx, cs, progress
        self.batching = batching or Batching()
        self.folder = ctx.folder
        self.timings: dict = {}
        self.failures: list = []
        self.counts: dict = {}
        self.found: int | None = None
        self.memory: dict = {}  # the driver's peak RSS (MB) at the end of each stage
        self.cpu: dict[str, _Cpu] = {}  # CPU seconds of the tasks run (not reused) per stage, in whichever process
        self.ex = None
        self.ctx_ref = None
        self._stores = itertools.count()  # names the joint refinement's stores of edge maps
        self.submitted = 0  # tasks given to the executor so far
        self.calls = 0  # calls in them (a Ray task may run several calls of one function)
        self.tasks: dict = {}  # tasks submitted per stage
        self.task_calls: dict = {}  # calls submitted per stage

    def _cpu(self, stage: str) -> _Cpu:
        return self.cpu.setdefault(stage, _Cpu())

    def _stage(self, name: str, t0: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)
        self.tasks[name] = self.tasks.get(name, 0) + self.submitted - sum(self.tasks.values())
        self.task_calls[name] = self.task_calls.get(name, 0) + self.calls - sum(self.task_calls.values())
        peak = _peak_rss_mb()
        if peak is not None:
            self.memory[name] = peak
        log.info("collection: %-12s %.2fs", name, self.timings[name])

    def _fail(self, name: str, path, stage: str, exc: BaseException) -> None:
        self.failures.append({"name": name, "path": str(path), "stage": stage, "error": work._error_text(exc)})

    def _map(self, calls, total: int, desc: str, unit: str):
        """:func:`.engine.stream` of the ``total`` calls ``(key, fn, args)`` on the executor
        (batched on Ray), with a progress bar and the count of tasks and calls submitted."""
        bar = _Bar(self.progress, total, desc, unit)
        try:
            for key, res in stream(self.ex, calls, on_submit=self._submitted, total=total, batching=self.batching):
                bar.update()
                yield key, res
        finally:
            bar.close()

    def _submitted(self, n_calls: int) -> None:
        self.submitted += 1
        self.calls += n_calls

    # ------------------------------------------------------------------------- stages
    def run(self, shapes: list, template_arg) -> dict:
        self.found = len(shapes) + len(self.failures)
        table = self.prepare(shapes)
        template = self.choose_template(table, template_arg)
        conf, thr = self.match_template(table, template)
        ok = np.flatnonzero(~np.isnan(conf))
        table, conf, thr = table.subset(ok), conf[ok], thr[ok]
        edges = self.match_neighbours(table, template)
        final = self.make_consistent(table, template, conf, thr, edges)
        self.gallery(table, template)
        return {"template": template, "names": table.names, "direct_confidence": conf, "edges": edges,
                "final": final}

    def prepare(self, shapes: list) -> _Shapes:
        t0 = time.perf_counter()
        calls = ((i, work.prepare_shape_task, (name, str(path), self.ctx_ref)) for i, (name, path) in enumerate(shapes))
        slots: list = [None] * len(shapes)
        cpu, reused = self._cpu("prepare"), 0
        for i, res in self._map(calls, len(shapes), "prepare", "shape"):
            if not isinstance(res, Exception):
                cpu.add(res)
                reused += bool(res.get("reused"))
                res = {k: res[k] for k in ("name", "path", "hash", "n_vertices", "signature")}
            slots[i] = res
        table = _Shapes()
        for (name, path), res in zip(shapes, slots):  # in the order given, whichever finished first
            if isinstance(res, Exception):
                self._fail(name, path, "prepare", res)
            else:
                table.add(res)
        self.counts["prepared_reused"] = self.counts.get("prepared_reused", 0) + reused
        self._stage("prepare", t0)
        return table

    def choose_template(self, table: _Shapes, template_arg) -> dict:
        t0 = time.perf_counter()
        if template_arg is not None:
            how = "given"
            p = Path(str(template_arg))
            name = p.stem if (p.suffix.lower() in SCAN_FORMATS or p.exists()) else str(template_arg)
            if name not in table.index:
                if p.exists() and p.is_file():  # a template outside the collection: prepared too
                    extra = self.prepare([(name, p)])
                    if not len(extra):
                        raise CollectionError(f"--template {template_arg}: cannot be prepared "
                                              f"({self.failures[-1]['error']}).")
                    table.add(dict(extra.record(0), signature=extra.signatures[0]))
                else:
                    failed = [f for f in self.failures if f["name"] == name]
                    why = f": it failed ({failed[0]['error']})" if failed else ""
                    raise CollectionError(f"--template {template_arg}: not a shape of the collection{why}; give "
                                          "the name (file name without extension) or path of a readable shape.")
        elif self.folder.template_path.exists() and self.folder.template().strip() in table.index:
            how, name = "previous run", self.folder.template().strip()
        else:
            if not len(table):
                raise CollectionError("no shape of the collection could be prepared; see the errors in "
                                      f"{self.folder.report_path}.")
            how = "medoid"
            name = table.names[graph.medoid(table.signatures)]
        rec = table.record(table.index[name])
        write_text(self.folder.template_path, f"{name}\n{rec['path']}\n")
        self._stage("template", t0)
        return dict(rec, chosen=how)

    def match_template(self, table: _Shapes, template: dict) -> tuple[np.ndarray, np.ndarray]:
        """The direct maps (on disk); their confidences and thresholds (NaN: failed)."""
        t0 = time.perf_counter()
        calls = ((i, work.match_template_task, (table.names[i], table.paths[i], table.hashes[i], template,
                                                self.ctx_ref)) for i in range(len(table)))
        conf, thr = np.full(len(table), np.nan), np.full(len(table), np.nan)
        errors: dict = {}
        cpu, reused = self._cpu("match"), 0
        for i, res in self._map(calls, len(table), "match to template", "shape"):
            if isinstance(res, Exception):
                if table.names[i] == template["name"]:
                    raise CollectionError(f"the template {table.names[i]} could not be used "
                                          f"({work._error_text(res)}).")
                errors[i] = res
            else:
                conf[i], thr[i] = res["confidence"], res["threshold"]
                cpu.add(res)
                reused += bool(res["reused"])
        for i in sorted(errors):
            self._fail(table.names[i], table.paths[i], "match", errors[i])
        self.counts["matched_reused"] = reused
        self._stage("match", t0)
        return conf, thr

    def match_neighbours(self, table: _Shapes, template: dict) -> dict:
        """The neighbour edges that were matched (maps on disk): indices ``a``, ``b`` into the
        table and the maps' confidences and thresholds, in the shape graph's order."""
        t0 = time.perf_counter()
        edges = {"a": np.zeros(0, dtype=np.int64), "b": np.zeros(0, dtype=np.int64), "confidence": np.zeros(0),
                 "threshold": np.zeros(0)}
        if self.cs.neighbours == 0 or len(table) < 3:
            self._stage("neighbours", t0)
            return edges
        pairs = np.asarray(graph.shape_graph(table.signatures, self.cs.neighbours, table.index[template["name"]]),
                           dtype=np.int64).reshape(-1, 2)
        calls = ((e, work.match_pair_task, (table.record(int(i)), table.record(int(j)), self.ctx_ref))
                 for e, (i, j) in enumerate(pairs))
        conf, thr = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
        errors: dict = {}
        cpu, reused = self._cpu("neighbours"), 0
        for e, res in self._map(calls, len(pairs), "match neighbours", "pair"):
            if isinstance(res, Exception):
                errors[e] = res
            else:
                conf[e], thr[e] = res["confidence"], res["threshold"]
                cpu.add(res)
                reused += bool(res["reused"])
        for e in sorted(errors):
            a, b = (table.names[int(x)] for x in pairs[e])
            self.failures.append({"name": f"{a}--{b}", "path": "", "stage": "neighbours",
                                  "error": work._error_text(errors[e])})
        ok = ~np.isnan(conf)
        edges = {"a": pairs[ok, 0], "b": pairs[ok, 1], "confidence": conf[ok], "threshold": thr[ok]}
        self.counts["pairs_reused"] = reused
        self._stage("neighbours", t0)
        return edges

    # ------------------------------------------------------------------------- consistency
    def _consistency_key(self, table: _Shapes, template: dict, conf: np.ndarray, edges: dict) -> str:
        """What the joint refinement depends on, hashed a shape and an edge at a time."""
        h = hashlib.sha256()
        refinement = {k: v for k, v in asdict(self.cs).items() if not k.startswith("gallery")}  # pictures: not
        h.update(json.dumps({"template": template["hash"], "match": self.ctx.key, "settings": refinement},
                            sort_keys=True, default=str).encode())
        for i in sorted(range(len(table)), key=table.names.__getitem__):
            h.update(f"\n{table.names[i]}:{table.hashes[i]}:{round(float(conf[i]), 6)}".encode())
        names = table.names
        for a, b, c in sorted(zip((names[i] for i in edges["a"]), (names[j] for j in edges["b"]),
                                  (round(float(c), 6) for c in edges["confidence"]))):
            h.update(f"\n{a}--{b}:{c}".encode())
        return h.hexdigest()[:20]

    def _reusable(self, table: _Shapes, key: str, state_path: Path) -> dict | None:
        """The previous run's consistency result if nothing it depends on changed and its files
        are all there."""
        if not state_path.exists():
            return None
        try:
            state = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        result = state.get("result", {})
        if state.get("key") != key:
            return None
        f = self.folder
        for n in table.names:
            if not (f.to_template_path(n).exists() and f.from_template_path(n).exists()
                    and f.confidence_path(n).exists() and (not result.get("joint") or f.has_latent(n))):
                return None
        return result

    def make_consistent(self, table: _Shapes, template: dict, conf: np.ndarray, thr_direct: np.ndarray,
                        edges: dict) -> dict:
        t0 = time.perf_counter()
        key = self._consistency_key(table, template, conf, edges)
        state_path = self.folder.work / "consistency.json"
        figures = _Figures(len(table))
        result = self._reusable(table, key, state_path)
        if result is not None:
            self.counts["consistency_reused"] = True
            for i, n in enumerate(table.names):
                figures.add(i, self.folder.confidence(n))
            self._stage("consistency", t0)
            return dict(result, figures=figures)
        self.counts["consistency_reused"] = False
        t_idx = table.index[template["name"]]
        thr = float(thr_direct.max()) if len(thr_direct) else 0.0
        k_final = min(self.ctx.settings.k_final, min(table.n_vertices) - 2)
        sizes = cons.zoom_sizes(min(self.cs.k_init, k_final), k_final, self.cs.step)
        self._bases(table)
        graph = self._graph(len(table), t_idx, conf, edges, thr)
        A = None
        history = []
        joint = self.cs.consistent and len(table) > 1 and len(edges["a"]) > 0
        if joint:
            # edge maps and latent matrices live in files (OUT/work/sync): the driver holds the
            # records of one shape and its neighbours at a time, whatever the collection's size
            A, history = cons.consistent_zoomout_blocks(
                graph, self._initial_fmaps(graph, table, sizes[0]), sizes,
                lambda A_now, k_next, full: self._refit(graph, table, A_now, k_next, full), self._blocks,
                refine_iters=self.cs.refine_rounds, full_iters=self.cs.full_rounds)
            # the latent matrices (template basis -> each shape's basis): what a later stage or a
            # partitioned run composes with (docs/scale.md)
            active = graph.active()
            write_npz_rows(self.folder.work / "latent.npz", "A", (len(table), sizes[-1], sizes[-1]), np.float32,
                           (A.read(i) if active[i] else None for i in range(len(table))),
                           names=np.asarray(table.names))
        self._stage("consistency", t0)
        t0 = time.perf_counter()
        low = conf < thr
        n_template_edges = len(table) - 1

        def route(i: int) -> dict:
            # the shape's neighbour edges (directed edge d is undirected edge d // 2), in edge order
            names = [table.names[graph.dst[d]] for d in graph.outgoing(i) if d // 2 >= n_template_edges]
            return {"route": "through neighbours" if (low[i] and names) else "direct", "neighbours": names}

        if A is not None:
            A.flush()
        calls = ((i, work.final_maps_task, (table.names[i], table.paths[i], self._basis(table, i),
                                            self._basis(table, t_idx),
                                            None if A is None else (str(A.path), i, A.shape[0]),
                                            template, self.ctx_ref, route(i), self.cs.guided_final,
                                            self.cs.register_final))
                 for i in range(len(table)))
        errors, cpu = {}, self._cpu("maps")
        for i, res in self._map(calls, len(table), "final maps", "shape"):
            if isinstance(res, Exception):
                errors[i] = res
            else:
                figures.add(i, res)
                cpu.add(res)
        for i in sorted(errors):
            self._fail(table.names[i], table.paths[i], "maps", errors[i])
        if A is not None:
            A.close()
        self._stage("maps", t0)
        t0 = time.perf_counter()
        triangles = self._triangles(edges, self._basis(table, t_idx), figures.done, table) if len(edges["a"]) else {}
        self._stage("figures", t0)
        result = {"joint": joint, "rounds": history, "threshold": thr, "triangles": triangles, "sizes": sizes}
        write_json(state_path, {"key": key, "result": result})
        return dict(result, figures=figures)

    def _basis(self, table: _Shapes, i: int) -> str:
        """The basis file of shape ``i`` (written by :func:`work.basis_task`)."""
        return str(self.folder.basis_path(table.names[i]))

    def _bases(self, table: _Shapes) -> None:
        """Each shape's basis for the joint refinement, into ``work/bases`` (the tasks read the files)."""
        k = int(self.ctx.settings.k_final)
        calls = ((i, work.basis_task, (table.names[i], table.paths[i], table.hashes[i], self.ctx_ref,
                                       self.cs.samples, k)) for i in range(len(table)))
        for _, res in self._map(calls, len(table), "bases", "shape"):
            if isinstance(res, Exception):
                raise res

    def _blocks(self, name: str, count: int, shape: tuple, dtype) -> FileBlocks:
        """A store of the joint refinement's records, in ``work/sync`` (deleted when closed)."""
        return FileBlocks(self.folder.work / "sync" / f"{name}.bin", count, shape, dtype)

    def _graph(self, n: int, t_idx: int, conf: np.ndarray, edges: dict, thr: float) -> cons.EdgeGraph:
        """The joint refinement's edges, weighted by the confidences: every shape to the
        template (undirected edges ``0 .. n-2``, shape first), then the neighbour edges."""
        others = np.asarray([i for i in range(n) if i != t_idx], dtype=np.int64)
        w = [cons.edge_weight(conf[i], thr, self.cs.low_factor) for i in others]
        w += [cons.edge_weight(c, thr, self.cs.low_factor) for c in edges["confidence"]]
        return cons.EdgeGraph.from_undirected(n, t_idx, np.concatenate([others, edges["a"]]),
                                              np.concatenate([np.full(len(others), t_idx, dtype=np.int64),
                                                              edges["b"]]), w)

    def _undirected(self, graph: cons.EdgeGraph):
        """``(e, i, j)`` of each undirected edge (directed edges ``2e``: ``i -> j``, ``2e + 1``)."""
        for e in range(graph.n_edges // 2):
            yield e, int(graph.src[2 * e]), int(graph.dst[2 * e])

    def _collect_edges(self, graph: cons.EdgeGraph, calls, k: int, desc: str):
        """The edge maps at size ``k`` into a new store (record ``2e``: ``X_ij``, ``2e + 1``:
        ``X_ji`` of undirected edge ``e = (i, j)``), written as they come (``calls`` keyed by
        the undirected edge, each returning its pair of maps)."""
        X = self._blocks(f"edges_{next(self._stores)}", graph.n_edges, (k, k), np.float32)
        try:
            for e, res in self._map(calls, graph.n_edges // 2, desc, "edge"):
                if isinstance(res, Exception):
                    raise res
                X_ij, X_ji = res
                X.write(2 * e, X_ij)
                X.write(2 * e + 1, X_ji)
        except BaseException:
            X.close()
            raise
        return X

    def _initial_fmaps(self, graph: cons.EdgeGraph, table: _Shapes, k: int):
        n_template_edges = len(table) - 1
        calls = ((e, work.initial_edge, (self._basis(table, i), self._basis(table, j), self.ctx_ref,
                                         "pair" if e >= n_template_edges else "template", table.names[i],
                                         table.names[j], k))
                 for e, i, j in self._undirected(graph))
        return self._collect_edges(graph, calls, k, "edge maps")

    def _refit(self, graph: cons.EdgeGraph, table: _Shapes, A: FileBlocks, k_next: int, full: bool):
        """The edge maps refitted at ``k_next``: each call reads the two latent matrices of its
        edge from ``A``'s file (flushed), so no task argument and no object grows with the
        collection."""
        a_file = str(A.path)
        calls = ((e, work.refit_edge_task, (self._basis(table, i), self._basis(table, j), i, j, a_file, A.shape[0],
                                            k_next, full))
                 for e, i, j in self._undirected(graph))
        return self._collect_edges(graph, calls, k_next,
                                   f"consistent ZoomOut k={k_next}{' (all vertices)' if full else ''}")

    def _triangles(self, edges: dict, b_template: str, done: np.ndarray, table: _Shapes) -> dict:
        """Mean cycle figures over the neighbour edges whose two shapes have final maps, before
        and after the consistency step (:func:`work.triangle_pair`, one call per edge)."""
        ea, eb = edges["a"], edges["b"]
        n_live = int(sum(done[a] and done[b] for a, b in zip(ea, eb)))
        calls = ((e, work.triangle_pair, (b_template, self.ctx_ref, table.names[ea[e]], table.names[eb[e]]))
                 for e in range(len(ea)) if done[ea[e]] and done[eb[e]])
        # (edge, before/after, from a / from b); rows without a result are left out
        values = np.zeros((len(ea), 2, 2))
        got = np.zeros((len(ea), 2), dtype=bool)
        for e, res in self._map(calls, n_live, "cycle figures", "edge") if n_live else []:
            if isinstance(res, Exception):
                continue
            for col, figure in enumerate(res):
                if figure is not None:
                    values[e, col] = figure
                    got[e, col] = True
        before, after = values[got[:, 0], 0].ravel(), values[got[:, 1], 1].ravel()
        return {"before": float(np.mean(before)) if len(before) else None,
                "after": float(np.mean(after)) if len(after) else None, "n": len(before)}

    # ------------------------------------------------------------------------- outputs
    def gallery(self, table: _Shapes, template: dict) -> None:
        t0 = time.perf_counter()
        if self.cs.gallery and len(table):
            from .gallery import chosen, draw_gallery

            names = chosen(sorted(table.names), template["name"], self.cs.gallery_shapes)
            try:
                draw_gallery(self.folder, {n: table.paths[table.index[n]] for n in names}, template["name"],
                             max_shapes=self.cs.gallery_shapes, up=self.cs.gallery_up)
            except (ShapecorrError, OSError, ValueError) as exc:
                self.failures.append({"name": "gallery", "path": str(self.folder.gallery_path), "stage": "gallery",
                                      "error": work._error_text(exc)})
        self._stage("gallery", t0)

    def write_report(self, result: dict) -> dict:
        fig: _Figures = result["final"]["figures"]
        names = result["names"]
        thr = result["final"]["threshold"]
        conf = result["direct_confidence"]
        done = fig.done
        direct_low = sorted(n for n, c in zip(names, conf) if c < thr)
        final_low = sorted(n for n, d, lo in zip(names, done, fig.low) if d and lo)
        rerouted = sorted(n for n, d, r in zip(names, done, fig.rerouted) if d and r)
        n_done = int(done.sum())
        report = {
            "template": result["template"]["name"], "template_file": result["template"]["path"],
            "template_chosen": result["template"]["chosen"],
            "engine": {"name": self.ex.name, "workers": self.ex.workers,
                       "address": getattr(self.ex, "address", None)},
            "shapes": {"found": self.found, "done": n_done, "failed": len([f for f in self.failures if f["stage"] != "neighbours"]),
                       "reused": {k: v for k, v in self.counts.items()}},
            "timings_s": self.timings,
            # CPU seconds inside the per-shape and per-pair tasks (wall time on a loaded machine
            # is not a measure of the work; these are)
            "task_cpu_s": {stage: c.summary() for stage, c in self.cpu.items()},
            # tasks given to the executor per stage (what Ray's own cost per task is paid on), and
            # the calls in them (on Ray several calls of one function go in one task)
            "tasks": self.tasks, "task_calls": self.task_calls,
            "batching": asdict(self.batching),
            # the driver process's peak resident memory so far, at the end of each stage (MB)
            "driver_peak_rss_mb": self.memory,
            "shapes_per_s": round(n_done / self.timings["total"], 4) if self.timings.get("total") else None,
            "failures": self.failures,
            "confidence": {"threshold": thr,
                           "direct_mean": _mean(conf),
                           "final_mean": _mean(fig.confidence[done]),
                           "direct_low": direct_low, "final_low": final_low},
            "consistency": {
                "joint_refinement": result["final"]["joint"], "neighbour_edges": len(result["edges"]["a"]),
                "sizes": result["final"]["sizes"], "rounds": result["final"]["rounds"],
                "rerouted": rerouted,
                # mean distance (unit-area shapes) of shape -> template -> shape from the identity
                "roundtrip_before": _mean(fig.roundtrip_before[done]), "roundtrip_after": _mean(fig.roundtrip_after[done]),
                # mean distance on the unit-area template between a -> template and a -> b -> template
                # (b a neighbour, a -> b the independent pairwise map): 0 when the cycle closes
                "triangle_before": result["final"]["triangles"].get("before"),
                "triangle_after": result["final"]["triangles"].get("after"),
            },
            "settings": {"collection": asdict(self.cs), "match": self.ctx.settings.to_dict()},
            "gallery": self.folder.gallery_path.name if self.folder.gallery_path.exists() else None,
        }
        write_json(self.folder.report_path, report)
        if final_low:
            warnings.warn(LowConfidenceWarning(
                f"{self.folder.root}: {len(final_low)} shape(s) with a low-confidence map to the template "
                f"({', '.join(final_low[:5])}{' ...' if len(final_low) > 5 else ''}); see report.json."), stacklevel=3)
        return report


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(float(np.mean(vals)), 6) if vals else None


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
