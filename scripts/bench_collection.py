#!/usr/bin/env python
"""Benchmark: a collection (maps through a template, made consistent) against pairwise matching.

Runs ``shapecorr.collection`` on shapes of a FAUST_r/TOSCA_r-style folder (ground truth in
corres/NAME.vts), then, for every pair (a, b) of the collection (in the orientation of the pairwise
file where it has the pair), the map ``p2p_21`` (vertex of a for each vertex of b) obtained three
ways:

- ``composed_direct``: through the template with the direct maps (before consistency);
- ``composed_consistent``: through the template with the final maps (``collection-map --via template``);
- ``latent``: nearest neighbours in the consistent latent space (``collection-map``, the default);
- ``refined``: the latent map, then the pair's ZoomOut steps (``collection-map --refine``);
- ``pairwise``: independent pairwise matching of the same pair with the default preset, read from
  a pairs.csv of scripts/bench_match.py (``--pairwise-csv``, e.g. docs/bench/faust_cpu_confidence);
  the neighbour pairs that the collection itself matched are evaluated as well (``pairwise_run``);
  with ``--pairwise-compute`` the pairs missing from the file are matched here (``shapecorr.match``,
  default preset; the maps are kept in RUN_DIR/bench_pairwise, so a rerun reuses them).

``--sample N`` evaluates a seeded sample of N pairs instead of all of them (100 shapes have 4950).

Error: geodesic distance on a (the source) / sqrt(area), x100, as in scripts/bench_match.py.
The collection runs with a fresh cache folder (cold: every shape prepared here; ``--cache DIR``
keeps one, e.g. to resume), which the refinement reads too; the geodesics of the evaluation
and the pairwise matches come from the default cache.

    nice -n 5 python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 80 --count 20 \
        --engine ray --num-cpus 2 --pairwise-csv docs/bench/faust_cpu_confidence/pairs.csv \
        --out docs/bench/collection_cpu

Writes OUT/bench.json, OUT/bench_results.md, OUT/pairs.csv and copies the run's gallery.png and
report.json there.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_pairwise(path) -> dict:
    """``{(source, target): mean error x100}`` of the method 'ours' in a bench_match pairs.csv,
    or of the default preset ('ours|default|...') in a bench_generalize one."""
    if not path:
        return {}
    out = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            method = row.get("method", "ours")
            if method == "ours" or method.startswith("ours|default|"):
                out[(row["source"], row["target"])] = float(row["mean_error_x100"])
    return out


def stats(values) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"n": 0}
    return {"n": len(v), "mean": round(float(v.mean()), 3), "median": round(float(np.median(v)), 3),
            "max": round(float(v.max()), 3), "above_5": int((v > 5).sum())}


def noop(x):
    return x


def noop_call(shared, nbytes: int) -> bytes:
    """A call that does nothing but return ``nbytes`` (what the stage's real call returns)."""
    return bytes(nbytes)


#: bytes a call's result has per stage in a plan replay: the joint refinement's calls return two
#: k x k float32 maps (k = the run's k_final, the largest); the others a small record
def _result_bytes(stage: str, k: int) -> int:
    return 2 * k * k * 4 if stage == "consistency" else 256


def ray_overhead(num_cpus: int, n_tasks: int, plan: dict | None = None) -> dict:
    """Seconds per task of Ray itself: ``n_tasks`` no-op tasks through the collection's own task
    window (:func:`shapecorr.collection.engine.stream`: submit, wait as completed, get), each
    given the same basis-sized array from the object store, and the start and stop of a local
    Ray. A run's overhead is then about ``tasks x seconds_per_task + start + stop`` (report.json
    ``tasks`` has the run's count per stage).

    With ``plan`` (a run's report.json), the run's own task set is replayed instead, stage by
    stage: as many tasks as the run gave Ray, each a batch (:func:`engine.run_batch`) of as
    many no-op calls as the run's tasks held on average, given the array once per task and each
    call returning a result of the stage's size; the wall time of that replay, plus start and
    stop, is Ray's own cost of the run (``overhead_fraction`` of the run's ``total``)."""
    from shapecorr.collection.engine import ONE_PER_TASK, RayExecutor, _Shared, run_batch, stream

    t0 = time.perf_counter()
    ex = RayExecutor(num_cpus=num_cpus)
    start = time.perf_counter() - t0
    ref = ex.put(np.zeros((5000, 100), dtype=np.float32))  # a basis-sized array, stored once
    ex.get(ex.call(noop, ref))  # workers up
    stages = ({"noop": (n_tasks, n_tasks)} if plan is None else
              {st: (n, plan.get("task_calls", plan["tasks"]).get(st, n)) for st, n in plan["tasks"].items() if n})
    k = int(plan["settings"]["match"].get("k_final", 100)) if plan else 0
    rows = {}
    for stage, (n, calls) in stages.items():
        def tasks(n=n, calls=calls, nbytes=_result_bytes(stage, k)):
            for i in range(n):  # the stage's calls spread over its tasks as evenly as they go
                m = calls // n + (i < calls % n)
                yield i, run_batch, (noop_call, [(_Shared(0), nbytes)] * m, ref)

        t0, c0 = time.perf_counter(), time.process_time()
        for _, res in stream(ex, tasks(), total=n, batching=ONE_PER_TASK):
            if isinstance(res, Exception):
                raise res
        rows[stage] = {"tasks": n, "calls": calls, "wall_s": round(time.perf_counter() - t0, 3),
                       "driver_cpu_s": round(time.process_time() - c0, 3)}
    t0 = time.perf_counter()
    ex.close()
    stop = time.perf_counter() - t0
    n_all = sum(r["tasks"] for r in rows.values())
    wall = sum(r["wall_s"] for r in rows.values())
    result = {"tasks": n_all, "seconds_per_task": round(wall / n_all, 5),
              "driver_cpu_per_task_s": round(sum(r["driver_cpu_s"] for r in rows.values()) / n_all, 5),
              "start_s": round(start, 2), "stop_s": round(stop, 2), "load_average": os.getloadavg()}
    if plan is not None:
        run_total = float(plan["timings_s"]["total"])
        result.update(stages=rows, replay_wall_s=round(wall, 2), run_total_s=run_total,
                      overhead_fraction=round((wall + start + stop) / run_total, 4),
                      overhead_fraction_without_start_stop=round(wall / run_total, 4))
    return result


def synthetic(sizes: list[int], out: Path, engine: str, num_cpus: int, keep: Path | None = None) -> dict:
    """Collections of ``n`` permuted copies of a 162-vertex shape (axiomatic preset, small maps):
    wall and CPU time, peak memory of the driver (before the run and at the end of each stage),
    bytes on disk per shape, accuracy against the exact answer. With ``keep``, the shapes and
    the run's output stay in ``keep/synthetic{n}_{engine}`` (to compare two versions' maps with
    scripts/compare_collections.py); otherwise they are deleted."""
    import resource

    import shapecorr
    from shapecorr.collection import CollectionSettings, collection

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import bumpy, inverse_permutation, permuted_copy, write_off

    def peak_mb() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    shape = bumpy(2)
    rows = []
    for n in sizes:
        if keep is not None:
            tmp = Path(keep) / f"synthetic{n}_{engine}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        else:
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-synth-{n}-"))
        (tmp / "shapes").mkdir()
        for i in range(n):  # the permutations are drawn again from their seeds to check the maps
            copy, _ = permuted_copy(shape, i, rigid=True)
            write_off(tmp / "shapes" / f"s{i:05d}.off", copy.vertices, copy.faces)
        shapecorr.set_cache_dir(tmp / "cache")
        before = peak_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = collection(tmp / "shapes", out=tmp / "out", engine=engine, num_cpus=num_cpus, preset="axiomatic",
                         k_final=30, k_init=20, progress=True,
                         settings=CollectionSettings(k_init=10, step=10, samples=None, gallery=False))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = peak_mb()
        T = res.template
        inv_t = inverse_permutation(permuted_copy(shape, int(T[1:]), rigid=True)[1])
        exact = np.mean([(res.to_template(f"s{i:05d}") == inv_t[permuted_copy(shape, i, rigid=True)[1]]).mean()
                         for i in range(n)])
        disk = {sub: sum(f.stat().st_size for f in (tmp / "out" / sub).rglob("*") if f.is_file())
                for sub in ("maps", "latent", "work")}
        rows.append({"shapes": n, "engine": res.report["engine"]["name"], "wall_s": round(wall, 2),
                     "driver_cpu_s": round(cpu, 2),
                     # child processes waited for (in-process engine: none; Ray's workers are not ours)
                     "children_cpu_s": round(children.ru_utime + children.ru_stime - children0.ru_utime
                                             - children0.ru_stime, 2),
                     "task_cpu_s": res.report.get("task_cpu_s"), "tasks": res.report.get("tasks"),
                     "task_calls": res.report.get("task_calls"), "load_average_after": os.getloadavg(),
                     "wall_per_shape_s": round(wall / n, 4), "peak_rss_mb": peak, "rss_before_run_mb": before,
                     "driver_peak_rss_mb_by_stage": res.report.get("driver_peak_rss_mb"),
                     "disk_bytes_per_shape": {k: round(v / n) for k, v in disk.items()},
                     "exact_fraction": round(float(exact), 4), "timings_s": res.report["timings_s"]})
        log(json.dumps(rows[-1]))
        # the run's report (its task plan per stage, for --noop-plan)
        shutil.copy(tmp / "out" / "report.json", out / f"report_synthetic{n}_{engine}.json")
        shapecorr.set_cache_dir("default")
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    name = "synthetic.json" if len(sizes) > 1 else f"synthetic{sizes[0]}_{engine}.json"
    (out / name).write_text(json.dumps(rows, indent=2) + "\n")
    return {"synthetic": rows}


def sync_alone(n: int, k: int, store: str, out: Path, seed: int = 0) -> dict:
    """The joint refinement's synchronization alone, on ``n`` shapes with exact maps (random
    orthogonal ``k x k`` latent matrices; every shape joined to the template and to 2 random
    others), its maps and matrices in files (``store="file"``, as a collection runs it) or in
    memory: CPU per shape and sweep, the process's peak memory, and the error of the result."""
    import resource

    from shapecorr.collection import consistency as cons
    from shapecorr.collection.blocks import FileBlocks, MemoryBlocks

    def peak_mb() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    rng = np.random.default_rng(seed)

    def rotation(i: int) -> np.ndarray:  # shape i's exact latent matrix, drawn again from its seed
        if i == 0:
            return np.eye(k)
        q, r = np.linalg.qr(np.random.default_rng([seed, i]).standard_normal((k, k)))
        return q * np.sign(np.diag(r))

    src = np.arange(1, n)
    a = rng.integers(1, n, size=2 * (n - 1))
    b = rng.integers(1, n, size=2 * (n - 1))
    keep = a != b
    i_und, j_und = np.concatenate([src, a[keep]]), np.concatenate([np.zeros(n - 1, dtype=np.int64), b[keep]])
    graph = cons.EdgeGraph.from_undirected(n, 0, i_und, j_und, np.ones(len(i_und)))
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))

    def make(name, count, shape, dtype):
        return FileBlocks(tmp / f"{name}.bin", count, shape, dtype) if store == "file" else MemoryBlocks(count, shape, dtype)

    before = peak_mb()
    X = make("edges", graph.n_edges, (k, k), np.float32)
    for e, (i, j) in enumerate(zip(i_und, j_und)):
        Qi, Qj = rotation(int(i)), rotation(int(j))
        X.write(2 * e, Qj @ Qi.T)  # X_ij A_i = A_j
        X.write(2 * e + 1, Qi @ Qj.T)
    A, lhs = make("latent", n, (k, k), np.float64), make("lhs", n, (k, k), np.float64)
    c0, t0 = time.process_time(), time.perf_counter()
    stats = cons.synchronize_blocks(graph, X, A, lhs, init=lambda i: np.eye(k), sweeps=30)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    err = max(float(np.abs(A.read(i) - rotation(i)).max()) for i in range(0, n, max(1, n // 200)))
    for s in (X, A, lhs):
        s.close()
    shutil.rmtree(tmp, ignore_errors=True)
    row = {"shapes": n, "k": k, "store": store, "directed_edges": graph.n_edges, "sweeps": stats.sweeps,
           "residual": stats.residual, "max_error_sampled": err, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
           "cpu_per_shape_sweep_ms": round(1000 * cpu / (n * stats.sweeps), 4),
           "peak_rss_mb": peak_mb(), "rss_before_mb": before}
    (out / f"sync{n}_k{k}_{store}.json").write_text(json.dumps(row, indent=2) + "\n")
    return row


def compare_runs(a: Path, b: Path) -> dict:
    """Whether two collection output folders hold the same results: the map files byte for
    byte, the latent embeddings and matrices exactly, the confidence records (times aside) and
    the report's confidence and consistency figures."""
    def names(folder: Path, sub: str, pattern: str) -> list:
        return sorted(p.relative_to(folder) for p in (folder / sub).glob(pattern))

    def record(p: Path) -> dict:
        d = json.loads(p.read_text())
        return {k: v for k, v in d.items() if k not in ("time_s", "cpu_s")}

    maps, latent = names(a, "maps", "*.txt"), names(a, "latent", "*.npy")
    za, zb = np.load(a / "work" / "latent.npz"), np.load(b / "work" / "latent.npz")
    ra, rb = json.loads((a / "report.json").read_text()), json.loads((b / "report.json").read_text())
    res = {"map_files": len(maps), "latent_files": len(latent),
           "map_files_identical": maps == names(b, "maps", "*.txt")
           and all((a / p).read_bytes() == (b / p).read_bytes() for p in maps),
           "latent_identical": latent == names(b, "latent", "*.npy")
           and all(np.array_equal(np.load(a / p), np.load(b / p)) for p in latent),
           "latent_matrices_identical": np.array_equal(za["A"], zb["A"]) and np.array_equal(za["names"], zb["names"]),
           "confidence_records_identical": all(record(p) == record(b / p.relative_to(a))
                                               for p in (a / "maps").glob("*_confidence.json")),
           "report_figures_identical": ra["consistency"] == rb["consistency"] and ra["confidence"] == rb["confidence"],
           "templates": [ra["template"], rb["template"]]}
    res["identical"] = all(v for k, v in res.items() if k.endswith("identical")) and ra["template"] == rb["template"]
    return res


def _descendants_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of the living processes below ``pid`` (Linux ``/proc``): a
    local Ray's processes (its GCS, raylet and workers are started below the driver)."""
    children: dict = {}
    cpu: dict = {}
    tick = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(d.name))  # field 4: the parent
        cpu[int(d.name)] = (int(fields[11]) + int(fields[12])) / tick  # fields 14, 15: utime, stime
    total, todo = 0.0, list(children.get(pid, []))
    while todo:
        p = todo.pop()
        total += cpu.get(p, 0.0)
        todo += children.get(p, [])
    return total


def throughput(paths: list, names: list, engine: str, num_cpus: int, preset: str, run_dir: Path,
               out: Path, threads: int | None = None) -> dict:
    """One cold collection run of ``paths`` (a fresh cache, no evaluation): wall time, shapes
    per second and the CPU of every process that worked for it (this process; its waited-for
    children, the forked preparations; on Ray the local Ray's processes, started here so that
    they can be read before the stop), the load average before and after. Writes
    ``out/throughput_{engine}_{n}.json``; compare two runs' maps with ``--compare``."""
    import resource

    import shapecorr
    from shapecorr.collection import CollectionSettings, RayExecutor, collection

    cache = Path(tempfile.mkdtemp(prefix="bench-collection-cache-"))
    shapecorr.set_cache_dir(cache)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ex = RayExecutor(num_cpus=num_cpus) if engine == "ray" else None  # the run joins it
    start = time.perf_counter() - t0
    try:
        res = collection(paths, out=run_dir, preset=preset, engine=engine, settings=CollectionSettings(),
                         progress=True, threads=threads)
        ray_cpu = _descendants_cpu_s(os.getpid()) if ex is not None else 0.0
    finally:
        t_stop = time.perf_counter()
        if ex is not None:
            ex.close()
        stop = time.perf_counter() - t_stop
    wall, driver_cpu = time.perf_counter() - t0, time.process_time() - c0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime
    shapecorr.set_cache_dir("default")
    shutil.rmtree(cache, ignore_errors=True)
    r = res.report
    row = {"engine": engine, "threads": threads, "workers": r["engine"]["workers"], "shapes": len(names), "done": r["shapes"]["done"],
           "names": names, "wall_s": round(wall, 2), "shapes_per_s": round(len(names) / wall, 4),
           "engine_start_s": round(start, 2), "engine_stop_s": round(stop, 2),
           "driver_cpu_s": round(driver_cpu, 2), "children_cpu_s": round(children_cpu, 2),
           "ray_processes_cpu_s": round(ray_cpu, 2),
           "cpu_s_all_processes": round(driver_cpu + children_cpu + ray_cpu, 2),
           "task_cpu_s": r["task_cpu_s"], "tasks": r["tasks"], "task_calls": r.get("task_calls"),
           "timings_s": r["timings_s"], "load_average_before": load_before, "load_average_after": os.getloadavg(),
           "template": r["template"], "failures": r["failures"]}
    name = f"throughput_{engine}_{len(names)}{'' if threads is None else f'_threads{threads}'}.json"
    (out / name).write_text(json.dumps(row, indent=2) + "\n")
    return row


def plot_synthetic(out: Path) -> dict:
    """``scaling.png`` and ``scaling.md`` in ``out``: time and the driver's peak memory against
    the number of shapes, from the ``*synthetic{N}_{engine}*.json`` files there (one process
    per run, so each peak is that run's own). A row's ``label`` (default: its engine) names its
    curve; rows with ``"resumed": true`` (a rerun that reused the matches) are drawn in the
    memory panel only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for p in sorted(out.glob("*synthetic*_*.json")):
        data = json.loads(p.read_text())
        rows += [r for r in data if "shapes" in r] if isinstance(data, list) else []  # not compare_*.json
    if not rows:
        raise SystemExit(f"{out}: no *synthetic*_*.json to plot (run --synthetic N first)")
    for r in rows:
        r.setdefault("label", r["engine"])
    rows.sort(key=lambda r: (r["label"], r["shapes"]))
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label in sorted({r["label"] for r in rows}):
        rs = [r for r in rows if r["label"] == label]
        cold = [r for r in rs if not r.get("resumed")]
        if cold:
            n = [r["shapes"] for r in cold]
            ax_t.plot(n, [r["wall_s"] for r in cold], "o-", label=f"{label}: wall (under load)")
            ax_t.plot(n, [r["driver_cpu_s"] for r in cold], "s--", label=f"{label}: driver CPU")
        ax_m.plot([r["shapes"] for r in rs], [r["peak_rss_mb"] for r in rs], "o-", label=label)
    ax_t.set(xlabel="shapes", ylabel="seconds", title="time (cold runs)")
    ax_m.set(xlabel="shapes", ylabel="MB", title="driver peak resident memory", ylim=(0, None))
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=110)
    lines = ["| run | shapes | wall s (under load) | driver CPU s | driver peak RSS MB | "
             "peak at the end of prepare / template / match / neighbours / consistency / maps MB | exact |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        by = r.get("driver_peak_rss_mb_by_stage") or {}
        stages = " / ".join(str(by.get(k, "-")) for k in ("prepare", "template", "match", "neighbours", "consistency",
                                                          "maps"))
        exact = r.get("exact_fraction")
        lines.append(f"| {r['label']}{' (resumed)' if r.get('resumed') else ''} | {r['shapes']} | {r['wall_s']} | "
                     f"{r['driver_cpu_s']} | {r['peak_rss_mb']} | {stages} | "
                     f"{'-' if exact is None else format(exact, '.0%')} |")
    (out / "scaling.md").write_text("\n".join(lines) + "\n")
    return {"plotted": len(rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", nargs="?", help="folder with NAME.off and corres/NAME.vts")
    ap.add_argument("--noop", type=int, metavar="N", help="only measure Ray's own cost with N no-op tasks")
    ap.add_argument("--noop-plan", metavar="REPORT",
                    help="only measure Ray's own cost by replaying a run's task set (its report.json) with "
                         "no-op calls; writes --out/ray_overhead_plan.json")
    ap.add_argument("--sync", type=int, metavar="N",
                    help="only time the joint refinement's synchronization on N shapes with exact maps "
                         "(--sync-k, --sync-store)")
    ap.add_argument("--sync-k", type=int, default=30, help="size of the latent matrices of --sync")
    ap.add_argument("--sync-store", default="file", choices=["file", "memory"], help="where --sync keeps them")
    ap.add_argument("--compare", nargs=2, metavar=("OUT_A", "OUT_B"),
                    help="only compare two collection output folders (maps, latent files, figures); writes "
                         "--out/compare.json")
    ap.add_argument("--plot", action="store_true",
                    help="only plot time and peak memory against N from the synthetic*_*.json files in --out")
    ap.add_argument("--synthetic", type=int, nargs="+", metavar="N",
                    help="only run collections of N permuted copies of a small shape (time, memory, accuracy)")
    ap.add_argument("--throughput", action="store_true",
                    help="only run the collection of the dataset's shapes (cold, no evaluation) and write its "
                         "wall time, shapes/s and the CPU of all its processes to --out/throughput_ENGINE_N.json")
    ap.add_argument("--task-threads", type=int, metavar="N",
                    help="--throughput: the collection's threads=N (feature-network threads per match; default: "
                         "all usable cores)")
    ap.add_argument("--names", nargs="*", help="shape names (default: --first/--count of the sorted names)")
    ap.add_argument("--first", type=int, default=80, help="index of the first shape in the sorted names")
    ap.add_argument("--count", type=int, default=20, help="number of shapes")
    ap.add_argument("--engine", default="ray", choices=["ray", "local"])
    ap.add_argument("--num-cpus", type=int, default=2, help="a local Ray's workers")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--neighbours", type=int, default=2)
    ap.add_argument("--pairwise-csv", help="pairs.csv of scripts/bench_match.py with the pairwise errors")
    ap.add_argument("--run-dir", help="the collection's output folder (default: a temporary one); reused if it "
                                      "exists (a resumed run); with --synthetic: where the shapes and runs are kept")
    ap.add_argument("--cache", help="the collection's cache folder, kept (default: a fresh one, deleted at the end)")
    ap.add_argument("--sample", type=int, metavar="N", help="evaluate a seeded sample of N pairs (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample")
    ap.add_argument("--pairs-among", nargs="+", metavar="NAME",
                    help="evaluate only the pairs of the collection with both shapes among these")
    ap.add_argument("--eval-points", type=int, metavar="N",
                    help="errors on a seeded subset of N ground-truth points (geodesics from those points only, "
                         "no all-pairs matrices: for collections with many source shapes); the pairwise figure is "
                         "then measured on its map (--pairwise-compute), not read from --pairwise-csv")
    ap.add_argument("--pairwise-compute", action="store_true",
                    help="match the pairs missing from --pairwise-csv here (default preset)")
    ap.add_argument("--out", required=True, help="where the benchmark's results go")
    args = ap.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.noop or args.noop_plan or args.synthetic or args.plot or args.compare or args.sync:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        if args.sync:
            log(json.dumps(sync_alone(args.sync, args.sync_k, args.sync_store, out)))
            return 0
        if args.compare:
            result = compare_runs(Path(args.compare[0]), Path(args.compare[1]))
            (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
            log(json.dumps(result))
            return 0 if result["identical"] else 1
        if args.noop_plan:
            result = ray_overhead(args.num_cpus, 0, plan=json.loads(Path(args.noop_plan).read_text()))
            result["plan"] = args.noop_plan
            (out / "ray_overhead_plan.json").write_text(json.dumps(result, indent=2) + "\n")
        elif args.noop:
            result = ray_overhead(args.num_cpus, args.noop)
            (out / "ray_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
        elif args.plot:
            result = plot_synthetic(out)
        else:
            result = synthetic(args.synthetic, out, args.engine, args.num_cpus,
                               Path(args.run_dir) if args.run_dir else None)
        log(json.dumps(result, indent=1))
        return 0
    if not args.dataset:
        ap.error("give the dataset folder (or --noop / --synthetic)")
    from bench_match import machine_info

    import shapecorr
    from shapecorr.collection import CollectionFolder, CollectionSettings, collection, compose_latent, pair_maps
    from shapecorr.collection.store import read_npz
    from shapecorr.eval.datasets import Dataset
    from shapecorr.eval.metrics import GeodesicDistances, geodesic_errors

    ds = Dataset(args.dataset)
    names = args.names or ds.names[args.first:args.first + args.count]
    paths = [ds.shape_path(n) for n in names]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench-collection-"))
    if args.throughput:
        log(json.dumps(throughput(paths, names, args.engine, args.num_cpus, args.preset, run_dir, out,
                                  args.task_threads), indent=1))
        return 0
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="bench-collection-cache-"))
    shapecorr.set_cache_dir(cache)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    res = collection(paths, out=run_dir, preset=args.preset, engine=args.engine, num_cpus=args.num_cpus,
                     settings=CollectionSettings(neighbours=args.neighbours), progress=True)
    wall = time.perf_counter() - t0
    driver_cpu = time.process_time() - cpu0
    shapecorr.set_cache_dir("default")
    log(f"collection: {len(res.names)} shapes in {wall:.1f} s (template {res.template})")

    folder = CollectionFolder(run_dir)
    direct = {n: read_npz(folder.direct_path(n)) for n in res.names}
    final = {n: (folder.to_template(n), folder.from_template(n)) for n in res.names}
    edges = {}
    for p in (folder.work / "edges").glob("*.npz"):
        a, b = p.stem.split("--")
        edges[(a, b)] = read_npz(p)
    pairwise = read_pairwise(args.pairwise_csv)

    rows = []
    dist = {}
    pairs = [(b, a) if (b, a) in pairwise else (a, b) for a, b in itertools.combinations(sorted(res.names), 2)]
    if args.pairs_among:
        among = set(args.pairs_among)
        pairs = [(a, b) for a, b in pairs if a in among and b in among]
    if args.sample and args.sample < len(pairs):
        rng = np.random.default_rng(args.seed)
        pairs = [pairs[i] for i in rng.permutation(len(pairs))[:args.sample]]  # a smaller N: a prefix
    refine_cpu = []
    for a, b in sorted(pairs):  # in the pairwise file's orientation where it has the pair
        if a not in dist:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dist[a] = GeodesicDistances(shapecorr.load(ds.shape_path(a)),
                                            dense_max=0 if args.eval_points else 10_000)
        gt_a, gt_b = ds.gt(a), ds.gt(b)
        points = None
        if args.eval_points and args.eval_points < len(gt_a):
            points = np.sort(np.random.default_rng(args.seed).choice(len(gt_a), args.eval_points, replace=False))

        def err(p2p_ba, gt_a=gt_a, gt_b=gt_b, d=dist[a], points=points):
            return float(geodesic_errors(None, p2p_ba, gt_a, gt_b, distances=d, points=points).mean() * 100)

        # p2p_21 with source a, target b: vertex of a for each vertex of b = a's from_template after b's to_template
        shapecorr.set_cache_dir(cache)  # the refinement reads the collection's eigenbases
        c0 = time.process_time()
        refined = pair_maps(folder, a, b, via="latent", refine=True).p2p_ba
        refine_cpu.append(time.process_time() - c0)
        refined_files = pair_maps(folder, a, b, via="template", refine=True).p2p_ba
        shapecorr.set_cache_dir("default")
        if args.eval_points:  # the pairwise figure on the same points, from the map
            pairwise.pop((a, b), None)
        if (a, b) not in pairwise and args.pairwise_compute:
            pairwise[(a, b)] = err(pairwise_map(run_dir, ds, a, b))
        row = {"source": a, "target": b,
               "composed_direct": err(direct[a]["from_template"][direct[b]["to_template"]]),
               "composed_consistent": err(final[a][1][final[b][0]]),
               "latent": err(compose_latent(folder, a, b)[1]), "refined": err(refined),
               "refined_files": err(refined_files),
               "pairwise": pairwise.get((a, b)), "pairwise_run": None}
        if (a, b) in edges:
            row["pairwise_run"] = err(edges[(a, b)]["p2p_ba"])
        elif (b, a) in edges:
            row["pairwise_run"] = err(edges[(b, a)]["p2p_ab"])
        rows.append(row)
        log(f"{a} -> {b}: direct {row['composed_direct']:.2f}  consistent {row['composed_consistent']:.2f}  "
            f"latent {row['latent']:.2f}  refined {row['refined']:.2f}  "
            f"pairwise {row['pairwise'] if row['pairwise'] is None else round(row['pairwise'], 2)}")
        if len(dist) > 3:  # keep memory bounded: sources come in sorted order
            for k in [k for k in dist if k < a]:
                del dist[k]
    if not args.cache:
        shutil.rmtree(cache, ignore_errors=True)

    with_pw = [r for r in rows if r["pairwise"] is not None]
    report = res.report
    summary = {
        "dataset": str(args.dataset), "names": names, "template": res.template,
        "engine": report["engine"], "num_cpus": args.num_cpus, "preset": args.preset, "neighbours": args.neighbours,
        "wall_s": round(wall, 2), "driver_cpu_s": round(driver_cpu, 2),
        "seconds_per_shape": round(wall / max(len(res.names), 1), 3),
        "timings_s": report["timings_s"], "failures": report["failures"],
        "errors_x100": {
            "composed_direct": stats(r["composed_direct"] for r in rows),
            "composed_consistent": stats(r["composed_consistent"] for r in rows),
            "pairwise (csv)": stats(r["pairwise"] for r in with_pw),
            "latent": stats(r["latent"] for r in rows),
            "refined": stats(r["refined"] for r in rows),
            "refined from the map files": stats(r["refined_files"] for r in rows),
            "composed_consistent on pairs with a pairwise figure": stats(r["composed_consistent"] for r in with_pw),
            "latent on pairs with a pairwise figure": stats(r["latent"] for r in with_pw),
            "refined on pairs with a pairwise figure": stats(r["refined"] for r in with_pw),
            "pairwise_run (neighbour edges)": stats(r["pairwise_run"] for r in rows),
            "composed_consistent on neighbour edges": stats(r["composed_consistent"] for r in rows
                                                            if r["pairwise_run"] is not None),
        },
        "pairs_evaluated": len(rows), "pairs_in_collection": len(res.names) * (len(res.names) - 1) // 2,
        "eval_points": args.eval_points, "pairs_among": args.pairs_among,
        "sample_seed": args.seed if args.sample else None,
        "refine_cpu_s_per_pair": round(float(np.mean(refine_cpu)), 3) if refine_cpu else None,
        "pairs_consistent_above_5_where_pairwise_not": sum(
            1 for r in with_pw if r["composed_consistent"] > 5 and r["pairwise"] <= 5),
        "pairs_above_5_where_pairwise_not": {
            m: sum(1 for r in with_pw if r[m] > 5 and r["pairwise"] <= 5)
            for m in ("composed_consistent", "latent", "refined")},
        "consistency": report["consistency"], "confidence": report["confidence"],
        "machine": machine_info("cpu"),
    }
    (out / "bench.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    with open(out / "pairs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for name in ("gallery.png", "report.json"):
        if (run_dir / name).exists():
            shutil.copy(run_dir / name, out / name)
    (out / "bench_results.md").write_text(markdown(summary, " ".join(["python"] + sys.argv)))
    log(json.dumps(summary["errors_x100"], indent=1))
    return 0


def pairwise_map(run_dir: Path, ds, a: str, b: str) -> np.ndarray:
    """``p2p_21`` (vertex of a for each vertex of b) of an independent match with the default
    preset, kept in RUN_DIR/bench_pairwise."""
    import shapecorr

    path = run_dir / "bench_pairwise" / f"{a}--{b}.npy"
    if not path.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = shapecorr.match(ds.shape_path(a), ds.shape_path(b), "default")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, m.p2p_21)
    return np.load(path)


def markdown(s: dict, command: str) -> str:
    e = s["errors_x100"]
    lines = [f"# Collection benchmark: {len(s['names'])} shapes of {s['dataset']}", "",
             f"Command: `{command}`", "",
             f"Template (medoid): {s['template']}; engine {s['engine']['name']} with {s['engine']['workers']} "
             f"worker(s); preset {s['preset']}; {s['neighbours']} neighbours per shape.", "",
             "| maps of all pairs (a, b), a < b | pairs | mean error x100 | median | max | pairs > 5 |",
             "|---|---|---|---|---|---|"]
    for key, st in e.items():
        if st.get("n"):
            lines.append(f"| {key} | {st['n']} | {st['mean']:.2f} | {st['median']:.2f} | {st['max']:.2f} | "
                         f"{st['above_5']} |")
    c = s["consistency"]
    lines += ["", "Pairs above 5 where pairwise was not: " + ", ".join(
                  f"{k} {v}" for k, v in s["pairs_above_5_where_pairwise_not"].items()) + ".", "",
              f"Pairs evaluated: {s['pairs_evaluated']} of {s['pairs_in_collection']}"
              + (f" (seeded sample, seed {s['sample_seed']})" if s["sample_seed"] is not None else "")
              + f"; refinement {s['refine_cpu_s_per_pair']} s CPU per pair.", "",
              "Cycle figures (unit-area shapes): round trip shape -> template -> shape "
              f"{c['roundtrip_before']:.4f} before, {c['roundtrip_after']:.4f} after; triangle a -> b -> template "
              f"vs a -> template {c['triangle_before']} before, {c['triangle_after']} after.", "",
              f"Wall time {s['wall_s']} s for {len(s['names'])} shapes ({s['seconds_per_shape']} s per shape); "
              f"stages (s): " + ", ".join(f"{k} {v}" for k, v in s["timings_s"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
