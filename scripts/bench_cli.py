#!/usr/bin/env python
"""Benchmark the whole ``shapecorr match`` process against a whole pyfmaps process.

What a user waits for from the shell: each run is a fresh process, timed from start to exit.

  A  ``shapecorr match SRC TGT --out DIR -q`` (default preset, correspondence.png included),
     with a cold cache: a fresh, empty SHAPECORR_CACHE_DIR for every run;
  B  a pyfmaps script with its README quickstart settings (the one implementation in
     scripts/bench_match.py, ``run_pyfmaps``: meshes loaded with area_normalize=True,
     center=True; WKS, subsample_step=2; fit(K=30, w_descr=1, w_lap=0.1, w_dcomm=1,
     w_orient=1); zoomout_refine(nit=16, step=5); both vertex maps) that writes both maps.

The two run alternately, A B A B ..., over the pairs (FAUST_r test pairs, shuffled with a fixed
seed), so that a change in the machine's load hits both alike. Reported: wall time and CPU time
(user + system) of each process, median and mean per tool, and the ratio A / B of the
medians; the load average before and after says how busy the machine was.

    python scripts/bench_cli.py                                  # 10 pairs of ../shared/data/FAUST_r/vtx_5k
    python scripts/bench_cli.py --pairs 20 --out docs/bench/cli_cpu

Writes OUT/bench_cli.json and OUT/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "FAUST_r" / "vtx_5k"
TOOLS = ("shapecorr", "pyfmaps")


def pyfmaps_child(src: str, tgt: str, out: str) -> int:
    """Process B: pyfmaps from the files to both maps, written as text like ours."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import numpy as np
    from bench_match import run_pyfmaps

    res = run_pyfmaps(src, tgt)
    Path(out).mkdir(parents=True, exist_ok=True)
    np.savetxt(Path(out) / "target_to_source.txt", res["p2p_21"], fmt="%d")
    np.savetxt(Path(out) / "source_to_target.txt", res["p2p_12"], fmt="%d")
    return 0


def shapecorr_command() -> list[str]:
    """The console script installed next to this Python (what a user types), else ``-m``."""
    exe = Path(sys.executable).parent / "shapecorr"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "shapecorr"]


def ensure_bytecode() -> list[str]:
    """Byte-compile shapecorr's modules and this script's harness (``scripts/bench_match.py``), as
    pip does when it installs a package: both tools then start from cached bytecode. (An editable
    install run with PYTHONDONTWRITEBYTECODE=1, as on this machine, would otherwise compile about 50
    modules in every shapecorr process, ~0.25 s, while pyfmaps' were compiled when pip installed it.)
    Returns the folders and files compiled."""
    import compileall

    import shapecorr

    targets = [Path(shapecorr.__file__).parent, ROOT / "scripts" / "bench_match.py"]
    for t in targets:
        ok = compileall.compile_dir(t, quiet=1) if t.is_dir() else compileall.compile_file(t, quiet=1)
        if not ok:
            raise SystemExit(f"could not byte-compile {t}")
    return [str(t) for t in targets]


def timed(cmd: list[str], env: dict) -> dict:
    """Run one process; its wall time, CPU time (user + system) and exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "rc": res.returncode,
            "stderr_tail": res.stderr.strip().splitlines()[-1:] if res.returncode else []}


def run_pair(src: Path, tgt: Path, tool: str, work: Path) -> dict:
    env = dict(os.environ)
    out = work / f"{tool}-{src.stem}-{tgt.stem}"
    if tool == "shapecorr":
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))  # cold: empty for every run
        env["SHAPECORR_CACHE_DIR"] = str(cache)
        cmd = shapecorr_command() + ["match", str(src), str(tgt), "--out", str(out), "-q"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--pyfmaps-child", str(src), str(tgt), str(out)]
    r = timed(cmd, env)
    if tool == "shapecorr" and r["rc"] == 0:
        report = json.loads((out / "report.json").read_text())
        r["confidence"] = report.get("confidence")
        r["picture"] = (out / "correspondence.png").exists()
        r["match_s"] = report["timings"].get("total")
        r["picture_s"] = report["timings"].get("picture")
    shutil.rmtree(out, ignore_errors=True)
    return r


def summarize(rows: list[dict]) -> dict:
    import statistics

    out = {}
    for tool in TOOLS:
        ok = [r[tool] for r in rows if r[tool]["rc"] == 0]
        if not ok:
            out[tool] = {"n_ok": 0}
            continue
        wall = [r["wall_s"] for r in ok]
        cpu = [r["cpu_s"] for r in ok]
        out[tool] = {"n_ok": len(ok), "n_failed": len(rows) - len(ok),
                     "wall_median_s": statistics.median(wall), "wall_mean_s": statistics.fmean(wall),
                     "cpu_median_s": statistics.median(cpu), "cpu_mean_s": statistics.fmean(cpu)}
        if tool == "shapecorr":
            pics = [r["picture_s"] for r in ok if r.get("picture_s") is not None]
            out[tool]["picture_median_s"] = statistics.median(pics) if pics else None
            out[tool]["match_median_s"] = statistics.median([r["match_s"] for r in ok])
    a, b = out["shapecorr"], out["pyfmaps"]
    if a.get("n_ok") and b.get("n_ok"):
        out["ratio_wall_median"] = a["wall_median_s"] / b["wall_median_s"]
        out["ratio_wall_mean"] = a["wall_mean_s"] / b["wall_mean_s"]
        out["ratio_cpu_median"] = a["cpu_median_s"] / b["cpu_median_s"]
    return out


def machine() -> dict:
    """The machine and versions, as the accuracy benchmark records them."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_match import machine_info

    return machine_info("cpu")


