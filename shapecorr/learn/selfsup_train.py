"""Self-supervised training of the feature network on a folder of shapes without ground truth.

Every step takes a random pair of shapes of the same group (by default: the same name without
its trailing number, so ``cat0``/``cat3`` or ``tr_reg_000``/``tr_reg_012``, and every
augmented copy with its source) and lowers
:func:`~shapecorr.learn.selfsup.unsupervised_pair_loss` (bijectivity, orthogonality, Laplacian
commutativity, fmap/soft-map coupling). Where both shapes have a ground truth
(``corres/NAME.vts`` next to the mesh, FAUST_r/TOSCA_r layout) an optional supervised term
(``sup_weight``) is added, and shapes with ground truth can serve as validation.

The training pool is prepared once (:func:`build_pool`): each shape (decimated to at most
``max_vertices``) and ``variants`` augmented copies of it (:mod:`shapecorr.learn.augment`:
remeshed, decimated, stretched, bent), each with the operators and eigenbasis the matcher
computes. :func:`train_selfsup` writes, next to the model ``MODEL.pt``: ``MODEL.npz`` (the NumPy
copy the matcher loads without torch), ``MODEL.ckpt.pt`` (checkpoint to resume from),
``MODEL.csv`` (the loss log), ``MODEL.png`` (the loss plot) and ``MODEL.md`` (the model card).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core import Shape, load, read_vts
from ..core.errors import DatasetError, OutputError, SettingsError
from ..fmap.prepare import prepare_shape
from .adapt import frozen_prefix, head
from .augment import AugmentSettings, decimated, random_variant
from .diffusionnet import FeatureNet, TorchOperators
from .features import FeatureModel, surface_operators
from .network import FeatureNetConfig, SurfaceOperators
from .selfsup import LossWeights, SpectralData, unsupervised_pair_loss
from .train import correspondence_loss, feature_match_distance

log = logging.getLogger(__name__)

MESH_SUFFIXES = (".off", ".obj", ".ply")


@dataclass(frozen=True)
class ShapeSource:
    """One mesh file of a training folder: its name, group (pairs are drawn within a group)
    and ground truth file, if any."""

    path: Path
    name: str
    group: str
    gt_path: Path | None = None


def group_of(name: str) -> str:
    """The name without its trailing number and separators: ``cat10`` -> ``cat``,
    ``tr_reg_012`` -> ``tr_reg``; a name without a number is its own group."""
    return re.sub(r"[_\-.\s]*\d+$", "", name) or name


def find_shapes(folder: str | Path) -> list[ShapeSource]:
    """Every mesh (``.off``, ``.obj``, ``.ply``) under ``folder`` (recursively, sorted), with
    ``corres/NAME.vts`` beside it as its ground truth when present."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder; give a folder of meshes (.off, .obj, .ply).")
    out = []
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in MESH_SUFFIXES or not p.is_file() or "corres" in p.relative_to(folder).parts:
            continue
        gt = p.parent / "corres" / f"{p.stem}.vts"
        out.append(ShapeSource(p, p.stem, group_of(p.stem), gt if gt.exists() else None))
    if not out:
        raise DatasetError(f"{folder}: no meshes (.off, .obj, .ply) found; training needs at least two.")
    return out


@dataclass
class TrainItem:
    """One prepared shape of the pool: operators (NumPy and torch), eigenbasis for the loss,
    ground truth (0-based vertex per template point) or None, normalized vertices."""

    name: str
    group: str
    ops: SurfaceOperators
    spec: SpectralData
    gt: np.ndarray | None
    vertices: np.ndarray
    torch_ops: TorchOperators = field(init=False, repr=False)

    def __post_init__(self):
        self.torch_ops = TorchOperators.from_numpy(self.ops)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)


def prepare_item(shape: Shape, name: str, group: str, gt: np.ndarray | None, config: FeatureNetConfig,
                 k_loss: int, cache: bool | None = None) -> TrainItem:
    """A :class:`TrainItem` prepared exactly as the matcher prepares a shape for its features."""
    k = max(config.k_input, config.k_diffusion, k_loss)
    P = prepare_shape(shape, min(k, shape.n_vertices - 2), point_cloud_normals=True, cache=cache)
    ops = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, config)
    spec = SpectralData.from_numpy(P.evals, P.evecs, P.mass, min(k_loss, len(P.evals)))
    return TrainItem(name, group, ops, spec, gt, P.shape.vertices)


