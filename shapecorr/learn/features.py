"""Learned per-vertex features: build a shape's network inputs, load a trained model, run it.

The bundled model (``weights/faust_r_wks.pt``) is described in ``weights/README.md``: how it
was trained, on what, and the command that reproduces it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core import Shape
from ..spectral import normalize_descriptors, wks
from .diffusionnet import FeatureNet, FeatureNetConfig, SurfaceOperators
from .gradients import gradient_operators

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "faust_r_wks"


#: neighbours per point whose differences give a point cloud's tangent gradients (the mesh
#: path uses the mesh edges, about 6 per vertex); see scripts/bench_pointcloud.py --sweep-k
POINT_CLOUD_GRADIENT_K = 12


def surface_operators(shape: Shape, evals: np.ndarray, evecs: np.ndarray, mass: np.ndarray,
                      vertex_normals: np.ndarray | None, config: FeatureNetConfig, device="cpu", *,
                      gradient_k: int | None = None) -> SurfaceOperators:
    """Everything :class:`FeatureNet` needs from one (normalized, unit-area) mesh or point cloud.

    ``vertex_normals`` must point outward (the handedness of the tangent frames follows them).
    On a mesh they are required and the gradients come from the mesh edges. On a point cloud
    they may be None: they are then estimated by local PCA and oriented outward
    (:func:`shapecorr.core.pointcloud.outward_normals`); the gradients come from the
    ``gradient_k`` nearest neighbours of each point (None: :data:`POINT_CLOUD_GRADIENT_K`).
    """
    if shape.is_mesh and vertex_normals is None:
        raise ValueError("learned features on a mesh need its outward vertex normals "
                         "(Prepared.vertex_normals from shapecorr.fmap.setup.prepare).")
    n = shape.n_vertices
    if vertex_normals is not None and np.shape(vertex_normals) != (n, 3):
        raise ValueError(f"vertex_normals must be ({n}, 3) for this {n}-vertex shape, "
                         f"got {np.shape(vertex_normals)}.")
    k_in = min(config.k_input, len(evals))
    k_diff = min(config.k_diffusion, len(evals))
    if k_in < 3:
        raise ValueError(f"learned features need at least 3 eigenpairs, got {len(evals)}.")
    inputs = normalize_descriptors(wks(evals[:k_in], evecs[:, :k_in], config.in_dim), mass)
    if shape.is_mesh:
        gx, gy = gradient_operators(shape.vertices, shape.edges, vertex_normals)
    else:
        from ..core.pointcloud import knn_edges, outward_normals

        if gradient_k is None:
            gradient_k = POINT_CLOUD_GRADIENT_K
        if n < gradient_k + 1:
            raise ValueError(f"learned features on a point cloud use {gradient_k} neighbours per point and "
                             f"need at least {gradient_k + 1} points, got {n}.")
        normals = outward_normals(shape.vertices) if vertex_normals is None else vertex_normals
        gx, gy = gradient_operators(shape.vertices, knn_edges(shape.vertices, gradient_k), normals)
    return SurfaceOperators.build(mass, evals[:k_diff], evecs[:, :k_diff], gx, gy, inputs, device=device)


class FeatureModel:
    """A trained :class:`FeatureNet` with its configuration and provenance."""

    def __init__(self, net: FeatureNet, meta: dict | None = None):
        self.net = net.eval()
        self.meta = meta or {}

    @property
    def config(self) -> FeatureNetConfig:
        return self.net.config

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, device="cpu") -> "FeatureModel":
        path = Path(name_or_path)
        if path.suffix != ".pt":
            path = WEIGHTS_DIR / f"{name_or_path}.pt"
        if not path.exists():
            avail = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
            raise FileNotFoundError(f"no feature model {str(name_or_path)!r} ({path}); bundled: "
                                    f"{', '.join(avail) or 'none'}. Train one with scripts/train_features.py.")
        try:
            blob = torch.load(path, map_location=device, weights_only=True)
            net = FeatureNet(FeatureNetConfig(**blob["config"]))
            net.load_state_dict(blob["state_dict"])
        except Exception as exc:  # noqa: BLE001  (a truncated or foreign file)
            raise ValueError(f"{path}: not a readable shapecorr feature model ({exc}); "
                             "re-download it or retrain with scripts/train_features.py.") from exc
        return cls(net.to(device), blob.get("meta", {}))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"config": self.config.to_dict(), "state_dict": self.net.state_dict(), "meta": self.meta}, tmp)
        tmp.replace(path)
        return path

    @torch.no_grad()
    def features(self, ops: SurfaceOperators) -> np.ndarray:
        """Unit-length per-vertex features ``(n, out_dim)`` as float32 NumPy."""
        f = self.net(ops)
        f = torch.nn.functional.normalize(f, dim=1)
        return f.cpu().numpy()


_LOADED: dict[tuple[str, str], FeatureModel] = {}


def load_feature_model(name: str = DEFAULT_MODEL, device="cpu") -> FeatureModel:
    """:meth:`FeatureModel.load`, memoized per (name, device)."""
    key = (str(name), str(device))
    if key not in _LOADED:
        _LOADED[key] = FeatureModel.load(name, device=device)
    return _LOADED[key]