def markdown(result: dict) -> str:
    s = result["summary"]
    a, b = s["shapecorr"], s["pyfmaps"]

    def f(x):
        return "n/a" if x is None else f"{x:.2f}"

    lines = ["# Whole CLI process: `shapecorr match` vs a pyfmaps script", "",
             f"Command: `{result['command']}`", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores), Python "
             f"{result['machine']['python']}, shapecorr {result['machine']['shapecorr']} "
             f"(commit {result['machine']['git_commit']}), pyfmaps {result['machine']['pyfmaps']}. "
             f"Load average before / after: {result['load_before']} / {result['load_after']}.", "",
             f"{result['n_pairs']} pairs of `{result['dataset']}`, run alternately (A B A B); shapecorr with a "
             "fresh empty cache per run and `correspondence.png` included; pyfmaps with its README quickstart "
             "settings. Times are whole processes (start-up, imports, loading, matching, writing).", "",
             "| | shapecorr match | pyfmaps script | ratio |", "|---|---|---|---|",
             f"| wall median | {f(a.get('wall_median_s'))} s | {f(b.get('wall_median_s'))} s | "
             f"**{f(s.get('ratio_wall_median'))}** |",
             f"| wall mean | {f(a.get('wall_mean_s'))} s | {f(b.get('wall_mean_s'))} s | {f(s.get('ratio_wall_mean'))} |",
             f"| CPU median (user+sys) | {f(a.get('cpu_median_s'))} s | {f(b.get('cpu_median_s'))} s | "
             f"{f(s.get('ratio_cpu_median'))} |",
             f"| failed runs | {a.get('n_failed', 0)} | {b.get('n_failed', 0)} | |", "",
             f"shapecorr's own timings (median): match {f(a.get('match_median_s'))} s, picture "
             f"{f(a.get('picture_median_s'))} s.", "",
             "| pair | shapecorr wall | pyfmaps wall | shapecorr confidence |", "|---|---|---|---|"]
    for r in result["pairs"]:
        lines.append(f"| {r['source']} -> {r['target']} | {f(r['shapecorr']['wall_s'])} s | "
                     f"{f(r['pyfmaps']['wall_s'])} s | {f(r['shapecorr'].get('confidence'))} |")
    if result.get("note"):
        lines += ["", result["note"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--pyfmaps-child":
        return pyfmaps_child(*argv[1:4])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATASET,
                    help="folder of NAME.off shapes with a test split (default: FAUST_r vtx_5k)")
    ap.add_argument("--pairs", type=int, default=10, help="number of pairs (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed of the test pairs (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "cli_cpu", help="output folder")
    ap.add_argument("--note", default="", help="a line added to the report (e.g. how busy the machine was)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from shapecorr.eval import Dataset

    ds = Dataset(args.dataset)
    pairs = ds.test_split()
    random.Random(args.seed).shuffle(pairs)
    pairs = pairs[: args.pairs]
    compiled = ensure_bytecode()
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        for i, (a, b) in enumerate(pairs, 1):
            src, tgt = ds.shape_path(a), ds.shape_path(b)
            row = {"source": a, "target": b}
            for tool in TOOLS:  # A B A B ...
                row[tool] = run_pair(src, tgt, tool, work)
            rows.append(row)
            print(f"[{i}/{len(pairs)}] {a} -> {b}: shapecorr {row['shapecorr']['wall_s']:.2f}s "
                  f"(rc {row['shapecorr']['rc']}), pyfmaps {row['pyfmaps']['wall_s']:.2f}s "
                  f"(rc {row['pyfmaps']['rc']})", file=sys.stderr, flush=True)
    result = {"command": " ".join(["python", "scripts/bench_cli.py"] + list(argv)), "dataset": str(args.dataset),
              "n_pairs": len(rows), "seed": args.seed, "machine": machine(), "load_before": load_before,
              "bytecode_compiled": compiled, "load_after": [round(x, 2) for x in os.getloadavg()], "note": args.note,
              "summary": summarize(rows), "pairs": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_cli.json").write_text(json.dumps(result, indent=1))
    (args.out / "README.md").write_text(markdown(result))
    s = result["summary"]
    print(f"median wall: shapecorr {s['shapecorr'].get('wall_median_s')} s, pyfmaps {s['pyfmaps'].get('wall_median_s')} s, "
          f"ratio {s.get('ratio_wall_median')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