def build_pool(sources: Sequence[ShapeSource], config: FeatureNetConfig, *, k_loss: int = 50,
               variants: int = 0, augment: AugmentSettings | None = None, max_vertices: int | None = 20000,
               seed: int = 0, progress: bool = True) -> list[TrainItem]:
    """Load and prepare every source and ``variants`` augmented copies of each.

    A shape with more than ``max_vertices`` vertices is decimated first (its ground truth is
    then dropped: decimation renumbers vertices). Augmented copies belong to their source's
    group; they keep its ground truth only if their vertex order is unchanged (never, with
    remeshing or decimation, which :func:`random_variant` always applies)."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    augment = augment or AugmentSettings()
    pool = []
    for src in tqdm(sources, desc="preparing shapes", disable=not progress):
        shape = load(src.path, warn=False)
        if not shape.is_mesh:
            raise DatasetError(f"{src.path}: a point cloud; self-supervised training uses meshes.")
        gt = read_vts(src.gt_path, shape.n_vertices) if src.gt_path else None
        if max_vertices and shape.n_vertices > max_vertices:
            shape, gt = decimated(shape, max_vertices), None
        pool.append(prepare_item(shape, src.name, src.group, gt, config, k_loss))
        for i in range(variants):
            v = random_variant(shape, rng, augment)
            pool.append(prepare_item(v, f"{src.name}~{i + 1}", src.group, None, config, k_loss, cache=False))
    return pool


@dataclass(frozen=True)
class SelfSupSettings:
    """The recipe of :func:`train_selfsup`.

    ``steps``, ``lr`` (Adam, cosine decay to ``lr * lr_final``), ``seed``; ``weights``: the
    self-supervised loss; ``sup_weight``: weight of the supervised correspondence term on pairs
    where both shapes have ground truth (0: none), over ``sup_points`` random template points,
    temperature ``weights.tau``; ``pairs``: ``"group"`` (both shapes of one group) or
    ``"any"``; ``checkpoint_every``, ``val_every``: steps between checkpoints and validations.
    ``tune_blocks``: train only the last that many diffusion blocks and the output layer (None:
    the whole network); the frozen blocks' output is then computed once per shape and reused,
    which makes a step several times cheaper when fine-tuning a model (``init``).
    """

    steps: int = 2000
    lr: float = 1e-3
    lr_final: float = 0.05
    seed: int = 0
    weights: LossWeights = field(default_factory=LossWeights)
    sup_weight: float = 0.0
    sup_points: int = 1024
    pairs: str = "group"
    checkpoint_every: int = 100
    val_every: int = 200
    tune_blocks: int | None = None

    def __post_init__(self):
        if self.tune_blocks is not None and (isinstance(self.tune_blocks, bool) or not isinstance(self.tune_blocks, int)
                                             or self.tune_blocks < 0):
            raise SettingsError(f"SelfSupSettings.tune_blocks must be None or an integer >= 0, got {self.tune_blocks!r}.")
        for name in ("steps", "checkpoint_every", "val_every", "sup_points"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SettingsError(f"SelfSupSettings.{name} must be an integer >= 1, got {v!r}.")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise SettingsError(f"SelfSupSettings.lr must be a finite number > 0, got {self.lr!r}.")
        if not (0 < self.lr_final <= 1):
            raise SettingsError(f"SelfSupSettings.lr_final must be in (0, 1], got {self.lr_final!r}.")
        if not (math.isfinite(self.sup_weight) and self.sup_weight >= 0):
            raise SettingsError(f"SelfSupSettings.sup_weight must be a finite number >= 0, got {self.sup_weight!r}.")
        if self.pairs not in ("group", "any"):
            raise SettingsError(f"SelfSupSettings.pairs must be 'group' or 'any', got {self.pairs!r}.")

    def to_dict(self) -> dict:
        return asdict(self)


def draw_pair(pool: Sequence[TrainItem], rng: np.random.Generator, pairs: str = "group") -> tuple[int, int]:
    """Two different items of the pool, of one group when ``pairs == "group"`` (a shape whose
    group has no other member is paired with any other shape)."""
    i = int(rng.integers(len(pool)))
    mates = [j for j, it in enumerate(pool) if j != i and (pairs == "any" or it.group == pool[i].group)]
    if not mates:
        mates = [j for j in range(len(pool)) if j != i]
    return i, int(mates[int(rng.integers(len(mates)))])


class PartialNet:
    """The network's forward pass when only its last blocks are trained: the frozen part's
    output is computed once per pool item (by its position) and kept."""

    def __init__(self, net: FeatureNet, tune_blocks: int | None):
        self.net = net
        n = net.config.n_blocks
        self.first = 0 if tune_blocks is None else max(0, n - tune_blocks)
        self._cache: dict[int, torch.Tensor] = {}
        if self.first:
            for p in [*net.first.parameters(), *(q for b in net.blocks[:self.first] for q in b.parameters())]:
                p.requires_grad_(False)

    def __call__(self, item: TrainItem, key: int) -> torch.Tensor:
        if not self.first:
            return self.net(item.torch_ops)
        if key not in self._cache:
            self._cache[key] = frozen_prefix(self.net, item.torch_ops, self.first)
        return head(self.net, self._cache[key], item.torch_ops, self.first)

    def parameters(self):
        return [p for p in self.net.parameters() if p.requires_grad]


#: the diffusion time given to trained channels whose time is exactly 0 (see wake_diffusion_times)
WAKE_TIME = 1e-6
#: times at or below this count as 0 (a zero time is read back as the floor 1e-30)
ZERO_TIME = 1e-20


def wake_diffusion_times(net: FeatureNet, first: int = 0) -> int:
    """Give the diffusion times of blocks ``first..`` that are (practically) 0 the value
    :data:`WAKE_TIME`; returns how many. Networks trained before the times were learned as
    logarithms kept every time at exactly 0 (as the first ``faust_r_wks``, all 512 of them);
    read back, such a time sits at the floor ``T_FLOOR`` (1e-30), where a step on its logarithm
    moves it by nothing measurable. 1e-6 scales an eigen-coefficient by ``exp(-1e-6 lambda)``,
    by less than 0.2 % up to the 100th eigenvalue of a unit-area surface (about ``4 pi 100``),
    and lets training choose the time."""
    n = 0
    for block in net.blocks[first:]:
        t = block.diffusion.time.detach()
        zero = t <= ZERO_TIME
        n += int(zero.sum())
        if zero.any():
            block.diffusion.set_time(torch.where(zero, torch.full_like(t, WAKE_TIME), t))
    return n


def step_loss(net, a: TrainItem, b: TrainItem, s: SelfSupSettings, rng: np.random.Generator,
              gen: torch.Generator, keys: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one training pair: self-supervised, plus the supervised term where both
    shapes have ground truth and ``s.sup_weight > 0``. ``net``: a :class:`FeatureNet` or a
    :class:`PartialNet` (``keys``: the items' positions in the pool, for its cache)."""
    if isinstance(net, PartialNet):
        fa, fb = net(a, keys[0]), net(b, keys[1])
    else:
        fa, fb = net(a.torch_ops), net(b.torch_ops)
    loss, parts = unsupervised_pair_loss(fa, fb, a.spec, b.spec, s.weights, generator=gen)
    if s.sup_weight and a.gt is not None and b.gt is not None:
        n_t = min(len(a.gt), len(b.gt))
        idx = rng.choice(n_t, min(s.sup_points, n_t), replace=False)
        sup = s.sup_weight * correspondence_loss(torch.nn.functional.normalize(fa, dim=1),
                                                 torch.nn.functional.normalize(fb, dim=1),
                                                 torch.from_numpy(a.gt[idx]), torch.from_numpy(b.gt[idx]),
                                                 s.weights.tau)
        parts["sup"] = float(sup.detach())
        loss = loss + sup
    return loss, parts


