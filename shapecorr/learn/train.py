"""Supervised training of :class:`FeatureNet` on shapes with ground-truth correspondences.

Data: folders laid out like FAUST_r (``NAME.off`` + ``corres/NAME.vts``, line i = the 1-based
vertex of NAME matching template point i). Shapes of one *group* share a template (FAUST_r: all
humans; TOSCA_r: one class); training pairs are drawn within a group. Loss: for a random pair
(a, b) of one group and a random subset of template points, a softmax over all vertices of b of the feature similarity to each point
of a must pick the ground-truth vertex (cross-entropy, temperature ``tau``), in both
directions. The features are then used by the matching pipeline to initialise the functional
map (nearest neighbours in feature space), which ZoomOut refines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core import Shape, load, read_vts
from ..fmap.prepare import prepare_shape
from .augment import AugmentSettings, random_pose, stretched, variant_with_map
from .diffusionnet import FeatureNet, TorchOperators
from .features import FeatureModel, surface_operators
from .network import FeatureNetConfig, SurfaceOperators


@dataclass
class TrainSettings:
    steps: int = 2000
    lr: float = 1e-3
    tau: float = 0.07
    n_points: int = 1024
    seed: int = 0
    #: learning rate of the (log) diffusion times; None: ``lr``
    time_lr: float | None = None
    #: the range of times given to a starting model (``init``) whose times are all 0: small
    #: times change its features least (a new network spreads them from T_MIN to T_MAX)
    restart_times: tuple[float, float] = (1e-4, 1e-3)
    config: FeatureNetConfig = field(default_factory=FeatureNetConfig)


@dataclass
class TrainShape:
    name: str
    ops: SurfaceOperators  # NumPy (validation runs the NumPy forward pass, as the matcher does)
    gt: np.ndarray  # 0-based vertex per template point
    vertices: np.ndarray  # normalized coordinates (for the validation distance)
    group: str = ""  # shapes of one group share a template: pairs are drawn within a group
    torch_ops: TorchOperators = field(init=False, repr=False)  # the same, for training (converted once)

    def __post_init__(self):
        self.torch_ops = TorchOperators.from_numpy(self.ops)


def load_training_shapes(folder: str | Path, names: Sequence[str], config: FeatureNetConfig,
                         progress=True, augment: int = 0, seed: int = 0,
                         point_clouds: bool = False, remeshed: int = 0, remesh_settings=None,
                         group: str | None = None, reproportioned: int = 0,
                         pose_settings=None) -> list[TrainShape]:
    """Prepare shapes (normalization, eigenbasis of ``config``'s size and outward normals
    exactly as the matcher does for the learned features; cached).

    ``augment``: that many randomly :func:`stretched` copies of every shape are added.
    ``remeshed``: that many copies of every shape in another pose, proportions, meshing and
    resolution (:func:`shapecorr.learn.augment.variant_with_map` with ``remesh_settings``, an
    ``AugmentSettings``), their ground truth carried over by the copy's vertex map.
    ``reproportioned``: that many copies of every shape in another pose and proportions on its
    own mesh (:func:`shapecorr.learn.augment.random_pose` with ``pose_settings``, e.g. with local
    stretches: non-isometric copies, exact ground truth; names ``NAME~pK``; drawn from their own
    random stream, so the other copies do not change with it).
    ``group``: the template group of these shapes (default: the folder's name); a callable
    ``name -> group`` gives one per shape (TOSCA_r: the class).
    ``point_clouds``: every mesh is also added as a point cloud of its vertices (point-cloud
    Laplacian, estimated outward normals, nearest-neighbour gradients, as the matcher builds
    them), so that the model learns features that agree across both representations.
    """
    from tqdm import tqdm

    folder = Path(folder)
    k = max(config.k_input, config.k_diffusion)
    rng = np.random.default_rng(seed)
    rng_pose = np.random.default_rng([seed, 1])
    group_of = group if callable(group) else (lambda _name: group or folder.name)
    out = []
    for name in tqdm(names, desc="preparing shapes", disable=not progress):
        path = next((folder / f"{name}{ext}" for ext in (".off", ".obj", ".ply") if (folder / f"{name}{ext}").exists()),
                    None)
        if path is None:
            raise FileNotFoundError(f"{folder}: no mesh named {name} (.off/.obj/.ply).")
        vts = folder / "corres" / f"{name}.vts"
        if not vts.exists():
            raise FileNotFoundError(f"{vts}: ground truth missing (training needs corres/NAME.vts).")
        shape = load(path)
        gt = read_vts(vts, shape.n_vertices)
        variants = [(name, shape, gt)] + [(f"{name}~{i + 1}", stretched(shape, rng), gt) for i in range(augment)]
        variants += [_remeshed_variant(name, i, shape, gt, rng, remesh_settings) for i in range(remeshed)]
        variants += [(f"{name}~p{i + 1}", _posed_variant(shape, rng_pose, pose_settings), gt)
                     for i in range(reproportioned)]
        if point_clouds:
            variants += [(f"{n}~pc", Shape(sh.vertices, None, name=f"{sh.name}_pc"), g) for n, sh, g in variants]
        for vname, sh, g in variants:
            P = prepare_shape(sh, min(k, sh.n_vertices - 2), point_cloud_normals=True)
            ops = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, config)
            out.append(TrainShape(vname, ops, g, P.shape.vertices, group_of(name)))
    return out


def _remeshed_variant(name: str, i: int, shape: Shape, gt: np.ndarray, rng: np.random.Generator, settings):

    copy, vertex_map = variant_with_map(shape, rng, settings or AugmentSettings())
    return f"{name}~r{i + 1}", copy, vertex_map[gt]


def _posed_variant(shape: Shape, rng: np.random.Generator, settings) -> Shape:

    return random_pose(shape, rng, settings or AugmentSettings())


def correspondence_loss(fa: torch.Tensor, fb: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor,
                        tau: float) -> torch.Tensor:
    """The supervised loss on unit features ``fa``, ``fb``: vertex ``ia[t]`` of a corresponds
    to ``ib[t]`` of b; a softmax (temperature ``tau``) over all vertices of the other shape of
    the cosine similarity must pick it (cross-entropy, mean of both directions)."""
    loss_ab = torch.nn.functional.cross_entropy(fa[ia] @ fb.T / tau, ib)
    loss_ba = torch.nn.functional.cross_entropy(fb[ib] @ fa.T / tau, ia)
    return 0.5 * (loss_ab + loss_ba)


def _pair_loss(net, a: TrainShape, b: TrainShape, idx: np.ndarray, tau: float) -> torch.Tensor:
    fa = torch.nn.functional.normalize(net(a.torch_ops), dim=1)
    fb = torch.nn.functional.normalize(net(b.torch_ops), dim=1)
    return correspondence_loss(fa, fb, torch.from_numpy(a.gt[idx]), torch.from_numpy(b.gt[idx]), tau)


def feature_match_distance(model: FeatureModel, shapes: list[TrainShape], pairs: Sequence[tuple[int, int]]) -> float:
    """Mean Euclidean distance (unit-area shapes, x100) between the feature nearest neighbour of
    each ground-truth point and its true match: a cheap validation measure."""
    from ..fmap.convert import knn_blocked

    dists = []
    for i, j in pairs:
        a, b = shapes[i], shapes[j]
        fa, fb = model.features(a.ops), model.features(b.ops)
        nn_ = knn_blocked(fb[b.gt], fa)  # ground-truth points of b -> vertices of a
        dists.append(np.linalg.norm(a.vertices[nn_] - a.vertices[a.gt], axis=1).mean())
    return 100 * float(np.mean(dists))


def train_features(shapes: list[TrainShape], ts: TrainSettings, val_shapes: list[TrainShape] | None = None,
                   val_every: int = 500, progress=True, checkpoint: str | Path | None = None,
                   init: FeatureModel | None = None, keep_checkpoints: bool = False) -> FeatureModel:
    """Train a :class:`FeatureNet` on random pairs of one group; with ``val_shapes``, measure
    :func:`feature_match_distance` on 10 fixed validation pairs every ``val_every`` steps (and
    save the model to ``checkpoint`` then, if given, so a long run that is interrupted is not
    lost; ``keep_checkpoints``: also to ``STEM.stepN.pt`` beside it, to choose a step on the
    validation afterwards); where ``val_shapes`` has remeshed copies (names with ``~r``), also on
    10 pairs of an original and another shape's copy (``val_distance_remeshed``), and likewise
    for re-proportioned copies (``~p``, ``val_distance_reproportioned``).
    ``init``: start from this model's weights (fine-tuning; its configuration is used). A model
    whose diffusion times are all 0 (the first bundled ones, which could not learn them) starts
    with times spread over ``ts.restart_times`` instead (``meta["times_restarted"]``)."""
    from tqdm import tqdm

    torch.manual_seed(ts.seed)
    rng = np.random.default_rng(ts.seed)
    restarted = False
    if init is not None:
        net = FeatureNet.from_weights(init.config, init.net.state_dict())
        if all(float(b.diffusion.time.detach().max()) <= 1e-20 for b in net.blocks):
            for b in net.blocks:
                b.diffusion.reset_times(*ts.restart_times)
            restarted = True
    else:
        net = FeatureNet(ts.config)
    opt = torch.optim.Adam(_param_groups(net, ts), lr=ts.lr)
    floor = 0.02  # the cosine decay ends at 2 % of the learning rate
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * min(k, ts.steps) / ts.steps)))
    draw = _pair_sampler(shapes)
    history = []
    val_pairs, val_remeshed = _validation_pairs(val_shapes or [])
    val_prop = copy_pairs(val_shapes or [], "~p")
    t0 = time.time()
    bar = tqdm(range(ts.steps), desc="training", disable=not progress)
    running = None
    for step in bar:
        net.train()
        i, j = draw(rng)
        n_template = min(len(shapes[i].gt), len(shapes[j].gt))
        idx = rng.choice(n_template, min(ts.n_points, n_template), replace=False)
        loss = _pair_loss(net, shapes[i], shapes[j], idx, ts.tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}")
        if val_pairs and ((step + 1) % val_every == 0 or step + 1 == ts.steps):
            model = FeatureModel(net)
            row = {"step": step + 1, "loss": running, "val_distance": feature_match_distance(model, val_shapes,
                                                                                             val_pairs)}
            if val_remeshed:
                row["val_distance_remeshed"] = feature_match_distance(model, val_shapes, val_remeshed)
            if val_prop:
                row["val_distance_reproportioned"] = feature_match_distance(model, val_shapes, val_prop)
            net.train()
            row["seconds"] = time.time() - t0
            history.append(row)
            bar.write(f"step {step + 1}: loss {running:.3f}, validation distance x100 {row['val_distance']:.3f}"
                      + (f", remeshed {row['val_distance_remeshed']:.3f}" if val_remeshed else "")
                + (f", re-proportioned {row['val_distance_reproportioned']:.3f}" if val_prop else ""))
            if checkpoint:
                FeatureModel(net, {"history": history, "partial": True}).save(checkpoint)
                if keep_checkpoints:
                    FeatureModel(net, {"history": history, "partial": True}).save(
                        Path(checkpoint).with_suffix(f".step{step + 1}.pt"))
    meta = {"train_settings": {k: list(v) if isinstance(v, tuple) else v  # as JSON keeps them (.npz copies)
                               for k, v in ts.__dict__.items() if k != "config"},
            "init": None if init is None else init.meta.get("name", "a given model"),
            "times_restarted": restarted,
            "train_shapes": [s.name for s in shapes], "val_shapes": [s.name for s in val_shapes or []],
            "groups": sorted({s.group for s in shapes}),
            "history": history, "seconds": round(time.time() - t0, 1), "torch": str(torch.__version__)}
    return FeatureModel(net.eval(), meta)


def _param_groups(net: FeatureNet, ts: TrainSettings) -> list[dict]:
    """One Adam group, or two when the (log) diffusion times have their own learning rate."""
    if ts.time_lr is None:
        return [{"params": list(net.parameters())}]
    times = [p for n, p in net.named_parameters() if n.endswith("diffusion.log_time")]
    rest = [p for n, p in net.named_parameters() if not n.endswith("diffusion.log_time")]
    return [{"params": rest}, {"params": times, "lr": ts.time_lr}]


def _pair_sampler(shapes: list[TrainShape]):
    """``draw(rng) -> (i, j)``: two different shapes of one group (any two when all shapes share
    one group; otherwise a shape of a group with two or more, then another of its group)."""
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(shapes):
        groups.setdefault(s.group, []).append(k)
    if len(groups) == 1:
        return lambda rng: tuple(rng.choice(len(shapes), 2, replace=False))
    firsts = [k for members in groups.values() if len(members) > 1 for k in members]
    if not firsts:
        raise ValueError("training needs two shapes of one group (template); every group has one shape.")

    def draw(rng):
        i = firsts[rng.integers(len(firsts))]
        others = [k for k in groups[shapes[i].group] if k != i]
        return i, others[rng.integers(len(others))]

    return draw


def _validation_pairs(val_shapes: list[TrainShape]) -> tuple[list, list]:
    """10 fixed pairs of original validation shapes (of one group, drawn as the first recipe
    did), and 10 pairs (original, remeshed copy of another original of its group) when there
    are copies (names ``NAME~rK``)."""
    originals = [k for k, s in enumerate(val_shapes) if "~" not in s.name]
    if len(originals) < 2:
        return [], []
    vr = np.random.default_rng(1)
    pairs = []
    while len(pairs) < 10:
        i, j = vr.choice(len(originals), 2, replace=False)
        if val_shapes[originals[i]].group == val_shapes[originals[j]].group:
            pairs.append((originals[i], originals[j]))
    return pairs, _pairs_with_copies(val_shapes, originals, "~r", vr)


def copy_pairs(val_shapes: list[TrainShape], tag: str, seed: int = 2) -> list[tuple[int, int]]:
    """10 fixed validation pairs (original, copy of another original of its group) for the copies
    whose names contain ``tag`` (e.g. ``"~p"``: re-proportioned); [] without such copies."""
    originals = [k for k, s in enumerate(val_shapes) if "~" not in s.name]
    return _pairs_with_copies(val_shapes, originals, tag, np.random.default_rng(seed))


def is_copy_of_kind(name: str, tag: str) -> bool:
    """Whether ``name`` is a copy of the kind ``tag`` (``"~p"``: ``NAME~pK``, ``"~r"``:
    ``NAME~rK``): its last ``~`` part is the tag's letter and a number. ``NAME~pc`` (a point
    cloud) and ``NAME~p1~pc`` (a point cloud of a re-proportioned copy) are not ``"~p"`` copies."""
    parts = name.split("~")
    return len(parts) > 1 and re.fullmatch(re.escape(tag.lstrip("~")) + r"\d+", parts[-1]) is not None


def _pairs_with_copies(val_shapes, originals, tag, vr) -> list[tuple[int, int]]:
    copies = [k for k, s in enumerate(val_shapes) if is_copy_of_kind(s.name, tag)]
    out = []
    for _ in range(10 if copies else 0):
        c = copies[vr.integers(len(copies))]
        source = val_shapes[c].name.split("~")[0]
        candidates = [k for k in originals if val_shapes[k].name != source and val_shapes[k].group == val_shapes[c].group]
        if candidates:
            out.append((candidates[vr.integers(len(candidates))], c))
    return out
