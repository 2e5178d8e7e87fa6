"""The NumPy forward pass of the feature network (what the matcher runs on the CPU) against the
torch network (training, CUDA): the same function of the same weights, on meshes and point
clouds; the bundled models' NumPy copies; loading and running a model without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import bumpy, ellipsoid, point_cloud

from shapecorr.learn import (
    DEFAULT_MODEL,
    FeatureModel,
    FeatureModelError,
    FeatureNet,
    FeatureNetConfig,
    NumpyFeatureNet,
    SurfaceOperators,
    TorchOperators,
    bundled_models,
    load_feature_model,
    surface_operators,
)
from shapecorr.learn.convert import convert, sha256
from shapecorr.learn.features import WEIGHTS_DIR
from shapecorr.learn.network import unit_rows, weight_shapes
from shapecorr.pipeline import load_preset, prepare

TINY = FeatureNetConfig(in_dim=16, width=16, n_blocks=2, out_dim=8, k_input=20, k_diffusion=20)
SMALL = {"k_final": 30, "k_init": 15, "k_descriptor": 30}
REPO = Path(__file__).resolve().parents[2]


def _shapes():
    mesh = bumpy(3)  # 642 vertices
    bent = ellipsoid(16, 24, bend=0.3, taper=0.3)[0]
    return {"mesh": mesh, "bent_mesh": bent, "cloud": point_cloud(mesh), "bent_cloud": point_cloud(bent)}


@pytest.fixture(scope="module")
def ops_of():
    """``{(shape name, k_features): SurfaceOperators}`` built as the matcher builds them."""
    out = {}
    for name, shape in _shapes().items():
        for k in (30, 100):
            P = prepare(shape, load_preset("default", k_features=k, **SMALL), cache=False)
            config = FeatureNetConfig(k_input=k, k_diffusion=k)
            out[name, k] = surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, config)
    return out


def _random_net(config: FeatureNetConfig, seed: int) -> FeatureNet:
    """A network with weights large enough that every term matters (at initialisation the
    gradient terms are small)."""
    torch.manual_seed(seed)
    net = FeatureNet(config)
    with torch.no_grad():
        for b in net.blocks:
            b.diffusion.set_time(torch.empty(config.width).uniform_(0.0, 0.05))
            b.gradients.re.weight.mul_(10.0)
            b.gradients.im.weight.mul_(10.0)
    return net


def _torch_features64(net: FeatureNet, ops: SurfaceOperators, weights: dict | None = None) -> np.ndarray:
    """The torch forward pass in float64 with exactly ``weights`` (default: the net's own). The
    net learns log-times; a float32 log-time made float64 is the time up to float32 round-off,
    so the times are set again in float64 from the weights' times."""
    weights = weights if weights is not None else {k: v.numpy() for k, v in net.state_dict().items()}
    net = net.double()
    for i, b in enumerate(net.blocks):
        b.diffusion.set_time(torch.from_numpy(np.asarray(weights[f"blocks.{i}.diffusion.time"], dtype=np.float64)))
    with torch.no_grad():
        return net(TorchOperators.from_numpy(ops, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("name", ["mesh", "bent_mesh", "cloud", "bent_cloud"])
def test_numpy_forward_is_the_torch_forward_in_float64(ops_of, name):
    """In float64 both implementations compute the same numbers up to round-off (1e-12
    relative); any difference in the formulas (a transposed weight, a missing abs, a sign)
    would show at the 1e-2 level."""
    ops = ops_of[name, 30]
    config = FeatureNetConfig(in_dim=64, width=32, n_blocks=3, out_dim=16, k_input=30, k_diffusion=30)
    net = _random_net(config, seed=7)
    weights = {k: v.numpy() for k, v in net.state_dict().items()}
    ours = NumpyFeatureNet(config, weights)(ops, dtype=np.float64)
    theirs = _torch_features64(net, ops, weights)
    assert ours.shape == (ops.n_vertices, 16) and ours.dtype == np.float64
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * scale)
    # the comparison exercises the gradient terms: without them the output moves by ~5 % of its scale
    no_gradients = {k: 0 * w if ".gradients." in k else w for k, w in weights.items()}
    assert np.abs(NumpyFeatureNet(config, no_gradients)(ops, dtype=np.float64) - ours).max() > 0.01 * scale


@pytest.mark.parametrize("model_name", [DEFAULT_MODEL, "faust_r_wks_pc"])
@pytest.mark.parametrize("name", ["mesh", "bent_mesh", "cloud", "bent_cloud"])
def test_bundled_model_numpy_and_torch_backends_agree(ops_of, model_name, name):
    """The features the matcher uses (float32, unit length): the NumPy backend and the torch
    one differ by float32 round-off only, and each is that close to the float64 answer (the
    NumPy one closer: its spectral and gradient sums run in float64)."""
    ops = ops_of[name, 100]
    cpu = load_feature_model(model_name)
    assert cpu.backend == "numpy"
    torch_model = FeatureModel(cpu.net, backend="torch")
    f_np, f_torch = cpu.features(ops), torch_model.features(ops)
    assert f_np.dtype == np.float32 and f_np.shape == (ops.n_vertices, 128)
    np.testing.assert_allclose(np.linalg.norm(f_np, axis=1), 1.0, atol=1e-6)
    exact = unit_rows(cpu.net(ops, dtype=np.float64))
    np.testing.assert_allclose(exact, unit_rows(_torch_features64(torch_model.torch_net(), ops, cpu.net.state_dict())),
                               atol=1e-12)
    # per vertex, |f - f_exact| / |f_exact| (= 1); measured on these shapes: NumPy <= 1.5e-6,
    # torch <= 2.6e-6, NumPy vs torch <= 2.5e-6
    assert np.linalg.norm(f_np - exact, axis=1).max() < 5e-6
    assert np.linalg.norm(f_torch - exact, axis=1).max() < 1e-5
    assert np.linalg.norm(f_np - f_torch, axis=1).max() < 1e-5


def test_numpy_features_with_a_thread_limit_are_the_same(ops_of):
    model = load_feature_model()
    ops = ops_of["mesh", 100]
    np.testing.assert_allclose(model.features(ops, threads=1), model.features(ops), atol=1e-6)


def test_bundled_numpy_copies_match_their_torch_files():
    """Every bundled .pt has its .npz copy, with the same configuration, metadata and weights
    bit for bit, made from this very .pt (its SHA-256): a retrained model whose copy was not
    refreshed fails here (python -m shapecorr.learn.convert ...)."""
    names = bundled_models()
    assert names == sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt")) == sorted(p.stem for p in WEIGHTS_DIR.glob("*.npz"))
    for name in names:
        pt, npz = FeatureModel.load(WEIGHTS_DIR / f"{name}.pt"), FeatureModel.load(WEIGHTS_DIR / f"{name}.npz")
        assert npz.meta.pop("converted_from") == {"file": f"{name}.pt", "sha256": sha256(WEIGHTS_DIR / f"{name}.pt")}
        assert npz.config == pt.config and npz.meta == pt.meta
        assert npz.net.state_dict().keys() == weight_shapes(pt.config).keys()
        for k, w in pt.net.state_dict().items():
            assert npz.net.state_dict()[k].dtype == np.float32
            np.testing.assert_array_equal(npz.net.state_dict()[k], w)


def test_convert_writes_an_npz_that_loads_to_the_same_model(tmp_path):
    torch.manual_seed(2)
    pt = FeatureModel(FeatureNet(TINY), {"note": "x"}).save(tmp_path / "tiny.pt")
    out = convert(pt)
    assert out == tmp_path / "tiny.npz"
    back = FeatureModel.load(out)
    assert back.config == TINY and back.meta == {"note": "x", "converted_from": {"file": "tiny.pt", "sha256": sha256(pt)}}
    with np.load(out, allow_pickle=False) as z:  # plain arrays and JSON text: no pickled objects
        assert json.loads(str(z["__config__"])) == TINY.to_dict()


def test_foreign_or_mismatched_npz_is_refused_with_the_reason(tmp_path):
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(FeatureModelError, match=r"foreign\.npz: not a readable shapecorr feature model \(no __format__ = 1 entry"):
        FeatureModel.load(tmp_path / "foreign.npz")
    torch.manual_seed(3)
    weights = {k: v.numpy() for k, v in FeatureNet(TINY).state_dict().items()}
    weights["first.weight"] = weights["first.weight"][:, :5]
    del weights["last.bias"]
    with pytest.raises(ValueError, match=r"missing last\.bias; first\.weight is \(16, 5\), expected \(16, 16\)"):
        NumpyFeatureNet(TINY, weights)


def test_backend_choice_and_its_errors(ops_of):
    model = load_feature_model()
    assert (model.backend, model.device) == ("numpy", "cpu")
    assert FeatureModel(model.net, device="cuda").backend == "torch"  # nothing runs until features()
    with pytest.raises(FeatureModelError, match="CPU only"):
        FeatureModel(model.net, device="cuda", backend="numpy")
    with pytest.raises(FeatureModelError, match="unknown feature backend 'jax'"):
        FeatureModel(model.net, backend="jax")
    ops = ops_of["mesh", 100]
    with pytest.raises(FeatureModelError, match=r"needs NumPy operators.*device='cpu'"):
        model.features(TorchOperators.from_numpy(ops))
    # the torch backend takes either kind of operators
    torch_model = FeatureModel(model.net, backend="torch")
    np.testing.assert_array_equal(torch_model.features(ops), torch_model.features(TorchOperators.from_numpy(ops)))


def test_features_run_without_importing_torch(tmp_path):
    """``import shapecorr``, ``shapecorr.learn``, loading a bundled model (and an .npz file) and
    computing features on the CPU never import torch (it costs about a second at start-up)."""
    code = f"""
import sys
import numpy as np
sys.path.insert(0, {str(REPO / "tests")!r})
import shapecorr, shapecorr.learn
from helpers import bumpy, point_cloud
from shapecorr.pipeline import load_preset, prepare
from shapecorr.learn import load_feature_model, surface_operators
model = load_feature_model()
for shape in (bumpy(3), point_cloud(bumpy(3))):
    P = prepare(shape, load_preset("default", k_features=100, k_final=30, k_init=15, k_descriptor=30), cache=False)
    f = model.features(surface_operators(P.shape, P.evals, P.evecs, P.mass, P.vertex_normals, model.config))
    assert f.shape == (shape.n_vertices, 128)
model.save({str(tmp_path / "m.npz")!r})
shapecorr.learn.FeatureModel.load({str(tmp_path / "m.npz")!r})
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