def validation_pairs(val: Sequence[TrainItem], n: int = 10) -> list[tuple[int, int]]:
    """``n`` fixed pairs of validation items (seed 1), as the supervised trainer uses."""
    vr = np.random.default_rng(1)
    return [tuple(int(x) for x in vr.choice(len(val), 2, replace=False)) for _ in range(n)]


@dataclass
class TrainFiles:
    """The files :func:`train_selfsup` writes next to the model ``model`` (``.pt``)."""

    model: Path

    @property
    def npz(self) -> Path:
        return self.model.with_suffix(".npz")

    @property
    def checkpoint(self) -> Path:
        return self.model.with_suffix(".ckpt.pt")

    @property
    def csv(self) -> Path:
        return self.model.with_suffix(".csv")

    @property
    def plot(self) -> Path:
        return self.model.with_suffix(".png")

    @property
    def card(self) -> Path:
        return self.model.with_suffix(".md")

    def all(self) -> list[Path]:
        return [self.model, self.npz, self.checkpoint, self.csv, self.plot, self.card]


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


CSV_FIELDS = ("step", "loss", "bij", "orth", "lap", "couple", "sup", "val_distance", "lr", "seconds")


def write_log(history: list[dict], path: Path) -> None:
    """The training log as CSV (one row per logged step; empty cells for absent terms)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for row in history:
            w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    tmp.replace(path)


def plot_loss(history: list[dict], path: Path, title: str = "") -> None:
    """The loss (running mean) and its terms against the step, and the validation distance
    where measured, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in ("loss", "bij", "orth", "couple", "sup"):
        ys = [h.get(key) for h in history]
        if any(y is not None for y in ys):
            ax.plot(steps, [np.nan if y is None else y for y in ys], label=key, lw=1.5 if key == "loss" else 0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (running mean)")
    val = [(h["step"], h["val_distance"]) for h in history if h.get("val_distance") is not None]
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), "k--o", ms=3, label="validation distance")
        ax2.set_ylabel("validation distance x100")
        ax2.legend(loc="upper center", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "self-supervised training")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _loss_terms(weights: dict) -> str:
    """The loss's terms in words, for the model card (the regularizer decides which)."""
    if weights.get("regularizer") == "prior":
        return (f"bijectivity, fmap/soft-map coupling and the learned prior `{weights.get('prior')}` as the "
                "regularizer: its entry mask in the map layer and its score-distillation penalty in the loss, in "
                "place of orthogonality and Laplacian commutativity")
    return "bijectivity, orthogonality, Laplacian commutativity, fmap/soft-map coupling"


