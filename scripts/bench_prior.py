#!/usr/bin/env python
"""Does refining the initial functional map toward the learned prior help ZoomOut?

For each pair: the pipeline's axiomatic initial 30 x 30 map (``axiomatic`` preset, first
candidate: shapecorr.pipeline.axiomatic_initial_map), then the pipeline's refinement
(shapecorr.pipeline.refine: ZoomOut to 100 x 100 on 2000 samples + full-resolution steps) either
directly ("zoomout") or after shapecorr.learn.prior.refine_toward_prior ("prior"; noise level
estimated per map, 6 Heun steps, the input's signs). Same eigenbases, samples and everything
else. Measured: geodesic error x100 of p2p_21 on the source, symmetry flips (more than 5 % of
points nearer the mirrored truth), and how far the 30 x 30 map is from the ground-truth map
before and after the prior, with signs (||C - C_gt||) and without (|| |C| - |C_gt| ||).

Sets: FAUST_r test (all 190 pairs of tr_reg_080..099, never trained on) and TOSCA_r held-out
classes (every within-class pair of centaur, dog, wolf: 54). ``--limit N`` takes N pairs of each
set (a seeded shuffle, then grouped by source so geodesics are reused).

    python scripts/bench_prior.py ../shared/data --out docs/bench/prior_cpu
    python scripts/bench_prior.py ../shared/data --out docs/bench/prior_cpu --limit 40

    python scripts/bench_prior.py ../shared/data --out docs/bench/prior_cpu --baseline-only  # no prior needed

Zero-shot and the prior as the regularizer (``--zeroshot``): the ``zeroshot`` preset (a random
feature network trained on each pair, shapecorr.learn.prior.zeroshot) with the learned prior as
its regularizers (``zs_prior``: the map layer's distilled mask and the score-distillation
penalty) against the same with the axiomatic ones (``zs_axiomatic``: resolvent mask,
orthogonality, Laplacian commutativity): same network, seed, steps, everything else, and no
axiomatic fallback (``use_fallback=False``), so only the regularizer differs. On TOSCA_r animals
also ``zs_prior_humans`` (the prior trained on humans only). ``fallback_axiomatic`` (the
axiomatic candidates with the fallback's solve settings, cheap) gives the preset's own result,
``preset`` in the report: the zero-shot map when the confidence trusts it, else the more trusted
of the two, as the pipeline's fallback chooses. Sets as in scripts/bench_generalize.py
(``faust``, ``tosca``, ``remeshed``, ``pc``), pairs in its seeded order, ``--zs-limit SET=N``
(for ``tosca``: N pairs per class). Rows in OUT/zeroshot/rows_*.jsonl (resumable; runs on
disjoint sets may share OUT), summary in OUT/zeroshot/results.md and results.json:

    OMP_NUM_THREADS=1 nice -n 5 python scripts/bench_prior.py ../shared/data --out docs/bench/prior_cpu \
        --zeroshot --zs-sets faust,pc --zs-limit faust=8 --zs-limit pc=4
    python scripts/bench_prior.py ../shared/data --out docs/bench/prior_cpu --zeroshot --report-only

Those variants leave the orientation term out (``zeroshot_orient=0``: the regularizer comparison as it
was first measured). ``zs_orient``: the preset's zero-shot map as shipped (the prior and, on two
meshes, the orientation-preserving term), no fallback; ``preset_run``: the ``zeroshot`` preset as
shipped, end to end (its own fallback and choice; its CPU time is the preset's). ``--zs-split tune``
(FAUST_r 070-079, TOSCA_r animal pairs of even-numbered shapes; OUT/zeroshot_tune) and ``--zs-split
test`` (FAUST_r 080-099, TOSCA_r animal pairs of odd-numbered shapes; OUT/zeroshot_test) keep the
pairs the settings were chosen on apart from those they are reported on:

    OMP_NUM_THREADS=1 nice -n 5 python scripts/bench_prior.py ../shared/data --out docs/bench/prior_cpu \
        --zeroshot --zs-split test --zs-sets faust --zs-limit faust=20 --zs-variants preset_run

Resumable: pairs already in OUT/pairs.csv are not run again, and each pair's baseline (initial
map, ground-truth map, ZoomOut's measures) is cached in OUT/cache (--cache: share it between runs
with other priors). Writes OUT/pairs.csv,
OUT/results.json, OUT/results.md and OUT/scatter.png (error with vs without the prior), and
OUT/example_maps.png (|C| of one pair: initial, refined, ground truth).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from shapecorr.core import ShapecorrWarning
from shapecorr.eval import Dataset, PairEvaluator, all_pairs

TOSCA_HELD_OUT = ("centaur", "dog", "wolf")
FIELDS = ("set", "group", "source", "target", "variant", "error", "flipped", "fmap_err", "fmap_abs_err", "sigma",
          "seconds")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pair_sets(data: Path, limit: int | None, seed: int) -> list[tuple[str, Dataset, list]]:
    faust = Dataset(data / "FAUST_r" / "vtx_5k")
    tosca = Dataset(data / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k")
    tosca_pairs = []
    for c in TOSCA_HELD_OUT:
        names = sorted((n for n in tosca.names if re.sub(r"\d+$", "", n) == c), key=lambda n: int(n[len(c):]))
        tosca_pairs += all_pairs(names)
    out = []
    for name, ds, pairs in (("faust_test", faust, faust.test_split()), ("tosca_held_out", tosca, tosca_pairs)):
        pairs = list(pairs)
        random.Random(seed).shuffle(pairs)
        if limit:
            pairs = pairs[:limit]
        out.append((name, ds, sorted(pairs)))
    return out


class PairRunner:
    """The pipeline's steps for one pair, with and without the prior between init and ZoomOut.

    The baseline (initial map, ZoomOut, its measures) is cached per pair in ``cache`` (it does not
    depend on the prior), so runs with other priors or settings only redo the prior's part."""

    def __init__(self, prior, steps: int, scale: float, cache: Path):
        from shapecorr.pipeline import load_preset

        self.s = load_preset("axiomatic")
        self.prior, self.steps, self.scale = prior, steps, scale
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)

    def _context(self, ev: PairEvaluator, a: str, b: str) -> dict:
        from shapecorr.fmap.refine import farthest_point_sampling_spectral
        from shapecorr.pipeline import plan_pair, prepare_pair

        s = self.s
        src, tgt = ev.shape(a), ev.shape(b)
        plan = plan_pair(src.n_vertices, tgt.n_vertices, s)
        P1, P2 = prepare_pair(src, tgt, s, plan)
        samples = None
        if plan.n_samples is not None:
            samples = tuple(farthest_point_sampling_spectral(P.evecs, plan.n_samples, seed=s.seed) for P in (P1, P2))
        subset = None
        if plan.refine_subset is not None:
            subset = np.sort(np.random.default_rng(s.seed).choice(P2.shape.n_vertices, plan.refine_subset,
                                                                  replace=False))
        return {"P1": P1, "P2": P2, "plan": plan, "samples": samples, "subset": subset}

    def _measure(self, ctx: dict, ev: PairEvaluator, a: str, b: str, C: np.ndarray, gt: np.ndarray) -> dict:
        from shapecorr.pipeline import refine

        k = gt.shape[0]
        t0 = time.perf_counter()
        _, p2p_21, p2p_12 = refine(C, ctx["P1"], ctx["P2"], self.s, ctx["plan"], samples=ctx["samples"],
                                   refine_subset=ctx["subset"])
        secs = time.perf_counter() - t0
        r, _ = ev.evaluate(a, b, p2p_21, p2p_12)
        return {"source": a, "target": b, "error": r["mean_error_x100"], "flipped": bool(r.get("flipped") or False),
                "fmap_err": float(np.linalg.norm(C[:k, :k] - gt)),
                "fmap_abs_err": float(np.linalg.norm(np.abs(C[:k, :k]) - np.abs(gt))), "seconds": round(secs, 3)}

    def baseline(self, ds: Dataset, ev: PairEvaluator, set_name: str, a: str, b: str, ctx=None) -> tuple:
        """``(C0, gt, row)``: the axiomatic initial map, the ground-truth map and ZoomOut's measures (cached)."""
        path = self.cache / f"{set_name}__{a}__{b}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                return z["C0"], z["gt"], json.loads(str(z["row"]))
        from shapecorr.learn.prior import fmap_from_correspondence
        from shapecorr.pipeline import (
            AxiomaticOperators,
            axiomatic_initial_map,
            axiomatic_inits,
        )

        ctx = ctx or self._context(ev, a, b)
        ops = AxiomaticOperators(ctx["P1"], ctx["P2"], self.s.solve)
        k, mult = axiomatic_inits(self.s.solve, ctx["plan"].k_init, ops.use_orient, ctx["plan"].k_basis)[0]
        C0 = axiomatic_initial_map(ops, k, mult)
        gt = fmap_from_correspondence(ctx["P1"].evecs, ctx["P2"].evecs, ds.gt(a), ds.gt(b), k)
        row = dict(self._measure(ctx, ev, a, b, C0, gt), variant="zoomout", sigma=0.0)
        np.savez(path, C0=C0, gt=gt, row=np.array(json.dumps(row)))
        return C0, gt, row

    def run(self, ds: Dataset, ev: PairEvaluator, set_name: str, a: str, b: str,
            variants: list[str]) -> tuple[list[dict], dict]:
        """The baseline and each variant: ``prior`` (refine_toward_prior), ``prior_scaled`` (the
        same after scaling C0 to an orthogonal map's norm) and ``scaled`` (only that scaling: the
        control for ``prior_scaled``)."""
        from shapecorr.learn.prior.guidance import scaled_to_orthogonal

        ctx = self._context(ev, a, b)
        C0, gt, base = self.baseline(ds, ev, set_name, a, b, ctx)
        rows, maps = [base], {"C0": C0, "gt": gt}
        for variant in variants:
            t0 = time.perf_counter()
            C_in = C0 if variant == "prior" else scaled_to_orthogonal(C0, gt.shape[0])
            sigma = 0.0
            C1 = C_in
            if variant.startswith("prior"):
                sigma = self.prior.estimate_noise_level(C_in) * self.scale
                C1 = self.prior.refine(C_in, sigma=sigma, steps=self.steps)
            t_prior = time.perf_counter() - t0
            row = self._measure(ctx, ev, a, b, C1, gt)
            row.update(variant=variant, sigma=sigma, seconds=round(row["seconds"] + t_prior, 3))
            rows.append(row)
            maps.setdefault("C1", C1)
        return rows, maps


