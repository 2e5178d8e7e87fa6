"""Test-time adaptation: fine-tune a copy of the feature network on the one pair being matched,
with the self-supervised loss (:func:`~shapecorr.learn.selfsup.unsupervised_pair_loss`), which
needs no ground truth. A model trained on other shapes (other people, animals, other meshing)
gives features that are a good start but not quite consistent on the pair; a few steps of the
loss make the two shapes' features agree with a bijective, near-isometric functional map.

The given model is never changed: a torch copy of its weights is trained and thrown away.

Only the last ``tune_blocks`` diffusion blocks and the output layer are trained (the default
1 of 4): the earlier blocks' output is computed once, so a step costs about a third of a full
forward and backward pass of both shapes, which keeps adaptation within seconds on a CPU,
and the shared early features (and the left/right orientation they carry) cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..core.errors import SettingsError
from .features import FeatureModel
from .selfsup import LossWeights, SpectralData, unsupervised_pair_loss

#: default number of adaptation steps and learning rate (Adam). The loss's fmap size is that of
#: the SpectralData given (the pipeline passes its k_init-sized bases).
ADAPT_STEPS = 20
ADAPT_LR = 1e-3
ADAPT_BLOCKS = 1
#: the loss of adaptation: the soft map's rows on 1000 vertices per direction (the coupling
#: term's softmax is most of a step's cost; on TOSCA_r dog0 -> dog5, 20 steps: feature
#: nearest-neighbour error 14.2 -> 7.7 with 1000 rows, 7.8 with 2000)
ADAPT_WEIGHTS = LossWeights(couple_points=1000)


def adaptation_loss(regularizer: str = "axiomatic", prior: str = "prior_k30") -> tuple[LossWeights, int | None]:
    """The adaptation's loss with the ``"axiomatic"`` regularizers (:data:`ADAPT_WEIGHTS`) or the
    learned prior's (``"prior"``: DiffuMatch's regularizers in place of the resolvent mask,
    orthogonality and Laplacian commutativity; same bijectivity and coupling terms), and the size
    its functional maps must have (the prior's; None: any)."""
    if regularizer == "axiomatic":
        return ADAPT_WEIGHTS, None
    weights = LossWeights(couple_points=ADAPT_WEIGHTS.couple_points, regularizer=regularizer, prior=prior)
    from .prior import load_prior

    return weights, load_prior(prior).k


def _torch_ops(ops, device):
    from .diffusionnet import TorchOperators
    from .network import SurfaceOperators

    if isinstance(ops, SurfaceOperators):
        return TorchOperators.from_numpy(ops, device)
    return ops


def frozen_prefix(net, ops, first: int) -> torch.Tensor:
    """The network's hidden features after its input layer and its first ``first`` blocks
    (no gradient): what the trained part of the network starts from."""
    with torch.no_grad():
        x = net.first(ops.inputs)
        for block in net.blocks[:first]:
            x = block(x, ops)
    return x


def head(net, x: torch.Tensor, ops, first: int) -> torch.Tensor:
    """The rest of the network from :func:`frozen_prefix`'s output: blocks ``first..`` and the
    output layer; ``head(net, frozen_prefix(net, ops, j), ops, j) == net(ops)`` for every j."""
    for block in net.blocks[first:]:
        x = block(x, ops)
    return net.last(x)


def _check(steps, lr, model, spec_x, spec_y, ops_x, ops_y):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise SettingsError(f"adaptation steps must be an integer >= 0, got {steps!r}.")
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise SettingsError(f"adaptation learning rate must be a finite number > 0, got {lr!r}.")
    if not isinstance(model, FeatureModel):
        raise TypeError(f"adapt_features needs a FeatureModel, got {type(model).__name__}.")
    for name, spec, ops in (("x", spec_x, ops_x), ("y", spec_y, ops_y)):
        if spec.n_vertices != ops.mass.shape[0]:
            raise ValueError(f"shape {name}: spectral data of {spec.n_vertices} vertices but operators of "
                             f"{ops.mass.shape[0]}; build both from the same prepared shape.")


def adapt_features(model: FeatureModel, ops_x, ops_y, spec_x: SpectralData, spec_y: SpectralData, *,
                   steps: int = ADAPT_STEPS, lr: float = ADAPT_LR, seed: int = 0, device="cpu",
                   progress: Callable[[int, int, float], None] | None = None,
                   weights: LossWeights | None = None, tune_blocks: int = ADAPT_BLOCKS,
                   threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features of both shapes after ``steps`` Adam steps of the self-supervised loss on this
    pair, from a copy of ``model``'s network: ``(feat_x (n_x, d), feat_y (n_y, d))``, unit rows,
    float32 NumPy (as :meth:`FeatureModel.features`). ``steps=0`` gives the model's own features.

    ``ops_x``, ``ops_y``: :func:`~shapecorr.learn.surface_operators` of the two shapes (NumPy or
    torch). ``spec_x``, ``spec_y``: their eigenbases for the loss (their ``k`` is the functional
    map's size). ``seed``: the random vertex subsets of the coupling term; with the same seed,
    inputs and thread count the result is the same. ``progress(step, steps, loss)`` is called
    after each step. ``weights``: the loss (default :data:`ADAPT_WEIGHTS`). ``tune_blocks``: how
    many of the last diffusion blocks are trained with the output layer (module docstring; all
    of them: the whole network). ``threads``: torch CPU threads (None leaves the current
    setting). ``model`` is not changed.
    """
    from .diffusionnet import FeatureNet

    _check(steps, lr, model, spec_x, spec_y, ops_x, ops_y)
    n_blocks = model.config.n_blocks
    if isinstance(tune_blocks, bool) or not isinstance(tune_blocks, (int, np.integer)) or not 0 <= tune_blocks <= n_blocks:
        raise SettingsError(f"tune_blocks must be an integer from 0 to {n_blocks} (the network's blocks), "
                            f"got {tune_blocks!r}.")
    weights = weights or ADAPT_WEIGHTS
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        tx, ty = _torch_ops(ops_x, device), _torch_ops(ops_y, device)
        sx, sy = spec_x.to(device), spec_y.to(device)
        net = FeatureNet.from_weights(model.config, model.net.state_dict()).to(device)
        net.train()
        first = n_blocks - int(tune_blocks)
        hx, hy = frozen_prefix(net, tx, first), frozen_prefix(net, ty, first)
        params = [p for b in net.blocks[first:] for p in b.parameters()] + list(net.last.parameters())
        opt = torch.optim.Adam(params, lr=lr)
        for step in range(int(steps)):
            loss, _ = unsupervised_pair_loss(head(net, hx, tx, first), head(net, hy, ty, first), sx, sy, weights,
                                             generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if progress is not None:
                progress(step + 1, int(steps), float(loss.detach()))
        net.eval()
        with torch.no_grad():
            fx = torch.nn.functional.normalize(head(net, hx, tx, first), dim=1)
            fy = torch.nn.functional.normalize(head(net, hy, ty, first), dim=1)
    finally:
        torch.set_num_threads(before)
    return fx.cpu().numpy().astype(np.float32), fy.cpu().numpy().astype(np.float32)
