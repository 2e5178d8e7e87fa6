"""Zero-shot candidates on the tune pairs, for choosing what the ``zeroshot`` preset adds (issue 12).

For each pair of ``bench_prior.py``'s ``--zs-split`` (FAUST_r 070-079 or TOSCA_r even-numbered animals
by default) the zero-shot network is trained once per seed as the pipeline trains it (the same loop as
``shapecorr.learn.adapt.adapt_features``, one thread), its features kept after each of ``--steps``
(e.g. 50, the preset's, and 80), and every candidate is refined and assessed as the pipeline does:
the nearest-feature map (``zs_sSEED_tSTEPS``), the exact solves on the features (``fsolve_*``: the
``zeroshot_solves`` candidates) and the axiomatic fallback's (``ax_*``, all of them). One JSON per pair
(error x100, flip, confidence and its signals, CPU seconds); ``--simulate DIR`` replays candidate
sets through the preset's choice (most trusted; the axiomatic candidates, in order until one is
trusted, unless a map is fully trusted).

    OMP_NUM_THREADS=1 nice -n 5 python scripts/zeroshot_tune_candidates.py --set tosca --limit 14 --seeds 0 \
        --out docs/bench/prior_cpu/zeroshot_tune_solves
    python scripts/zeroshot_tune_candidates.py --simulate docs/bench/prior_cpu/zeroshot_tune_solves
"""
import sys, json, time, warnings, argparse
from pathlib import Path
import numpy as np, torch
ROOT = Path(__file__).resolve().parents[1]; sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "scripts"))
from shapecorr.pipeline import (_Run, plan_pair, prepare_pair_work, features_to_fmap, zeroshot_orientation_operators,
                                AxiomaticOperators, axiomatic_inits, axiomatic_initial_map)
from shapecorr.config import load_preset
from shapecorr.eval import PairEvaluator
from shapecorr.learn import surface_operators
from shapecorr.learn.prior import zeroshot as zs
from shapecorr.learn.selfsup import SpectralData, unsupervised_pair_loss
from shapecorr.learn.adapt import _torch_ops, frozen_prefix, head
from shapecorr.learn.diffusionnet import FeatureNet
import bench_prior as bp

ap = argparse.ArgumentParser()
ap.add_argument("--set", default="faust"); ap.add_argument("--limit", type=int, default=10)
ap.add_argument("--seeds", default="0,1"); ap.add_argument("--steps", default="50,80")
ap.add_argument("--split", default="tune"); ap.add_argument("--out", default=str(ROOT / "out" / "zs_tune"))
ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data")); ap.add_argument("--simulate")
ap.add_argument("--keep-features", action="store_true")
ap.add_argument("--skip", type=int, default=0)
a = ap.parse_args()
if a.simulate:
    import runpy
    sys.argv = [sys.argv[0], a.simulate]
    runpy.run_path(str(Path(__file__).with_name("zeroshot_tune_simulate.py")), run_name="__main__")
    sys.exit(0)
torch.set_num_threads(1)
out = Path(a.out); out.mkdir(parents=True, exist_ok=True); (out / "feats").mkdir(exist_ok=True)
sets = bp.split_sets(Path(a.data), a.split, [a.set], {a.set: a.limit})
bs = sets[0]
ev = PairEvaluator(bs.ds, points=bs.points, dense_max=bs.dense_max)
s = load_preset("zeroshot")
seeds = [int(x) for x in a.seeds.split(",")]; steps_at = [int(x) for x in a.steps.split(",")]


