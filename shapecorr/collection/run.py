"""``collection(paths, template=...)``: every shape of a folder in correspondence with a template
and, through it, with each other, consistently.

Stages (each timed in ``report.json``):

1. ``scan``       the shape files (a folder's meshes and point clouds, or a list of paths)
2. ``prepare``    each shape once: load, eigenbasis (disk cache), shape-DNA signature
3. ``template``   the given one, the previous run's, or the medoid under the shape-DNA distance
4. ``match``      each shape to the template (``shapecorr.match``), with its confidence
5. ``neighbours`` independent maps between each shape and its nearest shapes (the shape graph)
6. ``consistency``the joint refinement (:mod:`.consistency`): synchronized latent bases and
                  consistent ZoomOut; a low-confidence direct map is outvoted by its neighbours
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
from . import consistency as cons
from . import graph, work
from .engine import make_executor
from .store import CollectionFolder, write_json, write_npz, write_text

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
    gallery : draw ``gallery.png`` (at most ``gallery_shapes`` shapes, evenly chosen).
    """

    neighbours: int = 2
    consistent: bool = True
    k_init: int = 20
    step: int = 10
    refine_rounds: int = 1
    full_rounds: int = 1
    samples: int | None = 2000
    low_factor: float = cons.LOW_CONFIDENCE_FACTOR
    gallery: bool = True
    gallery_shapes: int = 40

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
        ``via`` ``"latent"`` (nearest neighbours in the consistent latent space; ``"auto"``
        when the joint refinement ran) or ``"template"`` (the map files composed);
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
               progress: bool = False, **overrides) -> CollectionResult:
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

    Returns a :class:`CollectionResult`; ``OUT/report.json`` has timings, failures and
    consistency figures. Rerunning with the same ``out`` redoes only what is not done.
    """
    t_start = time.perf_counter()
    cs = settings or CollectionSettings()
    ms = load_preset(preset, **overrides)
    shapes, failures = scan(paths)
    if not shapes:
        raise CollectionError(f"{paths}: no shape files found (looked for {', '.join(SCAN_FORMATS)}).")
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="shapecorr-collection-"))
    _check_out(out, shapes)
    out.mkdir(parents=True, exist_ok=True)
    cache = get_cache()
    ctx = work.WorkContext(ms, str(out), None if cache is None else str(cache.root), device)
    run = _Run(ctx, cs, progress)
    run.timings["scan"] = round(time.perf_counter() - t_start, 4)
    run.failures = failures
    t0 = time.perf_counter()
    ex = make_executor(engine, address=address, num_cpus=num_cpus)
    run.timings["engine_start"] = round(time.perf_counter() - t0, 4)
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


class _Run:
    """One collection run: the stages, sharing the executor, records and timings."""

    def __init__(self, ctx: work.WorkContext, cs: CollectionSettings, progress: bool):
        self.ctx, self.cs, self.progress = ctx, cs, progress
        self.folder = ctx.folder
        self.timings: dict = {}
        self.failures: list = []
        self.counts: dict = {}
        self.found: int | None = None
        self.cpu: dict = {}  # CPU seconds of the tasks run (not reused) per stage, in whichever process
        self.ex = None
        self.ctx_ref = None

    def _stage(self, name: str, t0: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)
        log.info("collection: %-12s %.2fs", name, self.timings[name])

    def _fail(self, name: str, path, stage: str, exc: BaseException) -> None:
        self.failures.append({"name": name, "path": str(path), "stage": stage, "error": work._error_text(exc)})

    def _map(self, calls: list, desc: str, unit: str) -> list:
        """Run ``[(key, fn, args)]`` on the executor; ``[(key, result or exception)]`` in the
        order given, with a progress bar. At most a window of tasks (8 per worker, at least 64)
        is in flight, so the driver never holds a million pending tasks."""
        window = max(64, 8 * int(getattr(self.ex, "workers", 1)))
        todo = iter(calls)
        pending: dict = {}

        def submit(n: int) -> None:
            for key, fn, args in itertools.islice(todo, n):
                pending[self.ex.call(fn, *args)] = key

        bar = _Bar(self.progress, len(calls), desc, unit)
        results = {}
        try:
            submit(window)
            while pending:
                h = next(iter(self.ex.as_completed(list(pending))))
                key = pending.pop(h)
                try:
                    results[key] = self.ex.get(h)
                except Exception as exc:  # the task's own error: recorded by the caller
                    results[key] = exc
                bar.update()
                submit(1)
        finally:
            bar.close()
        return [(key, results[key]) for key, _, _ in calls]

    # ------------------------------------------------------------------------- stages
    def run(self, shapes: list, template_arg) -> dict:
        self.found = len(shapes) + len(self.failures)
        records = self.prepare(shapes)
        template = self.choose_template(records, template_arg, shapes)
        direct = self.match_template(records, template)
        ok = [r for r in records if r["name"] in direct]
        edges = self.match_neighbours(ok, template)
        final = self.make_consistent(ok, template, direct, edges)
        self.gallery(ok, template)
        return {"template": template, "names": [r["name"] for r in ok], "direct": direct, "edges": edges,
                "final": final}

    def prepare(self, shapes: list) -> list[dict]:
        t0 = time.perf_counter()
        calls = [(name, work.prepare_shape_task, (name, str(path), self.ctx_ref)) for name, path in shapes]
        records = []
        for (name, path), (_, res) in zip(shapes, self._map(calls, "prepare", "shape")):
            if isinstance(res, Exception):
                self._fail(name, path, "prepare", res)
            else:
                records.append(res)
        self.counts["prepared_reused"] = sum(bool(r.get("reused")) for r in records)
        self.cpu["prepare"] = _cpu(records)
        self._stage("prepare", t0)
        return records

    def choose_template(self, records: list, template_arg, shapes: list) -> dict:
        t0 = time.perf_counter()
        by_name = {r["name"]: r for r in records}
        if template_arg is not None:
            how = "given"
            p = Path(str(template_arg))
            name = p.stem if (p.suffix.lower() in SCAN_FORMATS or p.exists()) else str(template_arg)
            if name not in by_name:
                if p.exists() and p.is_file():  # a template outside the collection: prepared too
                    recs = self.prepare([(name, p)])
                    if not recs:
                        raise CollectionError(f"--template {template_arg}: cannot be prepared "
                                              f"({self.failures[-1]['error']}).")
                    records.append(recs[0])
                    by_name[name] = recs[0]
                else:
                    failed = [f for f in self.failures if f["name"] == name]
                    why = f": it failed ({failed[0]['error']})" if failed else ""
                    raise CollectionError(f"--template {template_arg}: not a shape of the collection{why}; give "
                                          "the name (file name without extension) or path of a readable shape.")
        elif self.folder.template_path.exists() and self.folder.template().strip() in by_name:
            how, name = "previous run", self.folder.template().strip()
        else:
            if not records:
                raise CollectionError("no shape of the collection could be prepared; see the errors in "
                                      f"{self.folder.report_path}.")
            how = "medoid"
            name = records[graph.medoid([np.asarray(r["signature"]) for r in records])]["name"]
        rec = by_name[name]
        write_text(self.folder.template_path, f"{name}\n{rec['path']}\n")
        self._stage("template", t0)
        return dict(rec, chosen=how)

    def match_template(self, records: list, template: dict) -> dict:
        t0 = time.perf_counter()
        calls = [(r["name"], work.match_template_task, (r["name"], r["path"], r["hash"], template, self.ctx_ref))
                 for r in records]
        direct = {}
        for r, (_, res) in zip(records, self._map(calls, "match to template", "shape")):
            if isinstance(res, Exception):
                if r["name"] == template["name"]:
                    raise CollectionError(f"the template {r['name']} could not be used ({work._error_text(res)}).")
                self._fail(r["name"], r["path"], "match", res)
            else:
                direct[r["name"]] = res
        self.counts["matched_reused"] = sum(bool(d["reused"]) for d in direct.values())
        self.cpu["match"] = _cpu(direct.values())
        self._stage("match", t0)
        return direct

    def match_neighbours(self, records: list, template: dict) -> list[dict]:
        t0 = time.perf_counter()
        if self.cs.neighbours == 0 or len(records) < 3:
            self._stage("neighbours", t0)
            return []
        names = [r["name"] for r in records]
        t_idx = names.index(template["name"])
        pairs = graph.shape_graph([np.asarray(r["signature"]) for r in records], self.cs.neighbours, t_idx)
        calls = [((records[i]["name"], records[j]["name"]), work.match_pair_task,
                  (records[i], records[j], self.ctx_ref)) for i, j in pairs]
        edges = []
        for (key, res) in self._map(calls, "match neighbours", "pair"):
            if isinstance(res, Exception):
                self.failures.append({"name": f"{key[0]}--{key[1]}", "path": "", "stage": "neighbours",
                                      "error": work._error_text(res)})
            else:
                edges.append(res)
        self.counts["pairs_reused"] = sum(bool(e["reused"]) for e in edges)
        self.cpu["neighbours"] = _cpu(edges)
        self._stage("neighbours", t0)
        return edges

    # ------------------------------------------------------------------------- consistency
    def _consistency_key(self, records, template, direct, edges) -> str:
        blob = json.dumps({"shapes": sorted((r["name"], r["hash"]) for r in records), "template": template["hash"],
                           "match": self.ctx.key, "settings": asdict(self.cs),
                           "edges": sorted((e["a"], e["b"], round(e["confidence"], 6)) for e in edges),
                           "direct": sorted((n, round(d["confidence"], 6)) for n, d in direct.items())},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def make_consistent(self, records: list, template: dict, direct: dict, edges: list) -> dict:
        t0 = time.perf_counter()
        key = self._consistency_key(records, template, direct, edges)
        state_path = self.folder.work / "consistency.json"
        if state_path.exists():
            state = json.loads(state_path.read_text())
            joint_done = state.get("result", {}).get("joint")
            if state.get("key") == key and all(self.folder.to_template_path(r["name"]).exists() and
                                               self.folder.from_template_path(r["name"]).exists() and
                                               (not joint_done or self.folder.has_latent(r["name"]))
                                               for r in records):
                self.counts["consistency_reused"] = True
                self._stage("consistency", t0)
                return state["result"]
        self.counts["consistency_reused"] = False
        names = [r["name"] for r in records]
        index = {n: i for i, n in enumerate(names)}
        t_idx = index[template["name"]]
        bases = [self.ex.call(work.basis_task, r["path"], self.ctx_ref, self.cs.samples) for r in records]
        thr = max([d["threshold"] for d in direct.values()] or [0.0])
        weights, undirected, routes = self._weights(names, t_idx, direct, edges, thr)
        k_final = min(self.ctx.settings.k_final, min(r["n_vertices"] for r in records) - 2)
        sizes = cons.zoom_sizes(min(self.cs.k_init, k_final), k_final, self.cs.step)
        A = None
        history = []
        joint = self.cs.consistent and len(records) > 1 and bool(edges)
        if joint:
            fmaps = self._initial_fmaps(undirected, bases, names, t_idx, sizes[0])

            def refit(A_now, k_next, full):
                return self._refit(undirected, bases, A_now, k_next, full)

            A, history = cons.consistent_zoomout(len(names), t_idx, fmaps, weights, sizes, refit,
                                                 refine_iters=self.cs.refine_rounds, full_iters=self.cs.full_rounds)
            # the latent matrices (template basis -> each shape's basis): what a later stage or a
            # partitioned run composes with (docs/scale.md)
            write_npz(self.folder.work / "latent.npz", names=np.asarray(names),
                      A=np.stack([np.zeros((sizes[-1], sizes[-1])) if a is None else a for a in A]))
        self._stage("consistency", t0)
        t0 = time.perf_counter()
        calls = [(n, work.final_maps_task, (n, r["path"], bases[index[n]], bases[t_idx],
                                            None if A is None else A[index[n]], template, self.ctx_ref, routes[n]))
                 for n, r in zip(names, records)]
        final = {}
        for n, res in self._map(calls, "final maps", "shape"):
            if isinstance(res, Exception):
                self._fail(n, records[index[n]]["path"], "maps", res)
            else:
                final[n] = res
        self._stage("maps", t0)
        self.cpu["maps"] = _cpu(final.values())
        t0 = time.perf_counter()
        triangles = self._triangles(edges, bases[t_idx], final) if edges else {}
        self._stage("figures", t0)
        result = {"joint": joint, "rounds": history, "threshold": thr, "final": final, "triangles": triangles,
                  "sizes": sizes}
        write_json(state_path, {"key": key, "result": result})
        return result

    def _weights(self, names, t_idx, direct, edges, thr):
        """Edge weights from the confidences; routes say which shapes lean on neighbours."""
        weights, undirected = {}, []
        index = {n: i for i, n in enumerate(names)}
        for i, n in enumerate(names):
            if i == t_idx:
                continue
            w = cons.edge_weight(direct[n]["confidence"], thr, self.cs.low_factor)
            weights[(i, t_idx)] = weights[(t_idx, i)] = w
            undirected.append(("template", i, t_idx))
        nbrs: dict = {n: [] for n in names}
        for e in edges:
            i, j = index[e["a"]], index[e["b"]]
            w = cons.edge_weight(e["confidence"], thr, self.cs.low_factor)
            weights[(i, j)] = weights[(j, i)] = w
            undirected.append(("pair", i, j))
            nbrs[e["a"]].append(e["b"])
            nbrs[e["b"]].append(e["a"])
        routes = {}
        for n in names:
            low = direct[n]["confidence"] < thr
            routes[n] = {"route": "through neighbours" if (low and nbrs[n]) else "direct", "neighbours": nbrs[n]}
        return weights, undirected, routes

    def _initial_fmaps(self, undirected, bases, names, t_idx, k) -> dict:
        calls = []
        for kind, i, j in undirected:
            a, b = names[i], names[j]
            calls.append(((i, j), work.initial_edge_task, (bases[i], bases[j], self.ctx_ref, kind, a, b, k)))
        fmaps = {}
        for (i, j), res in self._map(calls, "edge maps", "edge"):
            if isinstance(res, Exception):
                raise res
            fmaps[(i, j)], fmaps[(j, i)] = res
        return fmaps

    def _refit(self, undirected, bases, A, k_next, full) -> dict:
        A_refs = {}

        def ref(i):
            if i not in A_refs:
                A_refs[i] = self.ex.put(np.asarray(A[i], dtype=np.float32))
            return A_refs[i]

        calls = [((i, j), work.refit_edges_task, (bases[i], bases[j], ref(i), ref(j), k_next, full))
                 for _, i, j in undirected]
        fmaps = {}
        desc = f"consistent ZoomOut k={k_next}{' (all vertices)' if full else ''}"
        for (i, j), res in self._map(calls, desc, "edge"):
            if isinstance(res, Exception):
                raise res
            fmaps[(i, j)], fmaps[(j, i)] = res
        return fmaps

    def _triangles(self, edges, B_template, final) -> dict:
        calls = []
        for e in edges:
            if e["a"] in final and e["b"] in final:
                for before in (True, False):
                    calls.append(((e["a"], e["b"], before), work.triangle_task,
                                  (B_template, self.ctx_ref, e["a"], e["b"], before)))
        before, after = [], []
        for (_, _, is_before), res in self._map(calls, "cycle figures", "edge") if calls else []:
            if isinstance(res, Exception):
                continue
            (before if is_before else after).extend(res)
        return {"before": float(np.mean(before)) if before else None,
                "after": float(np.mean(after)) if after else None, "n": len(before)}

    # ------------------------------------------------------------------------- outputs
    def gallery(self, records: list, template: dict) -> None:
        t0 = time.perf_counter()
        if self.cs.gallery and records:
            from .gallery import draw_gallery

            try:
                draw_gallery(self.folder, records, template, max_shapes=self.cs.gallery_shapes)
            except (ShapecorrError, OSError, ValueError) as exc:
                self.failures.append({"name": "gallery", "path": str(self.folder.gallery_path), "stage": "gallery",
                                      "error": work._error_text(exc)})
        self._stage("gallery", t0)

    def write_report(self, result: dict) -> dict:
        final = result["final"]["final"]
        names = result["names"]
        thr = result["final"]["threshold"]
        direct = result["direct"]
        direct_low = sorted(n for n in names if direct[n]["confidence"] < thr)
        final_low = sorted(n for n, f in final.items() if f.get("confidence_low"))
        rb = [f["roundtrip_before"] for f in final.values()]
        ra = [f["roundtrip_after"] for f in final.values()]
        n_done = len(final)
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
            "task_cpu_s": self.cpu,
            "shapes_per_s": round(n_done / self.timings["total"], 4) if self.timings.get("total") else None,
            "failures": self.failures,
            "confidence": {"threshold": thr,
                           "direct_mean": _mean([direct[n]["confidence"] for n in names]),
                           "final_mean": _mean([f["confidence"] for f in final.values()]),
                           "direct_low": direct_low, "final_low": final_low},
            "consistency": {
                "joint_refinement": result["final"]["joint"], "neighbour_edges": len(result["edges"]),
                "sizes": result["final"]["sizes"], "rounds": result["final"]["rounds"],
                "rerouted": sorted(n for n, f in final.items() if f.get("route") == "through neighbours"),
                # mean distance (unit-area shapes) of shape -> template -> shape from the identity
                "roundtrip_before": _mean(rb), "roundtrip_after": _mean(ra),
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


def _cpu(records) -> dict:
    """Sum and count of the CPU seconds of the records that were computed in this run."""
    run = [float(r.get("cpu_s", 0.0)) for r in records if not r.get("reused")]
    return {"tasks": len(run), "total": round(sum(run), 3), "mean": round(sum(run) / len(run), 4) if run else None}


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(float(np.mean(vals)), 6) if vals else None
