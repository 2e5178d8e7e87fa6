"""Supervised training of :class:`FeatureNet` on shapes with ground-truth correspondences.

Data: a folder laid out like FAUST_r (``NAME.off`` + ``corres/NAME.vts``, line i = the 1-based
vertex of NAME matching template point i). Loss: for a random pair (a, b) and a random subset
of template points, a softmax over all vertices of b of the feature similarity to each point
of a must pick the ground-truth vertex (cross-entropy, temperature ``tau``), in both
directions. The features are then used by the matching pipeline to initialise the functional
map (nearest neighbours in feature space), which ZoomOut refines.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core import Shape, load, read_vts
from ..fmap.prepare import prepare_shape
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
    config: FeatureNetConfig = field(default_factory=FeatureNetConfig)


@dataclass
class TrainShape:
    name: str
    ops: SurfaceOperators  # NumPy (validation runs the NumPy forward pass, as the matcher does)
    gt: np.ndarray  # 0-based vertex per template point
    vertices: np.ndarray  # normalized coordinates (for the validation distance)
    torch_ops: TorchOperators = field(init=False, repr=False)  # the same, for training (converted once)

    def __post_init__(self):
        self.torch_ops = TorchOperators.from_numpy(self.ops)


def stretched(shape: Shape, rng: np.random.Generator, amount: float = 0.2) -> Shape:
    """``shape`` stretched along three random orthogonal axes by factors in
    ``exp([-amount, amount])``: other body proportions, same vertex order (the ground truth
    still applies). A training augmentation against over-fitting to the training subjects."""
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    scale = np.exp(rng.uniform(-amount, amount, 3))
    v = ((shape.vertices - shape.vertices.mean(0)) @ q) * scale @ q.T
    return shape.copy(vertices=v, name=f"{shape.name}_stretched")


def load_training_shapes(folder: str | Path, names: Sequence[str], config: FeatureNetConfig,
                         progress=True, augment: int = 0, seed: int = 0,
                         point_clouds: bool = False) -> list[TrainShape]:
    """Prepare shapes (normalization, eigenbasis of ``config``'s size and outward normals
    exactly as the matcher does for the learned features; cached).

    ``augment``: that many randomly :func:`stretched` copies of every shape are added.
    ``point_clouds``: every mesh is also added as a point cloud of its vertices (point-cloud
    Laplacian, estimated outward normals, nearest-neighbour gradients, as the matcher builds
    them), so that the model learns features that agree across both representations.
    """
    from tqdm import tqdm

    folder = Path(folder)
    k = max(config.k_input, config.k_diffusion)
    rng = np.random.default_rng(seed)
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
        variants = [(name, shape)] + [(f"{name}~{i + 1}", stretched(shape, rng)) for i in range(augment)]
        if point_clouds:
            variants += [(f"{n}~pc", Shape(sh.vertices, None, name=f"{sh.name}_pc")) for n, sh in variants]
        for vname, sh in variants:
            P = prepare_shape(sh, min(k, sh.n_vertices - 2), point_cloud_normals=True)
            ops = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, config)
            out.append(TrainShape(vname, ops, gt, P.shape.vertices))
    return out


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
                   init: FeatureModel | None = None) -> FeatureModel:
    """Train a :class:`FeatureNet`; with ``val_shapes``, measure :func:`feature_match_distance`
    on 10 fixed validation pairs every ``val_every`` steps (and save the model to
    ``checkpoint`` then, if given, so a long run that is interrupted is not lost).
    ``init``: start from this model's weights (fine-tuning; its configuration is used)."""
    from tqdm import tqdm

    torch.manual_seed(ts.seed)
    rng = np.random.default_rng(ts.seed)
    if init is not None:
        net = FeatureNet.from_weights(init.config, init.net.state_dict())
    else:
        net = FeatureNet(ts.config)
    opt = torch.optim.Adam(net.parameters(), lr=ts.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=ts.steps, eta_min=ts.lr * 0.02)
    n_template = min(len(s.gt) for s in shapes)
    history = []
    val_pairs = None
    if val_shapes:
        vr = np.random.default_rng(1)
        val_pairs = [tuple(vr.choice(len(val_shapes), 2, replace=False)) for _ in range(10)]
    t0 = time.time()
    bar = tqdm(range(ts.steps), desc="training", disable=not progress)
    running = None
    for step in bar:
        net.train()
        i, j = rng.choice(len(shapes), 2, replace=False)
        idx = rng.choice(n_template, min(ts.n_points, n_template), replace=False)
        loss = _pair_loss(net, shapes[i], shapes[j], idx, ts.tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}")
        if val_pairs and ((step + 1) % val_every == 0 or step + 1 == ts.steps):
            d = feature_match_distance(FeatureModel(net), val_shapes, val_pairs)
            net.train()
            history.append({"step": step + 1, "loss": running, "val_distance": d, "seconds": time.time() - t0})
            bar.write(f"step {step + 1}: loss {running:.3f}, validation distance x100 {d:.3f}")
            if checkpoint:
                FeatureModel(net, {"history": history, "partial": True}).save(checkpoint)
    meta = {"train_settings": {k: v for k, v in ts.__dict__.items() if k != "config"},
            "init": None if init is None else init.meta.get("name", "a given model"),
            "train_shapes": [s.name for s in shapes], "val_shapes": [s.name for s in val_shapes or []],
            "history": history, "seconds": round(time.time() - t0, 1), "torch": str(torch.__version__)}
    return FeatureModel(net.eval(), meta)
