"""``shapecorr prior``: train the learned prior over functional maps, and sample from it."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from .common import (
    CommandError,
    atomic_output_dir,
    check_input_file,
    check_output_folder,
)

HELP = "train the learned prior over functional maps (diffusion model of |C|) or draw samples from it"

DESCRIPTION = """\
The learned prior over functional maps (shapecorr.learn.prior) is a small score-based diffusion
model of the sign-free image |C| of k x k functional maps, trained on ground-truth maps.

  shapecorr prior train DATA.npz --out DIR    train on the maps of DATA.npz (made by
                                               scripts/make_prior_data.py)
  shapecorr prior sample --out DIR             draw maps from a prior and picture them next to real ones
"""

TRAIN_DESCRIPTION = """\
Train the prior's denoiser on the maps of DATA.npz (scripts/make_prior_data.py writes it; give
several files to join them; --categories/--kinds select maps).
Writes into DIR: prior.pt (the model, usable as --model of `shapecorr prior sample` and by
shapecorr.learn.prior.load_prior), checkpoints/step_NNNNNN.pt (resumable with --resume),
log.csv (step, train and validation loss, learning rate, seconds), loss.png and train.json
(settings, data, time). Progress goes to stderr. Deterministic given --seed (on one thread).
"""

SAMPLE_DESCRIPTION = """\
Draw maps |C| from a prior (the bundled one by default) and write DIR/samples.png (sampled maps
in the top row, real ground-truth maps below: from --data, else the examples stored in the
model), DIR/samples.npy and DIR/stats.json (near-diagonal structure of sampled and real maps).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("prior", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="prior_command", metavar="ACTION")
    t = sub.add_parser("train", help="train a prior on a file of ground-truth maps", description=TRAIN_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("data", metavar="DATA.npz", nargs="+",
                   help="training maps (scripts/make_prior_data.py); several files are joined")
    t.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    t.add_argument("--steps", type=int, default=3000, help="training steps (default: %(default)s)")
    t.add_argument("--batch", type=int, default=32, help="maps per step (default: %(default)s)")
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    t.add_argument("--channels", default="16,32,64", metavar="C1,C2,...",
                   help="U-Net widths per resolution (default: %(default)s)")
    t.add_argument("--categories", metavar="A,B", help="train on these categories only (e.g. human)")
    t.add_argument("--kinds", metavar="A,B", help="train on these kinds only (pair, deformed)")
    t.add_argument("--val-every", type=int, default=250, metavar="N",
                   help="validation loss, log line and checkpoint every N steps (default: %(default)s)")
    t.add_argument("--max-minutes", type=float, metavar="M",
                   help="stop after M minutes of wall-clock time (with a last checkpoint and the model; the "
                        "learning-rate schedule still follows --steps)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint in DIR")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)
    s = sub.add_parser("sample", help="draw maps from a prior and picture them next to real ones",
                       description=SAMPLE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    s.add_argument("--model", default=None, metavar="NAME|FILE",
                   help="a bundled prior name or a prior.pt written by `prior train` (default: the bundled prior)")
    s.add_argument("--data", metavar="DATA.npz", help="real maps to show next to the samples")
    s.add_argument("--n", type=int, default=6, help="number of samples (default: %(default)s)")
    s.add_argument("--steps", type=int, default=24, help="ODE steps per sample (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.set_defaults(func=run_sample)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _csv_ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CommandError(f"{what} {text!r}: give comma-separated integers, e.g. 16,32,64.") from None
    if not values:
        raise CommandError(f"{what}: give at least one value.")
    return values


def _csv_names(text: str | None):
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


# --------------------------------------------------------------------------------- train
def run_train(args) -> int:
    data_paths = [check_input_file(p, "DATA.npz") for p in args.data]
    out = Path(args.out)
    check_output_folder(out)
    for name, value, low in (("--steps", args.steps, 1), ("--batch", args.batch, 1), ("--val-every", args.val_every, 1)):
        if value < low:
            raise CommandError(f"{name} must be at least {low} (got {value}).")
    if args.lr <= 0:
        raise CommandError(f"--lr must be positive (got {args.lr}).")
    channels = _csv_ints(args.channels, "--channels")
    ckpt_dir = out / "checkpoints"
    checkpoints = sorted(ckpt_dir.glob("step_*.pt")) if ckpt_dir.is_dir() else []
    if args.resume and not checkpoints:
        raise CommandError(f"--resume: no checkpoint in {ckpt_dir}; start without --resume.")
    if not args.resume and any((out / n).exists() for n in ("prior.pt", "log.csv", "checkpoints")):
        raise CommandError(f"--out {out} already holds a training run; continue it with --resume or choose "
                           "another folder (files are never overwritten).")

    import numpy as np
    import torch

    from ..learn.prior import PriorData, PriorNetConfig, PriorTrainSettings
    from ..learn.prior.train import (
        checkpoint_payload,
        new_state,
        restore_state,
        train_prior,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    data = PriorData.concatenate([PriorData.load(p) for p in data_paths])
    if args.categories or args.kinds:
        data = data.select(_csv_names(args.categories), _csv_names(args.kinds))
    if len(data) < 2:
        raise CommandError(f"{', '.join(map(str, data_paths))}: only {len(data)} map(s) after selection; a prior "
                           "needs more.")
    settings = PriorTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                                  val_every=args.val_every)
    config = PriorNetConfig(k=data.k, channels=channels)
    images = data.images()
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir.mkdir(exist_ok=True)
    if args.resume:
        state = restore_state(torch.load(checkpoints[-1], weights_only=True), settings)
        _log(args, f"resuming from {checkpoints[-1]} (step {state.step})")
    else:
        state = new_state(images, settings, config)
    log_path = out / "log.csv"
    t_start, cpu_start = time.perf_counter(), time.process_time()
    prev = _read_log(log_path) if args.resume else []
    # times of a resumed run continue from those of the log
    offset_s, offset_cpu = (prev[-1]["seconds"], prev[-1]["cpu_seconds"]) if prev else (0.0, 0.0)
    bar = _progress(args, settings.steps, state.step)

    def on_step(step, loss):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")

    def on_eval(st, row):
        row = dict(row, seconds=round(time.perf_counter() - t_start + offset_s, 1),
                   cpu_seconds=round(time.process_time() - cpu_start + offset_cpu, 1))
        prev.append(row)
        _write_log(log_path, prev)
        _plot_loss(prev, out / "loss.png")
        torch.save(checkpoint_payload(st, settings), ckpt_dir / f"step_{st.step:06d}.pt")
        _log(args, f"step {row['step']}: train {row['train_loss']:.4f}, validation {row['val_loss']:.4f}")

    stop = None
    if args.max_minutes:
        stop = (lambda: time.perf_counter() - t_start > 60 * args.max_minutes)
    state = train_prior(images, settings, config, state=state, on_step=on_step, on_eval=on_eval, stop=stop)
    if bar is not None:
        bar.close()
    from ..learn.prior import save_denoiser

    val = images[state.val_idx]
    rng = np.random.default_rng(settings.seed)
    examples = val[rng.choice(len(val), min(8, len(val)), replace=False)] if len(val) else images[:8]
    meta = {"command": "shapecorr " + " ".join(getattr(args, "argv", [])), "data": [str(p) for p in data_paths],
            "data_meta": data.meta, "data_counts": data.counts(), "n_train": len(state.train_idx),
            "n_val": len(state.val_idx), "settings": settings.__dict__, "history": prev,
            "steps_done": int(state.step), "stopped_early": bool(state.step < settings.steps),
            "train_seconds": prev[-1]["seconds"] if prev else None,
            "train_cpu_seconds": prev[-1]["cpu_seconds"] if prev else None, "torch_threads": torch.get_num_threads(),
            "examples": np.round(examples, 4).tolist()}
    save_denoiser(state.ema, out / "prior.pt", meta)
    (out / "train.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "examples"}, indent=1))
    _log(args, f"prior written to {out / 'prior.pt'} ({len(state.train_idx)} training maps)")
    print(out / "prior.pt")
    return 0


def _progress(args, total: int, start: int):
    if args.quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="training prior", unit="step", file=sys.stderr)


def _log(args, msg: str) -> None:
    if not args.quiet:
        print(f"shapecorr prior: {msg}", file=sys.stderr, flush=True)


LOG_FIELDS = ("step", "train_loss", "val_loss", "lr", "seconds", "cpu_seconds")


def _write_log(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def _plot_loss(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["train_loss"] for r in rows], "o-", label="training (mean since last point)")
    ax.plot(steps, [r["val_loss"] for r in rows], "s-", label="validation (EMA weights, fixed noise)")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted denoising loss")
    ax.set_title("prior training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".partial.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


# --------------------------------------------------------------------------------- sample
def run_sample(args) -> int:
    out = Path(args.out)
    check_output_folder(out)
    data_path = check_input_file(args.data, "--data")
    if args.n < 1 or args.steps < 1:
        raise CommandError(f"--n and --steps must be at least 1 (got {args.n} and {args.steps}).")

    import numpy as np

    from ..learn.prior import PriorData, load_prior, map_statistics, prior_image

    prior = load_prior(args.model)
    if data_path is not None:
        data = PriorData.load(data_path)
        if data.k < prior.k:
            raise CommandError(f"--data {data_path}: maps of {data.k} x {data.k}, smaller than the prior's {prior.k}.")
        pick = np.random.default_rng(args.seed).choice(len(data), min(args.n, len(data)), replace=False)
        real = prior_image(data.maps[np.sort(pick)], prior.k)
        real_from = str(data_path)
    else:
        real = np.asarray(prior.meta.get("examples", []), dtype=np.float32)[: args.n]
        real_from = "examples stored in the model (held-out training-set maps)"
    with atomic_output_dir(out) as tmp:
        samples = prior.sample(args.n, steps=args.steps, seed=args.seed)
        np.save(tmp / "samples.npy", samples)
        stats = {"model": prior.name, "n": args.n, "steps": args.steps, "seed": args.seed,
                 "sampled": map_statistics(samples), "real": map_statistics(real) if len(real) else None,
                 "real_from": real_from}
        (tmp / "stats.json").write_text(json.dumps(stats, indent=1))
        picture_maps(samples, real, tmp / "samples.png", title=f"{prior.name}: sampled |C| (top) vs real (bottom), "
                     f"{prior.k} x {prior.k}")
    s, r = stats["sampled"], stats["real"]
    line = f"diagonal energy: sampled {s['diagonal_fraction']:.2f}"
    if r:
        line += f", real {r['diagonal_fraction']:.2f}"
    print(f"shapecorr prior: {line}", file=sys.stderr)
    print(out / "samples.png")
    return 0


def picture_maps(sampled, real, path: Path, *, title: str) -> None:
    """Sampled maps in the top row, real ones below, on one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = max(len(sampled), len(real), 1)
    rows = 2 if len(real) else 1
    fig, axes = plt.subplots(rows, n, figsize=(1.7 * n + 1.2, 1.75 * rows + 0.5), dpi=110, squeeze=False,
                             layout="constrained")
    vmax = float(max(np.max(sampled) if len(sampled) else 1.0, np.max(real) if len(real) else 1.0, 1e-6))
    im = None
    for r, (label, maps) in enumerate((("sampled", sampled), ("real", real))[:rows]):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(maps):
                im = ax.imshow(maps[c], cmap="magma", vmin=0.0, vmax=min(vmax, 1.2))
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(label)
    fig.suptitle(title, fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="|C|")
    fig.savefig(path)
    plt.close(fig)
