"""Splat files: the standard 3DGS PLY (exact round trip, layout), binding files, sequences."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import icosphere

from shapecorr.core.errors import OutputError
from shapecorr.splat import (
    GaussianCloud,
    SplatFileError,
    cloud_from_world,
    export_sequence,
    load_binding,
    read_ply,
    save_splats,
    write_ply,
)
from shapecorr.splat.fit import initial_binding
from shapecorr.splat.meshview import SolidAppearance

_LAYOUT = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(45)]
           + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def _cloud(n=50, seed=0) -> GaussianCloud:
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.normal(size=shape).astype(np.float32)

    return GaussianCloud(r(n, 3), np.zeros((n, 3), np.float32), r(n, 16, 3), r(n), r(n, 3), r(n, 4))


def test_ply_round_trip_is_exact(tmp_path):
    c = _cloud()
    back = read_ply(write_ply(tmp_path / "s.ply", c))
    assert back.rasterize_mode is None  # no header comment written, none read
    for name in GaussianCloud._fields[:-1]:
        a, b = getattr(c, name), getattr(back, name)
        assert a.dtype == b.dtype == np.float32
        assert np.array_equal(a, b), name


def test_ply_has_the_standard_3dgs_layout(tmp_path):
    c = _cloud(n=2)
    raw = write_ply(tmp_path / "s.ply", c).read_bytes()
    header = raw[:raw.index(b"end_header\n")].decode().splitlines()
    assert header[:3] == ["ply", "format binary_little_endian 1.0", "element vertex 2"]
    assert [line.split()[2] for line in header if line.startswith("property")] == _LAYOUT
    assert all(line.split()[1] == "float" for line in header if line.startswith("property"))
    # f_rest is channel-major: f_rest_{c*15 + k} is coefficient k + 1 of channel c
    body = np.frombuffer(raw[raw.index(b"end_header\n") + 11:], dtype="<f4").reshape(2, 62)
    assert body[0, 9 + 15 * 2 + 4] == c.sh[0, 5, 2]
    assert body[1, 54] == c.opacity_logit[1] and body[1, 58] == c.quats[1, 0]


def test_ply_names_the_rasterize_mode_in_a_header_comment(tmp_path):
    from dataclasses import replace

    s = icosphere(1)
    b = initial_binding(s.vertices, s.faces, SolidAppearance(s.vertices, s.faces), 30, 1)
    for mode, word in (("antialiased", "mip"), ("classic", "default")):
        ply, _ = save_splats(tmp_path / mode, replace(b, rasterize_mode=mode))
        raw = ply.read_bytes()
        header = raw[:raw.index(b"end_header\n")].decode().splitlines()
        assert f"comment SplatRenderMode: {word}" in header and header[:2] == ["ply", "format binary_little_endian 1.0"]
        assert read_ply(ply).rasterize_mode == mode
        frames = export_sequence(replace(b, rasterize_mode=mode), [s.vertices], tmp_path / f"{mode}_seq")
        assert read_ply(frames[0]).rasterize_mode == mode


def test_world_gaussians_are_stored_as_logit_and_log(tmp_path):
    s = icosphere(1)
    b = initial_binding(s.vertices, s.faces, SolidAppearance(s.vertices, s.faces), 30, 1)
    g = b.follow()
    c = read_ply(write_ply(tmp_path / "s.ply", cloud_from_world(g)))
    np.testing.assert_allclose(c.opacities, g.opacities, rtol=1e-5)
    np.testing.assert_allclose(c.scales, g.scales, rtol=1e-5)
    np.testing.assert_allclose(c.sh[:, :4], g.sh, atol=1e-7)
    assert not c.sh[:, 4:].any()  # degree 1 padded to the degree-3 layout


def test_binding_round_trip_and_folder(tmp_path):
    s = icosphere(1)
    b = initial_binding(s.vertices, s.faces, SolidAppearance(s.vertices, s.faces), 40, 2, seed=4)
    b = b.posed(s.vertices * 1.5)
    ply, npz = save_splats(tmp_path / "out", b)
    assert ply.name == "splats.ply" and npz.name == "binding.npz" and npz.parent == ply.parent
    back = load_binding(tmp_path / "out")
    for name in ("rest_vertices", "faces", "face", "bary", "offset", "quat", "log_scale", "sh", "opacity_logit",
                 "pose_vertices"):
        assert np.array_equal(getattr(b, name), getattr(back, name)), name
    assert back.sh_degree == 2 and back.rasterize_mode == "classic"
    np.testing.assert_allclose(read_ply(ply).means, b.follow().means.astype(np.float32))


def test_binding_keeps_its_2d_filter_and_older_files_are_classic(tmp_path):
    from dataclasses import replace

    from shapecorr.core.errors import SettingsError
    from shapecorr.splat import Camera, intrinsics, look_at, render_binding, render_gaussians

    s = icosphere(1)
    b = replace(initial_binding(s.vertices, s.faces, SolidAppearance(s.vertices, s.faces), 40, 1, seed=1),
                rasterize_mode="antialiased", eps2d=0.1)
    _, npz = save_splats(tmp_path / "aa", b)
    back = load_binding(npz)
    assert (back.rasterize_mode, back.eps2d) == ("antialiased", 0.1)
    with np.load(npz) as z:  # a file written before the filter was recorded
        old = {k: z[k] for k in z.files if k not in ("rasterize_mode", "eps2d")}
    np.savez(tmp_path / "old.npz", **old)
    back = load_binding(tmp_path / "old.npz")
    assert (back.rasterize_mode, back.eps2d) == ("classic", 0.3)
    for name, bad in (("mode", {"rasterize_mode": np.str_("mip")}), ("eps", {"eps2d": np.float64(-1.0)})):
        np.savez(tmp_path / f"bad_{name}.npz", **old, **bad)
        with pytest.raises(SplatFileError, match=f"bad_{name}.npz: unknown rasterizer filter"):
            load_binding(tmp_path / f"bad_{name}.npz")
    with pytest.raises(SettingsError, match="rasterize mode"):
        replace(b, rasterize_mode="mip")
    with pytest.raises(SettingsError, match="eps2d=0.0"):
        replace(b, eps2d=0.0)
    # a binding is drawn with its own filter
    cam = Camera(look_at([0, 0, 3.5], [0, 0, 0]), intrinsics(40, 40), 40, 40)
    img, _ = render_binding(b, cam)
    for mode, eps2d, same in (("antialiased", 0.1, True), ("classic", 0.1, False), ("antialiased", 0.3, False)):
        other, _ = render_gaussians(b.follow(quats=False), cam, sh_degree=1, mode=mode, eps2d=eps2d)
        assert np.array_equal(img, other) == same, (mode, eps2d)


def test_sequence_export_one_ply_per_frame_and_never_overwrites(tmp_path):
    s = icosphere(1)
    b = initial_binding(s.vertices, s.faces, SolidAppearance(s.vertices, s.faces), 20, 0)
    frames = [s.vertices * k for k in (1.0, 1.1, 1.2)]
    paths = export_sequence(b, frames, tmp_path / "seq")
    assert [p.name for p in paths] == ["frame_0000.ply", "frame_0001.ply", "frame_0002.ply"]
    np.testing.assert_allclose(read_ply(paths[2]).means, b.follow(frames[2]).means.astype(np.float32))
    with pytest.raises(OutputError, match="exists"):
        export_sequence(b, frames, tmp_path / "seq")


def test_a_file_that_is_not_a_splat_ply_is_named(tmp_path):
    p = tmp_path / "mesh.ply"
    p.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                  b"property float z\nend_header\n" + np.zeros(3, "<f4").tobytes())
    with pytest.raises(SplatFileError, match="mesh.ply: not a 3D Gaussian Splatting PLY"):
        read_ply(p)
    with pytest.raises(SplatFileError, match="binding"):
        load_binding(tmp_path)


def test_deformed_pose_ply_turns_the_view_dependent_colour(tmp_path):
    """The PLY of a deformed pose, drawn as plain world Gaussians (what a splat viewer does),
    gives the picture of the binding in that pose (SH turned with the triangles)."""
    import torch

    from shapecorr.splat import Camera, WorldGaussians, intrinsics, look_at, render_binding, render_gaussians
    from shapecorr.splat.sh import eval_sh, rotate_sh

    s = icosphere(2)
    v = np.asarray(s.vertices, dtype=np.float64)
    b = initial_binding(v, s.faces, SolidAppearance(v, s.faces), 400, 3)
    rng = np.random.default_rng(0)
    sh = b.sh.copy()
    sh[:, 1:] = rng.normal(scale=0.3, size=sh[:, 1:].shape)
    b = type(b)(**{**b.__dict__, "sh": sh})
    ang = 0.9 * v[:, 1:2]
    pose = np.concatenate([v[:, :1] * np.cos(ang) - v[:, 2:] * np.sin(ang), v[:, 1:2],
                           v[:, :1] * np.sin(ang) + v[:, 2:] * np.cos(ang)], 1)
    c = read_ply(write_ply(tmp_path / "posed.ply", cloud_from_world(b.follow(pose))))
    plain = WorldGaussians(c.means, c.quats, c.scales, None, c.opacities, c.sh.astype(np.float64))
    cam = Camera(look_at([0.4, 0.8, 3.2], [0.0, 0.0, 0.0]), intrinsics(64, 64), 64, 64)
    want, _ = render_binding(b, cam, pose)
    got, _ = render_gaussians(plain, cam)
    assert np.abs(want - got).max() < 2e-3  # float32 storage
    unturned = WorldGaussians(c.means, c.quats, c.scales, None, c.opacities, sh.astype(np.float64))
    assert np.abs(want - render_gaussians(unturned, cam)[0]).max() > 0.05  # the turn matters here
    # rotate_sh: turned coefficients seen along d = the originals seen along R^T d
    q, _ = np.linalg.qr(rng.normal(size=(20, 3, 3)))
    R = torch.as_tensor(q * np.sign(np.linalg.det(q))[:, None, None])
    k = torch.as_tensor(rng.normal(size=(20, 16, 3)))
    d = torch.as_tensor(rng.normal(size=(20, 3)))
    torch.testing.assert_close(eval_sh(3, rotate_sh(k, R), d), eval_sh(3, k, torch.einsum("nji,nj->ni", R, d)),
                               atol=1e-12, rtol=0)