def read_done(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for key in ("error", "fmap_err", "fmap_abs_err", "sigma", "seconds"):
            r[key] = float(r[key])
        r["flipped"] = r["flipped"] == "True"
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per set (and TOSCA class) and variant: means over the pairs that have both the baseline
    and that variant."""
    out = {}
    variants = sorted({r["variant"] for r in rows} - {"zoomout"})
    keys = sorted({(r["set"], r["group"]) for r in rows} | {(r["set"], "all") for r in rows})
    for set_name, group in keys:
        sel = [r for r in rows if r["set"] == set_name and (group == "all" or r["group"] == group)]
        for v in variants:
            by = {u: {(r["source"], r["target"]): r for r in sel if r["variant"] == u} for u in ("zoomout", v)}
            common = sorted(set(by["zoomout"]) & set(by[v]))
            if not common:
                continue
            entry = {"pairs": len(common)}
            for u in ("zoomout", v):
                rs = [by[u][p] for p in common]
                entry["zoomout" if u == "zoomout" else "variant"] = {
                    "mean_error": float(np.mean([r["error"] for r in rs])),
                    "median_error": float(np.median([r["error"] for r in rs])),
                    "flip_rate": float(np.mean([r["flipped"] for r in rs])),
                    "fmap_err": float(np.mean([r["fmap_err"] for r in rs])),
                    "fmap_abs_err": float(np.mean([r["fmap_abs_err"] for r in rs]))}
            diff = np.array([by[v][p]["error"] - by["zoomout"][p]["error"] for p in common])
            entry["better"] = int((diff < -0.05).sum())
            entry["worse"] = int((diff > 0.05).sum())
            entry["mean_sigma"] = float(np.mean([by[v][p]["sigma"] for p in common]))
            out[f"{set_name}/{group}/{v}"] = entry
    return out


def write_report(out: Path, rows: list[dict], meta: dict) -> dict:
    summary = summarize(rows)
    (out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary}, indent=1))
    lines = [("| set / variant | pairs | ZoomOut from C0: mean (median) error, flips | variant then ZoomOut: mean "
              "(median), flips | better / worse pairs | 30x30 error to the truth, C0 -> variant (signed; abs) |"),
             "|---|---|---|---|---|---|"]
    for key, e in summary.items():
        z, p = e["zoomout"], e["variant"]
        lines.append(f"| {key} | {e['pairs']} | {z['mean_error']:.2f} ({z['median_error']:.2f}), "
                     f"{100 * z['flip_rate']:.0f} % | {p['mean_error']:.2f} ({p['median_error']:.2f}), "
                     f"{100 * p['flip_rate']:.0f} % | {e['better']} / {e['worse']} | "
                     f"{z['fmap_err']:.2f} -> {p['fmap_err']:.2f}; {z['fmap_abs_err']:.2f} -> {p['fmap_abs_err']:.2f} |")
    (out / "results.md").write_text("\n".join([f"Command: `{meta['command']}`", "", *lines, ""]))
    scatter(out / "scatter.png", rows)
    return summary


def scatter(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    for set_name, marker in (("faust_test", "o"), ("tosca_held_out", "^")):
        by = {v: {(r["source"], r["target"]): r["error"] for r in rows if r["set"] == set_name and r["variant"] == v}
              for v in ("zoomout", "prior")}
        common = sorted(set(by["zoomout"]) & set(by["prior"]))
        if common:
            ax.scatter([by["zoomout"][p] for p in common], [by["prior"][p] for p in common], marker=marker, s=14,
                       alpha=0.7, label=f"{set_name} ({len(common)})")
    lim = max([r["error"] for r in rows] + [1.0]) * 1.05
    ax.plot([0, lim], [0, lim], "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ZoomOut from the axiomatic initial map (error x100)")
    ax.set_ylabel("prior refinement, then ZoomOut (error x100)")
    ax.set_title("below the diagonal: the prior helped")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def example_picture(path: Path, maps: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3), dpi=110)
    for ax, (name, C) in zip(axes, (("axiomatic initial |C|", maps["C0"]), ("refined toward the prior", maps["C1"]),
                                    ("ground truth |C|", maps["gt"]))):
        im = ax.imshow(np.abs(C[:30, :30]), cmap="magma", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- zero-shot
ZS_VARIANTS = {  # variant -> match overrides (preset "zeroshot" unless said)
    # the regularizer comparison: no orientation term, no fallback (only the regularizer differs)
    "zs_prior": {"zeroshot_regularizer": "prior", "zeroshot_orient": 0.0, "use_fallback": False},
    "zs_axiomatic": {"zeroshot_regularizer": "axiomatic", "zeroshot_orient": 0.0, "use_fallback": False},
    "zs_prior_humans": {"zeroshot_regularizer": "prior", "zeroshot_prior": "prior_k30_humans", "zeroshot_orient": 0.0,
                        "use_fallback": False},
    "fallback_axiomatic": {"preset": "axiomatic"},  # + the fallback's solve settings (see zs_overrides)
    # the preset's zero-shot map as shipped (the prior and the orientation term), no fallback
    "zs_orient": {"use_fallback": False},
    # the zeroshot preset as shipped, end to end (its own fallback and choice; its time is the preset's)
    "preset_run": {},
}
#: the pairs of --zs-split: FAUST_r shapes and the parity of the TOSCA_r animals' shape numbers
ZS_SPLITS = {"tune": (range(70, 80), 0), "test": (range(80, 100), 1)}
ANIMALS = ("cat", "centaur", "dog", "horse", "wolf")


def zs_overrides(variant: str) -> tuple[str, dict]:
    from shapecorr.config import load_preset

    kw = dict(ZS_VARIANTS[variant])
    preset = kw.pop("preset", "zeroshot")
    if variant == "fallback_axiomatic":
        kw.update(dict(load_preset("zeroshot").fallback.fallback_solve))
    return preset, kw


def zs_variants_for(bs, a: str, variants: list[str]) -> list[str]:
    out = []
    for v in variants:
        if v == "zs_prior_humans" and not (bs.name == "tosca" and bs.klass(a) in ANIMALS):
            continue
        if v == "fallback_axiomatic" and bs.kind != "mesh":
            continue  # the pipeline's fallback runs on two meshes only
        out.append(v)
    return out


def zs_dir(args) -> Path:
    """Rows and report of --zeroshot: OUT/zeroshot (split "all"), OUT/zeroshot_tune, OUT/zeroshot_test."""
    name = "zeroshot" if args.zs_split == "all" else f"zeroshot_{args.zs_split}"
    return Path(args.out) / (f"{name}_{args.zs_label}" if args.zs_label else name)


def shape_number(name: str) -> int:
    return int(re.search(r"(\d+)$", name).group(1))


def split_sets(data: Path, split: str, sets: list[str], limits: dict, seed: int = 0) -> list:
    """The sets of ``--zs-split tune|test``: FAUST_r pairs among tr_reg_070..079 (tune) or 080..099
    (test), TOSCA_r within-class animal pairs of even-numbered (tune) or odd-numbered (test)
    shapes; each in a seeded order, the first ``limits[set]`` (all when not given)."""
    import bench_generalize as bg

    from shapecorr.eval import read_pairs

    numbers, parity = ZS_SPLITS[split]
    out = []
    for name in sets:
        if name == "faust":
            ds = Dataset(data / "FAUST_r" / "vtx_5k")
            pairs = all_pairs([f"tr_reg_{i:03d}" for i in numbers])
        elif name == "tosca":
            ds = Dataset(data / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k")
            pairs = [(a, b) for a, b in read_pairs(data / "TOSCA_r" / "TOSCA_Isometric" / "test_pairs.txt")
                     if re.sub(r"\d+$", "", a) in ANIMALS and shape_number(a) % 2 == parity
                     and shape_number(b) % 2 == parity]
        else:
            raise SystemExit(f"--zs-split {split}: only the sets faust and tosca, not {name!r}.")
        bs = bg.BenchSet(name, ds, bg._seeded_order(pairs, seed)[:limits.get(name)])
        order = {a: i for i, a in enumerate(dict.fromkeys(a for a, _ in bs.pairs))}  # grouped by source
        bs.pairs.sort(key=lambda p: order[p[0]])
        out.append(bs)
    return out


def zs_run(args) -> None:
    import bench_generalize as bg

    from shapecorr import match
    from shapecorr.core import LowConfidenceWarning
    from shapecorr.eval import PairEvaluator

    out = zs_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    sets_args = argparse.Namespace(data=Path(args.data), exclude_shapes=None, sets=args.zs_sets.split(","),
                                   set_limits=dict(args.zs_limit), limit=None, seed=0,
                                   tosca_classes=args.zs_tosca_classes.split(",") if args.zs_tosca_classes else None,
                                   remeshed=Path(args.remeshed), remeshed_points=300, work=out)
    if args.zs_split == "all":
        sets = bg.build_sets(sets_args)
    else:
        sets = split_sets(Path(args.data), args.zs_split, sets_args.sets, sets_args.set_limits)
    shard, shards = args.zs_shard
    rows_path = out / f"rows_{'_'.join(sorted(sets_args.sets))}{f'_shard{shard}of{shards}' if shards > 1 else ''}.jsonl"
    for bs in sets:  # --zs-shard I/N: this process runs every N-th pair of each set, from the I-th
        bs.pairs = bs.pairs[shard::shards][::-1 if args.zs_from_end else 1]
    if args.zs_from_end:  # a second process on the same shard, from its last pair, in rows of its own
        rows_path = rows_path.with_name(rows_path.stem + "_from_end.jsonl")
    variants = args.zs_variants.split(",")
    if args.zs_reuse_trusted:
        reuse_trusted(Path(args.zs_reuse_trusted), out, rows_path, sets)
    done = {(r["set"], r["source"], r["target"], r["variant"]) for r in zs_rows(out)}
    total = sum(len(bs.pairs) for bs in sets)
    i = 0
    for bs in sets:
        ev = PairEvaluator(bs.ds, points=bs.points, dense_max=bs.dense_max)
        for a, b in bs.pairs:
            i += 1
            if args.zs_from_end:  # the process from the start may have got here first
                done = {(r["set"], r["source"], r["target"], r["variant"]) for r in zs_rows(out)}
            for v in zs_variants_for(bs, a, variants):
                if (bs.name, a, b, v) in done:
                    continue
                preset, kw = zs_overrides(v)
                kw.update(dict(args.zs_set))
                kw["feature_threads"] = args.zs_threads
                s1, s2 = bg.as_input(ev.shape(a), bs.kind), bg.as_input(ev.shape(b), bs.kind)
                t0, c0 = time.perf_counter(), time.process_time()
                last = [0.0]

                def progress(stage, frac, t0=t0, last=last):
                    now = time.perf_counter()
                    if stage.startswith("zero-shot step") and now - last[0] > 20:
                        last[0] = now
                        log(f"    {stage} ({now - t0:.0f}s)")

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", LowConfidenceWarning)
                    m = match(s1, s2, preset, progress=progress, **kw)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                r, _ = ev.evaluate(a, b, m.p2p_21, m.p2p_12)
                row = {"set": bs.name, "class": bs.klass(a), "source": a, "target": b, "variant": v,
                       "error": round(r["mean_error_x100"], 4), "flipped": bool(r.get("flipped") or False),
                       "confidence": m.info["confidence"], "threshold": m.info["confidence_threshold"],
                       "n_vertices": [int(ev.shape(a).n_vertices), int(ev.shape(b).n_vertices)],
                       "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                       "zeroshot_s": m.timings.get("zeroshot"), "kind": bs.kind, "init": m.info["init"],
                       "candidates": [[c["init"], c["confidence"], c["k_init"], c["w_orient_multiplier"]]
                                      for c in m.info["candidates"]]}
                with open(rows_path, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                log(f"[{i}/{total}] {bs.name} {a} -> {b} {v}: {row['error']:.2f}{' FLIP' if row['flipped'] else ''} "
                    f"conf {row['confidence']:.2f} ({wall:.0f}s wall, {cpu:.0f}s cpu)")


def reuse_trusted(base: Path, out: Path, rows_path: Path, sets: list) -> None:
    """Copy into ``rows_path`` the ``preset_run`` rows of ``base`` (a run without zero-shot
    retries, the same code otherwise) where no retry would start: a retry starts only while the
    map the match would return is below the confidence's threshold (here: not at least 1e-3 above
    it, the rows' rounding), and the rest is the same (seeded, one thread), so those pairs'
    results cannot change; the others run again."""
    wanted = {(bs.name, a, b) for bs in sets for a, b in bs.pairs}
    have = {(r["set"], r["source"], r["target"], r["variant"]) for r in zs_rows(out)}
    with open(rows_path, "a") as fh:
        for r in zs_rows(base):
            key = (r["set"], r["source"], r["target"])
            if (r["variant"] == "preset_run" and key in wanted and (*key, "preset_run") not in have
                    and r["confidence"] >= r["threshold"] + 1e-3):
                fh.write(json.dumps({**r, "reused_from": str(base)}) + "\n")


def zs_rows(out: Path) -> list[dict]:
    """The rows of ``out``, one per (set, source, target, variant): the first found (two processes
    on one shard, from both ends, may both have run the pair where they met; the same code and seed)."""
    rows, seen = [], set()
    for path in sorted(out.glob("rows_*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                key = (r["set"], r["source"], r["target"], r["variant"])
                if key not in seen:
                    seen.add(key)
                    rows.append(r)
    return rows


def preset_choice(zs: dict, fb: dict | None, below: float | None = None) -> dict:
    """The ``zeroshot`` preset's pick: the zero-shot map if its confidence is not below
    ``below`` (the preset's ``fallback_below``; None: the confidence's threshold), else the more
    trusted of it and the axiomatic fallback's."""
    if fb is None or zs["confidence"] >= (zs["threshold"] if below is None else below):
        return zs
    return max((zs, fb), key=lambda r: r["confidence"])


def zs_summary(rows: list[dict], variants: list[str] | None = None) -> dict:
    """Per set and group, each variant's mean (median) error, flips, pairs above 5 and times, on
    the pairs where every variant of ``variants`` that applies has run (pairs in flight are left
    out; None: the legacy comparison's zs_prior, zs_axiomatic, fallback_axiomatic, zs_prior_humans)."""
    from shapecorr.config import load_preset

    below = load_preset("zeroshot").fallback.fallback_below
    by = {(r["set"], r["source"], r["target"], r["variant"]): r for r in rows}
    kinds = {(r["set"], r["source"], r["target"]): r.get("kind", "mesh") for r in rows}
    variants = variants or ["zs_prior", "zs_axiomatic", "fallback_axiomatic", "zs_prior_humans"]
    ran = {(r["set"], r["variant"]) for r in rows}  # a variant not run on a set at all is not waited for

    def complete(set_name, klass, a, b):
        need = [v for v in variants if (set_name, v) in ran and not (v == "fallback_axiomatic" and kinds[(set_name, a, b)] != "mesh")
                and not (v == "zs_prior_humans" and not (set_name == "tosca" and klass in ANIMALS))]
        return all((set_name, a, b, v) in by for v in need)

    pairs = sorted(p for p in {(r["set"], r["class"], r["source"], r["target"]) for r in rows} if complete(*p))
    groups: dict[tuple, list] = {}
    for set_name, klass, a, b in pairs:
        for g in ((set_name, "all"), (set_name, klass)) if set_name == "tosca" else ((set_name, "all"),):
            groups.setdefault(g, []).append((a, b))
        if set_name == "tosca" and klass in ANIMALS:
            groups.setdefault((set_name, "animals"), []).append((a, b))
    out = {}
    for (set_name, group), prs in groups.items():
        entry = {}
        cols = {v: [by.get((set_name, a, b, v)) for a, b in prs] for v in ZS_VARIANTS}
        zp = cols["zs_prior"]
        if any(z is not None for z in zp):  # the legacy preset (no orientation term), from its parts
            cols["preset"] = [None if z is None else preset_choice(z, f, below) for z, f in zip(zp, cols["fallback_axiomatic"])]
            cols["untrusted_only"] = [None if z is None else preset_choice(z, f) for z, f in zip(zp, cols["fallback_axiomatic"])]
        for v, rs in cols.items():
            rs = [r for r in rs if r is not None]
            if rs:
                entry[v] = {"pairs": len(rs), "mean": float(np.mean([r["error"] for r in rs])),
                            "median": float(np.median([r["error"] for r in rs])),
                            "flips": int(sum(r["flipped"] for r in rs)),
                            "above5": int(sum(r["error"] > 5 for r in rs)),
                            "wall_s": float(np.mean([r["wall_s"] for r in rs])),
                            "cpu_s": float(np.mean([r["cpu_s"] for r in rs])),
                            "cpu_s_max": float(np.max([r["cpu_s"] for r in rs]))}
        both = [(p, x) for p, x in zip(cols["zs_prior"], cols["zs_axiomatic"]) if p is not None and x is not None]
        entry["prior_vs_axiomatic"] = {"pairs": len(both), "prior_better": sum(p["error"] < x["error"] - 0.05 for p, x in both),
                                       "prior_worse": sum(p["error"] > x["error"] + 0.05 for p, x in both)}
        hb = [(p, h) for p, h in zip(cols["zs_prior"], cols["zs_prior_humans"]) if p is not None and h is not None]
        if hb:
            entry["humans_vs_full_prior_pairs"] = len(hb)
        out[f"{set_name}/{group}"] = entry
    return out


def zs_report(args) -> dict:
    out = zs_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    rows = zs_rows(out)
    variants = args.zs_variants.split(",") if args.zs_split != "all" else None
    summary = zs_summary(rows, variants)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    cols = [c for c in ("zs_axiomatic", "zs_prior", "zs_prior_humans", "fallback_axiomatic", "untrusted_only", "preset",
                        "zs_orient", "preset_run") if any(c in e for e in summary.values())]
    timing = ("preset_run", "zs_orient", "zs_prior")  # the first of these in a row gives its CPU time
    versus = any(e.get("prior_vs_axiomatic", {}).get("pairs") for e in summary.values())
    lines = ["| set / group | " + " | ".join(cols) + (" | prior better / worse than axiomatic" if versus else "")
             + " | CPU s per pair (mean / max; of the first of " + ", ".join(timing) + ") |", "|---" * (len(cols) + 2 + versus) + "|"]
    for key in sorted(summary):
        e = summary[key]

        def cell(v, e=e):
            if v not in e:
                return "–"
            return f"{e[v]['mean']:.2f} ({e[v]['median']:.2f}), {e[v]['flips']} flip, {e[v]['above5']} >5 [{e[v]['pairs']}]"
        pva = e.get("prior_vs_axiomatic", {"prior_better": 0, "prior_worse": 0, "pairs": 0})
        timed = next((v for v in timing if v in e), None)
        cpu = f"{e[timed]['cpu_s']:.0f} / {e[timed]['cpu_s_max']:.0f} ({timed})" if timed else "–"
        lines.append(f"| {key} | " + " | ".join(cell(v) for v in cols) +
                     (f" | {pva['prior_better']} / {pva['prior_worse']} of {pva['pairs']}" if versus else "") + f" | {cpu} |")
    head = ("mean (median) error x100, symmetry flips, pairs above 5 [pairs]; `preset`: the legacy zeroshot preset "
            "from its parts (zs_prior, no orientation term; on two meshes the axiomatic fallback runs unless the "
            "zero-shot map's confidence is 1, the more trusted map is kept); `untrusted_only`: the fallback only below "
            "the confidence's threshold (as the default preset); `zs_orient`: the zero-shot map with the orientation "
            "term, no fallback; `preset_run`: the zeroshot preset as shipped, run end to end")
    text = [head, "", *lines, ""]
    (out / "results.md").write_text("\n".join(text))
    log("\n".join(text))
    if any(r["variant"] == "zs_axiomatic" for r in rows):
        zs_scatter(out / "scatter.png", rows)
    return summary


def zs_scatter(path: Path, rows: list[dict]) -> None:
    """Per pair: zero-shot error with the axiomatic regularizers (x) against the prior (y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r["set"], r["source"], r["target"], r["variant"]): r["error"] for r in rows}
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    for set_name, marker in (("faust", "o"), ("tosca", "^"), ("remeshed", "s"), ("pc", "D")):
        keys = sorted({(s, a, b) for s, a, b, _ in by if s == set_name})
        pts = [(by[(*k, "zs_axiomatic")], by[(*k, "zs_prior")]) for k in keys
               if (*k, "zs_axiomatic") in by and (*k, "zs_prior") in by]
        if pts:
            ax.scatter(*zip(*pts), marker=marker, s=22, alpha=0.75, label=f"{set_name} ({len(pts)})")
    lim = max([*by.values(), 1.0]) * 1.1
    ax.plot([0.5, lim], [0.5, lim], "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("zero-shot, axiomatic regularizers (error x100)")
    ax.set_ylabel("zero-shot, learned prior (error x100)")
    ax.set_title("below the diagonal: the prior is better", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="folder holding FAUST_r/ and TOSCA_r/ (e.g. ../shared/data)")
    ap.add_argument("--out", required=True, help="output folder (resumed if it holds pairs.csv)")
    ap.add_argument("--prior", default=None, help="bundled prior name or .pt file (default: the bundled prior)")
    ap.add_argument("--limit", type=int, help="pairs per set (a seeded shuffle)")
    ap.add_argument("--sets", default="faust_test,tosca_held_out", help="which sets (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=6, help="ODE steps of the refinement (default: %(default)s)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the estimated noise level (default: 1)")
    ap.add_argument("--variants", default="prior",
                    help="comma-separated: prior, prior_scaled (C0 first scaled to an orthogonal map's norm), "
                         "scaled (only that scaling, the control); default: %(default)s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", help="folder of the per-pair baseline cache (default: OUT/cache)")
    ap.add_argument("--baseline-only", action="store_true",
                    help="only compute and cache the baselines (initial map + ZoomOut), no prior needed")
    ap.add_argument("--zeroshot", action="store_true", help="the zero-shot / regularizer comparison (docstring)")
    ap.add_argument("--zs-sets", default="faust,tosca,remeshed,pc", help="sets of --zeroshot (default: %(default)s)")
    ap.add_argument("--zs-limit", action="append", default=[], type=lambda t: (t.split("=")[0], int(t.split("=")[1])),
                    help="SET=N pairs of a set (tosca: per class); repeatable")
    ap.add_argument("--zs-threads", type=int, default=1,
                    help="torch threads of the zero-shot network (default 1: on a loaded machine two threads wait "
                         "on each other; on an idle one use 2)")
    ap.add_argument("--zs-tosca-classes", help="comma-separated TOSCA_r classes of --zeroshot (default: all)")
    ap.add_argument("--zs-variants", default=",".join(ZS_VARIANTS), help="default: %(default)s")
    ap.add_argument("--remeshed", default=str(ROOT / "out" / "generalize" / "faust_r_remeshed"),
                    help="the remeshed FAUST_r set (scripts/remesh_dataset.py; made if missing)")
    ap.add_argument("--report-only", action="store_true", help="with --zeroshot: only write the report")
    ap.add_argument("--zs-split", choices=("all", *ZS_SPLITS), default="all",
                    help="with --zeroshot: 'all' (the sets' test pairs as in bench_generalize, OUT/zeroshot), "
                         "'tune' (FAUST_r 070-079, TOSCA_r animal pairs of even-numbered shapes, OUT/zeroshot_tune) "
                         "or 'test' (FAUST_r 080-099, TOSCA_r animal pairs of odd-numbered shapes, OUT/zeroshot_test); "
                         "--zs-limit SET=N then counts pairs of the whole set (default: all)")
    ap.add_argument("--zs-set", action="append", default=[], type=lambda t: (t.split("=", 1)[0], json.loads(t.split("=", 1)[1])),
                    help="KEY=JSON: a match setting for every variant (e.g. zeroshot_orient=1.0); repeatable; use "
                         "with --zs-label")
    ap.add_argument("--zs-reuse-trusted", help="with --zs-set zeroshot_retries=N: a folder of preset_run rows without "
                                               "retries; pairs where no retry would start (their kept map trusted) are "
                                               "copied, not run (their result cannot change)")
    ap.add_argument("--zs-shard", default=(0, 1), type=lambda t: tuple(int(x) for x in t.split("/")),
                    help="I/N: with --zeroshot, run only every N-th pair of each set from the I-th (0-based), so that N "
                         "processes share the pairs; rows in rows_SETS_shardIofN.jsonl (default: all pairs)")
    ap.add_argument("--zs-from-end", action="store_true",
                    help="with --zs-shard: run the shard's pairs from the last one, skipping pairs with rows (a second "
                         "process on a shard already running)")
    ap.add_argument("--zs-label", help="with --zeroshot: rows and report in OUT/zeroshot[_SPLIT]_LABEL (settings "
                                       "compared side by side)")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=ShapecorrWarning)
    import torch

    torch.set_num_threads(1)
    if a.zeroshot:
        unknown = sorted(set(a.zs_variants.split(",")) - set(ZS_VARIANTS))
        if unknown:
            ap.error(f"unknown --zs-variants {unknown}; use {', '.join(ZS_VARIANTS)}.")
        if not a.report_only:
            zs_run(a)
        zs_report(a)
        return 0
    from shapecorr.learn.prior import load_prior

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "pairs.csv"
    rows = read_done(csv_path)
    variants = [v for v in a.variants.split(",") if v]
    unknown = sorted(set(variants) - {"prior", "prior_scaled", "scaled"})
    if unknown:
        ap.error(f"unknown --variants {unknown}; use prior, prior_scaled, scaled.")
    done = {(r["set"], r["source"], r["target"], r["variant"]) for r in rows}
    prior = None if a.baseline_only else load_prior(a.prior)
    runner = PairRunner(prior, a.steps, a.scale, Path(a.cache) if a.cache else out / "cache")
    if a.baseline_only:
        for set_name, ds, pairs in pair_sets(Path(a.data), a.limit, a.seed):
            if set_name in a.sets.split(","):
                ev = PairEvaluator(ds, keep_geodesics=2)
                for i, (x, y) in enumerate(pairs, 1):
                    t0 = time.perf_counter()
                    _, _, row = runner.baseline(ds, ev, set_name, x, y)
                    log(f"[{i}/{len(pairs)}] {set_name} {x} -> {y}: ZoomOut {row['error']:.2f} "
                        f"({time.perf_counter() - t0:.1f}s)")
        return 0
    meta = {"command": "python scripts/bench_prior.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "prior": prior.name, "prior_k": prior.k, "prior_meta_command": prior.meta.get("command"), "steps": a.steps, "scale": a.scale,
            "note": "timings under load from other jobs on a shared 2-core machine"}
    wanted = [s for s in a.sets.split(",") if s]
    new_file = not csv_path.exists()
    with csv_path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new_file:
            w.writeheader()
        for set_name, ds, pairs in pair_sets(Path(a.data), a.limit, a.seed):
            if set_name not in wanted:
                continue
            ev = PairEvaluator(ds, keep_geodesics=2)
            todo = [p for p in pairs if any((set_name, *p, v) not in done for v in variants)]
            log(f"{set_name}: {len(pairs)} pairs, {len(todo)} to run")
            for i, (x, y) in enumerate(todo, 1):
                t0 = time.perf_counter()
                todo_v = [v for v in variants if (set_name, x, y, v) not in done]
                pair_rows, maps = runner.run(ds, ev, set_name, x, y, todo_v)
                if (set_name, x, y, "zoomout") in done:
                    pair_rows = pair_rows[1:]  # the baseline row is in the file already
                group = "all" if set_name == "faust_test" else re.sub(r"\d+$", "", x)
                for r in pair_rows:
                    r.update(set=set_name, group=group)
                    w.writerow({k: r[k] for k in FIELDS})
                    rows.append(r)
                f.flush()
                parts = ", ".join(f"{r['variant']} {r['error']:.2f}" + (f" (sigma {r['sigma']:.3f})" if r["sigma"] else "")
                                  for r in pair_rows)
                log(f"[{i}/{len(todo)}] {x} -> {y}: {parts} {time.perf_counter() - t0:.1f}s")
                if not (out / "example_maps.png").exists() and "C1" in maps:
                    example_picture(out / "example_maps.png", maps, f"{x} -> {y}")
    summary = write_report(out, rows, meta)
    for key, e in summary.items():
        log(f"{key}: {e['pairs']} pairs, ZoomOut {e['zoomout']['mean_error']:.2f}, variant "
            f"{e['variant']['mean_error']:.2f} (better {e['better']}, worse {e['worse']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