def model_card(meta: dict) -> str:
    """The model card (Markdown) written next to a trained model: data, recipe, time, command,
    final loss and validation."""
    s = meta["settings"]
    data = meta["data"] or {"folders": ["(not described)"], "n_sources": "?", "n_groups": "?", "n_with_gt": "?",
                            "variants": "?", "n_pool": len(meta["train_shapes"]), "min_vertices": "?",
                            "max_vertices": "?", "groups": [], "augment": None}
    lines = [f"# Feature model `{meta['name']}`", "",
             "A `shapecorr.learn.FeatureNet` trained with the self-supervised deep functional map loss "
             f"(`shapecorr.learn.selfsup`: {_loss_terms(s.get('weights', {}))})" + (f" plus a supervised term (weight {s['sup_weight']}) on pairs with ground truth"
                            if s["sup_weight"] else "") + ".", "",
             "## Data", "",
             f"- folder(s): {', '.join(data['folders'])}",
             (f"- {data['n_sources']} shapes in {data['n_groups']} groups ({data['n_with_gt']} with ground truth), "
             f"{data['variants']} augmented copies each; pool of {data['n_pool']} meshes, "
             f"{data['min_vertices']}-{data['max_vertices']} vertices"),
             f"- groups: {', '.join(data['groups'])}",
             f"- validation: {', '.join(meta['val_shapes']) or 'none'}",
             *([f"- notes: {meta['notes']}"] if meta.get("notes") else []), "",
             "## Recipe", "",
             f"- init: {meta['init'] or 'random'}; network {json.dumps(meta['config'])}",
             f"- settings: {json.dumps(s)}",
             f"- augmentation: {json.dumps(data['augment'])}", "",
             "## Time and machine", "",
             (f"- {meta['steps_done']} steps in {meta['seconds']:.0f} s wall ({meta['cpu_seconds']:.0f} s CPU), "
             f"device {meta['device']}, {meta['threads']} torch threads, {meta['machine']}; torch {meta['torch']}"), "",
             "## Reproduce", "", "```", meta.get("command") or "(not recorded)", "```", ""]
    hist = meta["history"]
    if hist:
        last = hist[-1]
        lines += ["## Result", "", f"- final running loss {last['loss']:.4g} at step {last['step']}"]
        val = [h for h in hist if h.get("val_distance") is not None]
        if val:
            lines += ["", "| step | validation distance x100 |", "|---:|---:|"]
            lines += [f"| {h['step']} | {h['val_distance']:.3f} |" for h in val]
        lines.append("")
    return "\n".join(lines)


