"""Learned pieces of the matcher: DiffusionNet-style features, their training, bundled models."""

from .diffusionnet import FeatureNet, FeatureNetConfig, SurfaceOperators
from .features import DEFAULT_MODEL, FeatureModel, load_feature_model, surface_operators
from .gradients import gradient_operators, tangent_frames

__all__ = ["FeatureNet", "FeatureNetConfig", "SurfaceOperators", "FeatureModel", "load_feature_model",
           "surface_operators", "DEFAULT_MODEL", "gradient_operators", "tangent_frames"]
