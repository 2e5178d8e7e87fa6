"""Learned per-vertex features: build a shape's network inputs, load a trained model, run it.

A :class:`FeatureModel` runs on the CPU with NumPy/SciPy (:class:`~shapecorr.learn.network.NumpyFeatureNet`,
no torch import) and on CUDA devices, or on request, with torch. The bundled models
(``weights/NAME.npz``, NumPy copies of the trained ``weights/NAME.pt``) are described in
``weights/README.md``: how they were trained, on what, and the commands that reproduce them.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..core import Shape
from ..core.errors import ShapecorrError, TooFewPointsError
from ..spectral import normalize_descriptors, wks
from .gradients import gradient_operators
from .network import FeatureNetConfig, NumpyFeatureNet, SurfaceOperators, unit_rows

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "faust_r_wks"
BACKENDS = ("numpy", "torch")
#: the version of the .npz model layout (written as ``__format__``)
NPZ_FORMAT = 1

#: neighbours per point whose differences give a point cloud's tangent gradients (the mesh
#: path uses the mesh edges, about 6 per vertex); see scripts/bench_pointcloud.py --sweep-k
POINT_CLOUD_GRADIENT_K = 12


class FeatureModelError(ShapecorrError, ValueError):
    """A feature model file that cannot be used: unreadable, foreign, or with weights that do
    not fit its configuration; or a model asked to run where it cannot."""


class FeatureModelNotFoundError(FeatureModelError, FileNotFoundError):
    """No bundled model of that name and no such file."""


def surface_operators(shape: Shape, evals: np.ndarray, evecs: np.ndarray, mass: np.ndarray,
                      vertex_normals: np.ndarray | None, config: FeatureNetConfig, device="cpu", *,
                      gradient_k: int | None = None):
    """Everything the feature network needs from one (normalized, unit-area) mesh or point cloud.

    ``vertex_normals`` must point outward (the handedness of the tangent frames follows them).
    On a mesh they are required and the gradients come from the mesh edges. On a point cloud
    they may be None: they are then estimated by local PCA and oriented outward
    (:func:`shapecorr.core.pointcloud.outward_normals`); the gradients come from the
    ``gradient_k`` nearest neighbours of each point (None: :data:`POINT_CLOUD_GRADIENT_K`).

    ``device``: where the operators will be used. ``"cpu"`` gives NumPy/SciPy
    :class:`SurfaceOperators`, which every :class:`FeatureModel` accepts; a CUDA device gives
    torch tensors there (:class:`~shapecorr.learn.diffusionnet.TorchOperators`, for a model
    loaded on that device).
    """
    if shape.is_mesh and vertex_normals is None:
        raise ValueError("learned features on a mesh need its outward vertex normals "
                         "(Prepared.vertex_normals from shapecorr.fmap.prepare.prepare_shape).")
    n = shape.n_vertices
    if vertex_normals is not None and np.shape(vertex_normals) != (n, 3):
        raise ValueError(f"vertex_normals must be ({n}, 3) for this {n}-vertex shape, "
                         f"got {np.shape(vertex_normals)}.")
    k_in = min(config.k_input, len(evals))
    k_diff = min(config.k_diffusion, len(evals))
    if k_in < 3:
        raise TooFewPointsError(f"learned features need at least 3 eigenpairs, got {len(evals)}.")
    inputs = normalize_descriptors(wks(evals[:k_in], evecs[:, :k_in], config.in_dim), mass)
    if shape.is_mesh:
        gx, gy = gradient_operators(shape.vertices, shape.edges, vertex_normals)
    else:
        from ..core.pointcloud import knn_edges, outward_normals

        if gradient_k is None:  # tiny clouds: all the other points (as their Laplacian and normals)
            gradient_k = min(POINT_CLOUD_GRADIENT_K, n - 1)
        if n < gradient_k + 1 or gradient_k < 2:
            raise TooFewPointsError(f"learned features on a point cloud use {gradient_k} neighbours per point and "
                                    f"need at least {max(gradient_k + 1, 3)} points, got {n}.")
        normals = (outward_normals(shape.vertices, normals=shape.point_normals) if vertex_normals is None
                   else vertex_normals)
        gx, gy = gradient_operators(shape.vertices, knn_edges(shape.vertices, gradient_k), normals)
    ops = SurfaceOperators(np.asarray(mass), np.asarray(evals[:k_diff]), np.asarray(evecs[:, :k_diff]), gx, gy,
                           inputs)
    if str(device) == "cpu":
        return ops
    from .diffusionnet import TorchOperators

    return TorchOperators.from_numpy(ops, device)


class FeatureModel:
    """A trained feature network: configuration, weights, provenance (``meta``), and where it runs.

    ``net``: a :class:`~shapecorr.learn.network.NumpyFeatureNet`, or a torch
    :class:`~shapecorr.learn.diffusionnet.FeatureNet` whose weights (as they are now) are copied.
    ``device``: ``"cpu"`` or a CUDA device (``"cuda"``, ``"cuda:1"``). ``backend``: ``"numpy"``
    (no torch needed; the default on the CPU) or ``"torch"`` (the default, and the only one, on
    a CUDA device). Both compute the same features (float32 round-off apart).
    """

    def __init__(self, net, meta: dict | None = None, *, device="cpu", backend: str | None = None):
        if isinstance(net, NumpyFeatureNet):
            self.net = net
        else:  # a torch FeatureNet
            self.net = NumpyFeatureNet(net.config, {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})
        self.meta = meta or {}
        self.device = str(device)
        self.backend = backend or ("numpy" if self.device == "cpu" else "torch")
        if self.backend not in BACKENDS:
            raise FeatureModelError(f"unknown feature backend {self.backend!r}; use one of {', '.join(BACKENDS)}.")
        if self.backend == "numpy" and self.device != "cpu":
            raise FeatureModelError(f"the numpy feature backend runs on the CPU only, not on {self.device!r}; "
                                    "use backend='torch' (or None) there.")
        self._torch_net = None

    @property
    def config(self) -> FeatureNetConfig:
        return self.net.config

    def torch_net(self):
        """The torch :class:`~shapecorr.learn.diffusionnet.FeatureNet` with these weights, on
        this model's device, in eval mode (built once)."""
        if self._torch_net is None:
            from .diffusionnet import FeatureNet

            self._torch_net = FeatureNet.from_weights(self.config, self.net.state_dict()).to(self.device).eval()
        return self._torch_net

    def features(self, ops, threads: int | None = None) -> np.ndarray:
        """Unit-length per-vertex features ``(n, out_dim)`` as float32 NumPy.

        ``ops``: from :func:`surface_operators`. ``threads``: CPU threads to use (BLAS threads
        for the numpy backend, torch threads for torch); None leaves the current setting.
        """
        if self.backend == "numpy":
            if not isinstance(ops, SurfaceOperators):
                raise FeatureModelError(f"the numpy feature backend needs NumPy operators, got {type(ops).__name__}; "
                                        "build them with surface_operators(..., device='cpu').")
            with _blas_threads(threads):
                f = self.net(ops)
            return unit_rows(f).astype(np.float32, copy=False)
        return self._torch_features(ops, threads)

    def _torch_features(self, ops, threads: int | None) -> np.ndarray:
        import torch

        from .diffusionnet import TorchOperators

        if isinstance(ops, SurfaceOperators):
            ops = TorchOperators.from_numpy(ops, self.device)
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                f = torch.nn.functional.normalize(self.torch_net()(ops), dim=1)
        finally:
            torch.set_num_threads(before)
        return f.cpu().numpy()

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, device="cpu", backend: str | None = None) -> FeatureModel:
        """A bundled model by name (``weights/NAME.npz``) or a model file: ``.npz`` (read with
        NumPy) or ``.pt`` (written by torch; reading it imports torch)."""
        path = _model_path(name_or_path)
        try:
            config, weights, meta = _read_npz(path) if path.suffix == ".npz" else _read_pt(path)
            net = NumpyFeatureNet(config, weights)
        except Exception as exc:
            raise FeatureModelError(f"{path}: not a readable shapecorr feature model ({exc}); "
                                    "re-download it or retrain with scripts/train_features.py.") from exc
        return cls(net, meta, device=device, backend=backend)

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path``: ``.npz`` (NumPy arrays, configuration and ``meta`` as
        JSON; loadable without torch) or ``.pt`` (torch's format; needs torch). Atomic: a
        temporary file is renamed into place."""
        path = Path(path)
        if path.suffix not in (".npz", ".pt"):
            raise FeatureModelError(f"{path}: a feature model is saved as .npz (NumPy) or .pt (torch).")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            if path.suffix == ".npz":
                np.savez(f, __format__=np.array(NPZ_FORMAT), __config__=np.array(json.dumps(self.config.to_dict())),
                         __meta__=np.array(json.dumps(self.meta)), **self.net.state_dict())
            else:
                import torch

                state = {k: torch.from_numpy(v.copy()) for k, v in self.net.state_dict().items()}
                torch.save({"config": self.config.to_dict(), "state_dict": state, "meta": self.meta}, f)
        tmp.replace(path)
        return path


def bundled_models() -> list[str]:
    """Names of the models in ``weights/``."""
    return sorted({p.stem for p in WEIGHTS_DIR.glob("*.npz")} | {p.stem for p in WEIGHTS_DIR.glob("*.pt")})


def _model_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix not in (".npz", ".pt"):
        path = WEIGHTS_DIR / f"{name_or_path}.npz"
        if not path.exists() and path.with_suffix(".pt").exists():
            path = path.with_suffix(".pt")
    if not path.exists():
        raise FeatureModelNotFoundError(f"no feature model {str(name_or_path)!r} ({path}); bundled: "
                                        f"{', '.join(bundled_models()) or 'none'}. Train one with "
                                        "scripts/train_features.py.")
    return path


def _read_npz(path: Path) -> tuple[FeatureNetConfig, dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        if "__format__" not in z.files or int(z["__format__"]) != NPZ_FORMAT:
            raise ValueError(f"no __format__ = {NPZ_FORMAT} entry, which FeatureModel.save writes")
        config = FeatureNetConfig(**json.loads(str(z["__config__"])))
        meta = json.loads(str(z["__meta__"]))
        weights = {k: z[k] for k in z.files if not k.startswith("__")}
    return config, weights, meta


def _read_pt(path: Path) -> tuple[FeatureNetConfig, dict, dict]:
    import torch

    blob = torch.load(path, map_location="cpu", weights_only=True)
    weights = {k: v.numpy() for k, v in blob["state_dict"].items()}
    return FeatureNetConfig(**blob["config"]), weights, blob.get("meta", {})


def _blas_threads(threads: int | None):
    if not threads:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


_LOADED: dict[tuple[str, str, str | None], FeatureModel] = {}


def load_feature_model(name: str = DEFAULT_MODEL, device="cpu", backend: str | None = None) -> FeatureModel:
    """:meth:`FeatureModel.load`, memoized per (name, device, backend)."""
    key = (str(name), str(device), backend)
    if key not in _LOADED:
        _LOADED[key] = FeatureModel.load(name, device=device, backend=backend)
    return _LOADED[key]
