"""Zero-shot matching: features optimised for one pair, with no trained feature model.

A feature network (the package's DiffusionNet-style :class:`~shapecorr.learn.diffusionnet.FeatureNet`,
smaller than the bundled models: :data:`ZEROSHOT_CONFIG`) starts from random weights (seeded)
and is trained on the pair itself for a few dozen steps with the self-supervised deep
functional-map loss (:func:`~shapecorr.learn.selfsup.unsupervised_pair_loss`) through
test-time adaptation (:func:`~shapecorr.learn.adapt.adapt_features`, every block trained).
With ``regularizer="prior"`` (the default) the loss's regularizers are the learned prior's
(:mod:`.distill`: the map layer's per-entry mask and the score-distillation penalty, in place of
the resolvent mask, orthogonality and Laplacian commutativity); ``"axiomatic"`` keeps the
axiomatic ones, for comparison. Nothing is learned from other shapes except the prior over
functional maps, which knows what maps look like, not what shapes look like.

Why this works at all: the random network's input (WKS) and its diffusion and gradient
features are intrinsic, so the two shapes' features are already related; the loss only has to
make them agree with one smooth bijective map. Why the prior and not only the axioms: the
bijectivity and coupling terms are satisfied by any bijective map, the regularizers say which
one is plausible. The prior cannot tell a map from its left-right mirror (it sees ``|C|``),
nor can bijectivity, coupling or the axioms (a mirror image is an isometry too): without more,
that is decided by the network's sign-sensitive gradient features, from the random start, and
on FAUST_r about half the pairs came out flipped. So when both shapes have an orientation
(meshes; point clouds through their normals' local triangles) the loss also has the
axiomatic solve's orientation-preserving term (:func:`~shapecorr.learn.selfsup.orientation_loss`,
weight :data:`ZEROSHOT_ORIENT`; the orientation operators of the solve's WKS descriptors, built
by the pipeline), which is about 0 for the true map and about 4 for its mirror image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ...core import SettingsError
from ..adapt import adapt_features
from ..features import FeatureModel
from ..network import FeatureNetConfig
from ..selfsup import REGULARIZERS, LossWeights, SpectralData

#: the zero-shot network: narrower than the bundled models (64 channels), the same inputs
ZEROSHOT_CONFIG = FeatureNetConfig(in_dim=64, width=64, n_blocks=4, out_dim=64, k_input=100, k_diffusion=100)
#: optimiser steps and learning rate (Adam) of one pair; size of the loss's functional maps
ZEROSHOT_STEPS = 50
ZEROSHOT_LR = 3e-3
ZEROSHOT_K = 30
#: soft-map rows per direction in the coupling term (as test-time adaptation)
ZEROSHOT_COUPLE_POINTS = 1000
#: weight of the loss's orientation term (:func:`~shapecorr.learn.selfsup.orientation_loss`) when
#: both shapes have an orientation (their SpectralData carry orientation operators)
ZEROSHOT_ORIENT = 5.0
#: ``(k_init, w_orient multiplier)`` of the exact functional-map solves on the zero-shot features
#: (descriptor preservation, their commutativity and orientation operators) that the pipeline adds
#: as candidates on two meshes: the nearest-feature map of a few dozen steps can swap a pair of
#: limbs that the regularised solve on the same features keeps apart (chosen on FAUST_r 070-079 and
#: TOSCA_r even-numbered animals)
ZEROSHOT_SOLVES = ((30, 1.0), (30, 10.0), (20, 1.0), (20, 10.0))


def zeroshot_weights(regularizer: str = "prior", prior: str = "prior_k30", orient: float = ZEROSHOT_ORIENT) -> LossWeights:
    """The loss of zero-shot matching with the learned (``"prior"``) or the axiomatic regularizers,
    and the orientation term at weight ``orient`` (0: off)."""
    if regularizer not in REGULARIZERS:
        raise SettingsError(f"zero-shot regularizer {regularizer!r}: use one of {', '.join(REGULARIZERS)}.")
    return LossWeights(couple_points=ZEROSHOT_COUPLE_POINTS, regularizer=regularizer, prior=prior, orient=orient)


def random_feature_model(config: FeatureNetConfig = ZEROSHOT_CONFIG, seed: int = 0) -> FeatureModel:
    """A feature model with freshly initialised weights (torch's default initialisation, seeded)."""
    from ..diffusionnet import FeatureNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = FeatureNet(config)
    return FeatureModel(net, {"name": f"random (seed {seed})", "trained": False})


def zeroshot_features(ops_x, ops_y, spec_x: SpectralData, spec_y: SpectralData, *, steps: int = ZEROSHOT_STEPS,
                      lr: float = ZEROSHOT_LR, regularizer: str = "prior", prior: str = "prior_k30",
                      orient: float = ZEROSHOT_ORIENT, seed: int = 0,
                      device="cpu", progress: Callable[[int, int, float], None] | None = None,
                      threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit features ``(feat_x, feat_y)`` of both shapes from a random network trained ``steps``
    Adam steps on this pair (module docstring). ``ops_x``, ``ops_y``:
    :func:`~shapecorr.learn.surface_operators` built with :data:`ZEROSHOT_CONFIG`; ``spec_x``,
    ``spec_y``: the eigenbases of the loss (at most :data:`ZEROSHOT_K` functions with the prior),
    with orientation operators for the ``orient``-weighted orientation term (meshes).
    Deterministic given ``seed`` (network and coupling subsets), inputs and thread count.
    ``progress(step, steps, loss)`` after each step."""
    weights = zeroshot_weights(regularizer, prior, orient)
    model = random_feature_model(ZEROSHOT_CONFIG, seed)
    return adapt_features(model, ops_x, ops_y, spec_x, spec_y, steps=steps, lr=lr, seed=seed, device=device,
                          progress=progress, weights=weights, tune_blocks=ZEROSHOT_CONFIG.n_blocks, threads=threads)
