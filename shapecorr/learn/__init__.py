"""Learned pieces of the matcher: DiffusionNet-style features, their training, bundled models.

Importing this package does not import torch: features run with NumPy on the CPU. The torch
network (:class:`FeatureNet`, :class:`TorchOperators`), used to train and on CUDA devices, and
the self-supervised pieces (:func:`fmap_from_features`, :class:`SpectralData`,
:class:`LossWeights`, :func:`unsupervised_pair_loss`, :func:`adapt_features`) are imported when
first asked for.
"""

from .features import (
    DEFAULT_MODEL,
    FeatureModel,
    FeatureModelError,
    FeatureModelNotFoundError,
    bundled_models,
    load_feature_model,
    surface_operators,
)
from .gradients import gradient_operators, tangent_frames
from .network import FeatureNetConfig, NumpyFeatureNet, SurfaceOperators

#: names that need torch, and the module that defines each (imported when first asked for)
_TORCH_NAMES = {
    "FeatureNet": "diffusionnet",
    "TorchOperators": "diffusionnet",
    "fmap_from_features": "fmap_layer",
    "SpectralData": "selfsup",
    "LossWeights": "selfsup",
    "unsupervised_pair_loss": "selfsup",
    "adapt_features": "adapt",
}

__all__ = [
    "DEFAULT_MODEL",
    "FeatureModel",
    "FeatureModelError",
    "FeatureModelNotFoundError",
    "FeatureNet",
    "FeatureNetConfig",
    "LossWeights",
    "NumpyFeatureNet",
    "SpectralData",
    "SurfaceOperators",
    "TorchOperators",
    "adapt_features",
    "bundled_models",
    "fmap_from_features",
    "gradient_operators",
    "load_feature_model",
    "surface_operators",
    "tangent_frames",
    "unsupervised_pair_loss",
]


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        import importlib

        return getattr(importlib.import_module(f".{_TORCH_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