def data_summary(folders: Sequence[str], sources: Sequence[ShapeSource], pool: Sequence[TrainItem], variants: int,
                 augment: AugmentSettings | None) -> dict:
    n = [it.n_vertices for it in pool]
    return {"folders": [str(f) for f in folders], "n_sources": len(sources), "n_pool": len(pool),
            "n_groups": len({s.group for s in sources}), "groups": sorted({s.group for s in sources}),
            "n_with_gt": sum(s.gt_path is not None for s in sources), "variants": variants,
            "augment": asdict(augment) if augment else None,
            "min_vertices": min(n), "max_vertices": max(n), "shapes": [s.name for s in sources]}


def train_selfsup(pool: Sequence[TrainItem], settings: SelfSupSettings, out: str | Path, *,
                  init: FeatureModel | None = None, config: FeatureNetConfig | None = None,
                  val: Sequence[TrainItem] = (), resume: bool = False, device="cpu", progress: bool = True,
                  data: dict | None = None, command: str | None = None, name: str | None = None,
                  init_name: str | None = None, notes: str | None = None) -> FeatureModel:
    """Train on ``pool`` and write the model ``out`` (``.pt``) and its companions
    (:class:`TrainFiles`). ``init``: start from this model's weights (its configuration);
    otherwise a random network of ``config``. ``val``: items with ground truth, whose feature
    nearest-neighbour distance on 10 fixed pairs is measured every ``settings.val_every``
    steps. ``resume``: continue from ``MODEL.ckpt.pt`` (written every
    ``settings.checkpoint_every`` steps; same pool and settings expected). ``data``: the
    training data's description for the card (:func:`data_summary`); ``command``: the command
    line that reproduces the run; ``notes``: a line for the card (e.g. what was kept out).
    Deterministic given the seed, the pool and the thread count.
    """
    from tqdm import tqdm

    from .convert import convert

    files = TrainFiles(Path(out))
    if files.model.suffix != ".pt":
        raise OutputError(f"{files.model}: the trained model is written as .pt (its .npz copy beside it).")
    if len(pool) < 2:
        raise DatasetError(f"training needs at least two shapes, got {len(pool)}.")
    files.model.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    net = (FeatureNet.from_weights(init.config, init.net.state_dict()) if init is not None
           else FeatureNet(config or FeatureNetConfig())).to(device)
    if settings.tune_blocks is not None and settings.tune_blocks > net.config.n_blocks:
        raise SettingsError(f"tune_blocks={settings.tune_blocks} but the network has {net.config.n_blocks} blocks.")
    partial = PartialNet(net, settings.tune_blocks)
    if not resume:
        wake_diffusion_times(net, partial.first)
    opt = torch.optim.Adam(partial.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.steps,
                                                       eta_min=settings.lr * settings.lr_final)
    history: list[dict] = []
    start, elapsed, cpu_elapsed = 0, 0.0, 0.0
    if resume:
        if not files.checkpoint.exists():
            raise OutputError(f"{files.checkpoint}: no checkpoint to resume from; start without --resume.")
        ck = torch.load(files.checkpoint, map_location=device, weights_only=False)
        if ck["settings"] != settings.to_dict():
            raise SettingsError(f"{files.checkpoint}: written with other settings ({ck['settings']}); resume with "
                                "the same settings or start anew.")
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start, history = ck["step"], ck["history"]
        elapsed, cpu_elapsed = ck["seconds"], ck["cpu_seconds"]
        log.info("resuming %s at step %d", files.model, start)
    if device != "cpu":
        for it in list(pool) + list(val):
            it.torch_ops = TorchOperators.from_numpy(it.ops, device)
            it.spec = it.spec.to(device)
    val_pairs = validation_pairs(val) if len(val) >= 2 else []
    t0, c0 = time.time() - elapsed, time.process_time() - cpu_elapsed
    running: dict[str, float] = dict(history[-1]["running"]) if history else {}
    bar = tqdm(range(start, settings.steps), desc="training", initial=start, total=settings.steps,
               disable=not progress)

    def save_checkpoint(step: int) -> None:
        _atomic_torch_save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "step": step, "history": history, "settings": settings.to_dict(),
                            "seconds": time.time() - t0, "cpu_seconds": time.process_time() - c0},
                           files.checkpoint)
        write_log(history, files.csv)
        plot_loss(history, files.plot, title=name or files.model.stem)

    for step in bar:
        net.train()
        rng = np.random.default_rng([settings.seed, step])
        gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
        i, j = draw_pair(pool, rng, settings.pairs)
        loss, parts = step_loss(partial, pool[i], pool[j], settings, rng, gen, keys=(i, j))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(partial.parameters(), 10.0)
        opt.step()
        sched.step()
        parts["loss"] = float(loss.detach())
        for key, v in parts.items():
            running[key] = v if key not in running else 0.95 * running[key] + 0.05 * v
        bar.set_postfix(loss=f"{running['loss']:.3f}")
        done = step + 1
        is_val = bool(val_pairs) and (done % settings.val_every == 0 or done == settings.steps)
        if done % settings.checkpoint_every == 0 or is_val or done == settings.steps or done == start + 1:
            row = {**running, "step": done, "lr": sched.get_last_lr()[0], "seconds": round(time.time() - t0, 1),
                   "running": dict(running), "val_distance": None}
            if is_val:
                row["val_distance"] = feature_match_distance(FeatureModel(net.cpu()), val, val_pairs)
                net.to(device)
                bar.write(f"step {done}: loss {running['loss']:.3f}, validation distance x100 {row['val_distance']:.3f}")
            history.append(row)
            save_checkpoint(done)
    meta = {"name": name or files.model.stem, "settings": settings.to_dict(), "init": init_name,
            "config": (init.config if init is not None else net.config).to_dict(), "data": data or {},
            "train_shapes": [it.name for it in pool], "val_shapes": [it.name for it in val],
            "history": [{k: v for k, v in h.items() if k != "running"} for h in history],
            "steps_done": settings.steps, "seconds": round(time.time() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1), "device": str(device),
            "threads": torch.get_num_threads(), "machine": f"{platform.machine()} {platform.system()}",
            "torch": str(torch.__version__), "command": command, "self_supervised": True, "notes": notes}
    # as JSON stores it (tuples become lists), so that the .pt and its .npz copy carry equal metadata
    meta = json.loads(json.dumps(meta))
    model = FeatureModel(net.cpu().eval(), meta)
    model.save(files.model)
    convert(files.model)
    files.card.write_text(model_card(meta))
    return model


