"""Splat files: the standard 3D Gaussian Splatting PLY, our binding file, deformed sequences.

The 3DGS PLY (what the common splat viewers read, as written by the reference implementation):
binary little-endian, one ``vertex`` element of float32 properties
``x y z nx ny nz f_dc_0..2 f_rest_0..44 opacity scale_0..2 rot_0..3`` with opacity as a logit,
scales as logarithms, the rotation as a w, x, y, z quaternion, and ``f_rest`` channel-major
(``f_rest_{c*15 + k}`` is coefficient ``k + 1`` of channel ``c``). Lower SH degrees are padded
with zeros (degree 3 layout always).

The binding file (``binding.npz``, next to the PLY) keeps what the PLY cannot: the rest mesh
and, per Gaussian, its face, barycentrics, normal offset and local rotation/scales (format 1);
after face splitting also the carrier mesh's ``midpoints`` and ``carrier_faces`` (format 2);
and the rasterizer's 2D filter the splats were fitted with, ``rasterize_mode`` and ``eps2d`` (a
file without them: ``"classic"``, 0.3, gsplat's defaults).

Splats fitted with the defaults of ``splat fit`` (``"antialiased"``, ``eps2d`` 0.1: Mip-Splatting's
2D filter) look as fitted in a viewer that draws with that filter; a viewer that only draws the
classic way (``eps2d`` 0.3 added, opacity kept) shows them blurred (Spot: 23 dB against 36 as
fitted; see docs/splats.md), so the PLY names its mode in a header comment (below).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.errors import OutputError, SettingsError, ShapecorrError
from .binding import SplatBinding, WorldGaussians
from .raster import check_filter
from .sh import n_coeffs

PLY_NAME = "splats.ply"
BINDING_NAME = "binding.npz"
N_REST = 45  # f_rest_0..44: SH degree 3
_PROPS = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(N_REST)]
          + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
#: the PLY header comment that names the rasterize mode splats were trained for (the convention
#: of Brush and of proposals for gsplat and nerfstudio: ``mip`` = antialiased, ``default`` = classic)
RENDER_MODE_COMMENT = "SplatRenderMode:"
_RENDER_MODE_WORDS = {"antialiased": "mip", "classic": "default"}
_BINDING_FORMAT = 1
_CARRIER_FORMAT = 2  # with midpoints and carrier_faces (faces split during fitting)


class SplatFileError(ShapecorrError):
    """A splat file (PLY or binding) that cannot be read."""


class GaussianCloud(NamedTuple):
    """The stored quantities of a 3DGS PLY, as float32 arrays (what :func:`read_ply` returns)."""

    means: np.ndarray  # (n, 3)
    normals: np.ndarray  # (n, 3), zeros in files written by 3DGS tools
    sh: np.ndarray  # (n, 16, 3)
    opacity_logit: np.ndarray  # (n,)
    log_scales: np.ndarray  # (n, 3)
    quats: np.ndarray  # (n, 4) w, x, y, z
    rasterize_mode: str | None = None  # "antialiased" / "classic" from the header comment, None: not said

    @property
    def opacities(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.opacity_logit.astype(np.float64)))

    @property
    def scales(self) -> np.ndarray:
        return np.exp(self.log_scales.astype(np.float64))


def cloud_from_world(g: WorldGaussians, rasterize_mode: str | None = None) -> GaussianCloud:
    """The PLY quantities of world Gaussians (opacity logit, log scales, SH padded to degree 3);
    ``rasterize_mode``: the mode they were fitted for, written in the PLY's header.
    SH kept in the rest frames of the Gaussians' triangles are turned by the triangles' rotations
    (:func:`~.sh.rotate_sh`), so a splat viewer shows a deformed pose's view-dependent colour as
    our renderer does."""
    import torch

    from .sh import rotate_sh

    n = len(g.means)
    sh = np.zeros((n, 16, 3), dtype=np.float32)
    coeffs = np.asarray(g.sh, dtype=np.float64)
    if g.rotations is not None and coeffs.shape[1] > 1:
        coeffs = rotate_sh(torch.as_tensor(coeffs), torch.as_tensor(np.asarray(g.rotations, dtype=np.float64))).numpy()
    sh[:, :coeffs.shape[1]] = coeffs
    op = np.clip(np.asarray(g.opacities, dtype=np.float64), 1e-7, 1 - 1e-7)
    return GaussianCloud(g.means.astype(np.float32), np.zeros((n, 3), np.float32), sh,
                         np.log(op / (1 - op)).astype(np.float32),
                         np.log(np.maximum(g.scales, 1e-12)).astype(np.float32), g.quats.astype(np.float32),
                         rasterize_mode)


def write_ply(path, cloud: GaussianCloud) -> Path:
    """Write ``cloud`` as a standard 3DGS PLY at ``path`` (with a ``comment SplatRenderMode: mip``
    or ``default`` header line when the cloud's ``rasterize_mode`` is known: viewers that read it
    draw anti-aliased splats as they were fitted; others ignore comments)."""
    path = Path(path)
    n = len(cloud.means)
    rest = np.transpose(cloud.sh[:, 1:, :], (0, 2, 1)).reshape(n, N_REST)  # channel-major
    data = np.concatenate([cloud.means, cloud.normals, cloud.sh[:, 0, :], rest, cloud.opacity_logit[:, None],
                           cloud.log_scales, cloud.quats], axis=1).astype("<f4")
    mode = _RENDER_MODE_WORDS.get(cloud.rasterize_mode)
    header = "ply\nformat binary_little_endian 1.0\n" + (f"comment {RENDER_MODE_COMMENT} {mode}\n" if mode else "") + \
        f"element vertex {n}\n" + \
        "".join(f"property float {p}\n" for p in _PROPS) + "end_header\n"
    try:
        with open(path, "wb") as fh:
            fh.write(header.encode("ascii"))
            fh.write(np.ascontiguousarray(data).tobytes())
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the splat PLY ({exc.strerror}).") from exc
    return path


def read_ply(path) -> GaussianCloud:
    """Read a 3DGS PLY (binary little-endian, float properties; SH degree 0-3; extra properties ignored)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SplatFileError(f"{path}: cannot read ({exc.strerror}).") from exc
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply") or end < 0:
        raise SplatFileError(f"{path}: not a PLY file (no 'ply' ... 'end_header' header).")
    lines = raw[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise SplatFileError(f"{path}: only binary little-endian splat PLYs are read (the 3DGS layout).")
    n, props, in_vertex, mode = None, [], False, None
    types = {"float": "<f4", "float32": "<f4", "double": "<f8", "uchar": "u1", "uint8": "u1", "int": "<i4"}
    for line in lines:
        tok = line.split()
        if tok[:2] == ["comment", RENDER_MODE_COMMENT] and len(tok) > 2:
            mode = {w: m for m, w in _RENDER_MODE_WORDS.items()}.get(tok[2])
        elif tok[:1] == ["element"]:
            in_vertex = tok[1] == "vertex"
            if in_vertex:
                n = int(tok[2])
            elif n is not None:
                break  # only the first element (vertex) is read
        elif tok[:1] == ["property"] and in_vertex:
            if tok[1] == "list" or tok[1] not in types:
                raise SplatFileError(f"{path}: unsupported vertex property {' '.join(tok[1:])!r}.")
            props.append((tok[2], types[tok[1]]))
    names = [p for p, _ in props]
    need = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3"]
    missing = [p for p in need if p not in names]
    if n is None or missing:
        raise SplatFileError(f"{path}: not a 3D Gaussian Splatting PLY (missing {', '.join(missing) or 'vertex'}).")
    dt = np.dtype(props)
    if len(raw) - end - len(b"end_header\n") < n * dt.itemsize:
        raise SplatFileError(f"{path}: truncated ({n} splats declared).")
    rec = np.frombuffer(raw, dtype=dt, count=n, offset=end + len(b"end_header\n"))

    def cols(keys):
        return np.stack([rec[k].astype(np.float32) for k in keys], axis=1) if keys else np.zeros((n, 0), np.float32)

    n_rest = sum(1 for p in names if p.startswith("f_rest_"))
    if n_rest % 3 or n_rest // 3 + 1 not in (1, 4, 9, 16):
        raise SplatFileError(f"{path}: {n_rest} f_rest properties do not make an SH degree 0-3.")
    k = n_rest // 3
    sh = np.zeros((n, 16, 3), dtype=np.float32)
    sh[:, 0] = cols(["f_dc_0", "f_dc_1", "f_dc_2"])
    if k:
        sh[:, 1:1 + k] = np.transpose(cols([f"f_rest_{i}" for i in range(n_rest)]).reshape(n, 3, k), (0, 2, 1))
    normals = cols(["nx", "ny", "nz"]) if "nx" in names else np.zeros((n, 3), np.float32)
    return GaussianCloud(cols(["x", "y", "z"]), normals, sh, rec["opacity"].astype(np.float32),
                         cols(["scale_0", "scale_1", "scale_2"]), cols(["rot_0", "rot_1", "rot_2", "rot_3"]), mode)


def save_binding(path, b: SplatBinding) -> Path:
    """Write the binding (rest mesh, per-Gaussian binding and appearance, optional pose) as ``.npz``."""
    path = Path(path)
    arrays = {"format": np.int64(_BINDING_FORMAT), "rest_vertices": b.rest_vertices, "faces": b.faces, "face": b.face,
                  "bary": b.bary, "offset": b.offset, "quat": b.quat, "log_scale": b.log_scale, "sh": b.sh,
                  "opacity_logit": b.opacity_logit, "sh_degree": np.int64(b.sh_degree),
                  "rasterize_mode": np.str_(b.rasterize_mode), "eps2d": np.float64(b.eps2d)}
    if b.pose_vertices is not None:
        arrays["pose_vertices"] = b.pose_vertices
    if b.midpoints is not None:  # split faces: format 2 (a reader of format 1 would drop the carrier)
        arrays.update(format=np.int64(_CARRIER_FORMAT), midpoints=b.midpoints, carrier_faces=b.carrier_faces)
    try:
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the binding ({exc.strerror}).") from exc
    return path


def load_binding(path) -> SplatBinding:
    """Read a binding written by :func:`save_binding` (a folder: its ``binding.npz``)."""
    path = Path(path)
    if path.is_dir():
        path = path / BINDING_NAME
    if not path.exists():
        raise SplatFileError(f"{path}: no such binding file; give a folder written by `shapecorr splat fit` "
                             "(it holds splats.ply and binding.npz).")
    try:
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise SplatFileError(f"{path}: not a binding file ({exc}).") from exc
    if int(d.get("format", -1)) not in (_BINDING_FORMAT, _CARRIER_FORMAT):
        raise SplatFileError(f"{path}: unknown binding format {d.get('format')}; expected {_BINDING_FORMAT} or "
                             f"{_CARRIER_FORMAT}.")
    # files written before the filter was recorded: gsplat's defaults, as they were fitted
    mode = str(d["rasterize_mode"]) if "rasterize_mode" in d else "classic"
    eps2d = float(d["eps2d"]) if "eps2d" in d else 0.3
    try:
        check_filter(mode, eps2d)
    except SettingsError as exc:
        raise SplatFileError(f"{path}: unknown rasterizer filter ({exc})") from exc
    return SplatBinding(d["rest_vertices"], d["faces"], d["face"], d["bary"], d["offset"], d["quat"],
                        d["log_scale"], d["sh"], d["opacity_logit"], int(d["sh_degree"]), d.get("pose_vertices"),
                        d.get("midpoints"), d.get("carrier_faces"), mode, eps2d)


def save_splats(folder, b: SplatBinding) -> tuple[Path, Path]:
    """``folder/splats.ply`` (the current pose, standard layout) and ``folder/binding.npz``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return (write_ply(folder / PLY_NAME, cloud_from_world(b.follow(), b.rasterize_mode)),
            save_binding(folder / BINDING_NAME, b))


def export_sequence(b: SplatBinding, frames, folder, *, prefix: str = "frame") -> list[Path]:
    """One standard 3DGS PLY per deformed pose in ``frames`` (each ``(n_vertices, 3)``):
    ``folder/frame_0000.ply`` ...; existing files are not overwritten."""
    folder = Path(folder)
    frames = list(frames)
    paths = [folder / f"{prefix}_{i:04d}.ply" for i in range(len(frames))]
    taken = [p for p in paths if p.exists()]
    if taken:
        raise OutputError(f"{taken[0]} exists; choose an empty folder for the sequence.")
    folder.mkdir(parents=True, exist_ok=True)
    for p, v in zip(paths, frames):
        write_ply(p, cloud_from_world(b.follow(v), b.rasterize_mode))
    return paths


def sh_degree_of(cloud: GaussianCloud) -> int:
    """The highest SH degree with a non-zero coefficient (0-3)."""
    for d in (3, 2, 1):
        if np.any(cloud.sh[:, n_coeffs(d - 1):n_coeffs(d)]):
            return d
    return 0
