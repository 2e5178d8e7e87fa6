"""Learned pieces of the matcher: DiffusionNet-style features, their training, bundled models.

Importing this package does not import torch: features run with NumPy on the CPU. The torch
network (:class:`FeatureNet`, :class:`TorchOperators`), used to train and on CUDA devices, is
imported when first asked for.
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

_TORCH_NAMES = ("FeatureNet", "TorchOperators")

__all__ = [
    "DEFAULT_MODEL",
    "FeatureModel",
    "FeatureModelError",
    "FeatureModelNotFoundError",
    "FeatureNet",
    "FeatureNetConfig",
    "NumpyFeatureNet",
    "SurfaceOperators",
    "TorchOperators",
    "bundled_models",
    "gradient_operators",
    "load_feature_model",
    "surface_operators",
    "tangent_frames",
]


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from . import diffusionnet

        return getattr(diffusionnet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