def train_from_sources(sources: Sequence[ShapeSource], out: str | Path, settings: SelfSupSettings, *,
                       val_sources: Sequence[ShapeSource] = (), init: FeatureModel | None = None,
                       init_name: str | None = None, config: FeatureNetConfig | None = None, variants: int = 2,
                       augment: AugmentSettings | None = None, max_vertices: int | None = 20000,
                       k_loss: int = 50, resume: bool = False, device="cpu", progress: bool = True,
                       command: str | None = None, folders: Sequence[str] = (),
                       notes: str | None = None) -> FeatureModel:
    """Prepare the pool (:func:`build_pool`) and the validation shapes (with ground truth,
    never augmented) and run :func:`train_selfsup`: the one entry point of ``shapecorr train``
    and ``scripts/train_selfsup.py``."""
    if len(sources) < 2:
        raise DatasetError(f"training needs at least two shapes, got {len(sources)}.")
    net_config = init.config if init is not None else (config or FeatureNetConfig())
    pool = build_pool(sources, net_config, k_loss=k_loss, variants=variants, augment=augment,
                      max_vertices=max_vertices, seed=settings.seed, progress=progress)
    val = build_pool([s for s in val_sources if s.gt_path], net_config, k_loss=k_loss, variants=0,
                     max_vertices=None, progress=progress) if val_sources else []
    data = data_summary(folders, sources, pool, variants, augment or AugmentSettings())
    return train_selfsup(pool, settings, out, init=init, config=net_config, val=val, resume=resume, device=device,
                         progress=progress, data=data, command=command, init_name=init_name, notes=notes)