def train(P1, P2, seed, k):
    ops = [surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, zs.ZEROSHOT_CONFIG) for P in (P1, P2)]
    k_loss = min(k, zs.ZEROSHOT_K)
    orient = zeroshot_orientation_operators(P1, P2, k_loss, s.solve)
    spec = [SpectralData.from_numpy(P.evals, P.evecs, P.mass, k=k_loss, orient=O) for P, O in zip((P1, P2), orient)]
    weights = zs.zeroshot_weights("prior", "prior_k30", zs.ZEROSHOT_ORIENT)
    model = zs.random_feature_model(zs.ZEROSHOT_CONFIG, seed)
    torch.manual_seed(seed); gen = torch.Generator().manual_seed(seed)
    tx, ty = _torch_ops(ops[0], "cpu"), _torch_ops(ops[1], "cpu")
    net = FeatureNet.from_weights(model.config, model.net.state_dict()); net.train()
    hx, hy = frozen_prefix(net, tx, 0), frozen_prefix(net, ty, 0)
    opt = torch.optim.Adam([q for b in net.blocks for q in b.parameters()] + list(net.last.parameters()), lr=zs.ZEROSHOT_LR)
    res, losses, c0 = {}, [], time.process_time()
    for step in range(max(steps_at)):
        loss, parts = unsupervised_pair_loss(head(net, hx, tx, 0), head(net, hy, ty, 0), spec[0], spec[1], weights, generator=gen)
        opt.zero_grad(); loss.backward(); opt.step(); losses.append({"loss": float(loss), **parts})
        if step + 1 in steps_at:
            net.eval()
            with torch.no_grad():
                fx = torch.nn.functional.normalize(head(net, hx, tx, 0), dim=1).numpy()
                fy = torch.nn.functional.normalize(head(net, hy, ty, 0), dim=1).numpy()
            net.train()
            res[step + 1] = (fx, fy, time.process_time() - c0)
    return res, losses


for a_, b_ in bs.pairs[a.skip:]:
    tag = f"{a_}__{b_}"
    if (out / f"{tag}.json").exists():
        continue
    c_all = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = _Run(s, "cpu", None, None)
        src, tgt = ev.shape(a_), ev.shape(b_)
        r.proxies = None
        r.plan = plan_pair(src.n_vertices, tgt.n_vertices, s)
        c0 = time.process_time()
        r.work = prepare_pair_work(src, tgt, s, r.plan)
        r.P1, r.P2 = (w.prepared for w in r.work); r.descr = tuple(w.descr for w in r.work)
        r._setup_refinement()
        t_prep = time.process_time() - c0
        cands = []

        def add(name, C0, extra=None):
            c0 = time.process_time()
            c = r._candidate(name, C0.shape[0], None, C0)
            e, _ = ev.evaluate(a_, b_, c.p2p_21, c.p2p_12)
            cands.append({"name": name, "error": e["mean_error_x100"], "flipped": bool(e.get("flipped")),
                          "conf": c.trust, "signals": c.confidence.to_dict()["signals"],
                          "cpu_refine": time.process_time() - c0, **(extra or {})})
            return c
        for seed in seeds:
            res, losses = train(r.P1, r.P2, seed, r.plan.k_init)
            for st, (fx, fy, cpu) in res.items():
                if a.keep_features:
                    np.savez_compressed(out / "feats" / f"{tag}_s{seed}_t{st}.npz", fx=fx.astype(np.float16), fy=fy.astype(np.float16))
                C0 = features_to_fmap((fx, fy), r.P1, r.P2, r.plan.k_init, queries=r.samples[1])
                add(f"zs_s{seed}_t{st}", C0, {"cpu_train": cpu, "loss": losses[st - 1], "loss_min": min(l["loss"] for l in losses[:st])})
                if st == 50 and seed == seeds[0]:
                    c0 = time.process_time()
                    fops = AxiomaticOperators(r.P1, r.P2, s.fallback_solve_settings(), descriptors=(fx, fy))
                    for k, mult in ((30, 1.0), (30, 10.0), (20, 1.0), (20, 10.0)):
                        add(f"fsolve_s{seed}_k{k}_m{mult:g}", axiomatic_initial_map(fops, k, mult))
        solve = s.fallback_solve_settings()
        ops = AxiomaticOperators(r.P1, r.P2, solve)
        for k, mult in axiomatic_inits(solve, r.plan.k_init, ops.use_orient, r.plan.k_basis):
            add(f"ax_k{k}_m{mult:g}", axiomatic_initial_map(ops, k, mult))
    row = {"pair": [a_, b_], "class": bs.klass(a_), "t_prep": t_prep, "cpu_total": time.process_time() - c_all, "cands": cands}
    (out / f"{tag}.json").write_text(json.dumps(row))
    print(tag, " ".join(f"{c['name']}:{c['error']:.2f}{'F' if c['flipped'] else ''}/{c['conf']:.2f}" for c in cands), flush=True)
