"""Off-screen pictures of shapes, maps and textures (pyvista / VTK, no screen needed).

VTK renders through EGL when ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` (set here before
pyvista is imported, unless the caller chose another window), so these functions work on a
head-less machine. Every function returns the image as an ``(h, w, 3) uint8`` array and, when
``path`` is given, also writes it as PNG.

Shapes are drawn side by side in linked views. Each is centred and scaled to a unit bounding
box diagonal *for display only* (the shapes are not changed), so one camera suits all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core import Shape

DEFAULT_VIEW = (1.0, 0.45, -0.9)  # camera direction (from the object towards the camera)
DEFAULT_UP = (0.0, 1.0, 0.0)


def _pyvista():
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    return pv


def _display_frame(shape: Shape) -> np.ndarray:
    """Vertices centred on the bounding-box centre and scaled to unit diagonal."""
    v = np.asarray(shape.vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    diag = float(np.linalg.norm(hi - lo)) or 1.0
    return (v - 0.5 * (lo + hi)) / diag


def _faces_vtk(faces: np.ndarray) -> np.ndarray:
    return np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), faces.astype(np.int64)]).ravel()


def split_at_uv_seams(shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex texture coordinates for display: ``(vertices, faces, tcoords)``.

    OBJ-style UVs (``face_uv``) may give one vertex several UVs (at seams); VTK needs one per
    point, so each distinct (vertex, uv) pair becomes its own point. The shape is not changed.
    """
    if not shape.has_uv:
        raise ValueError(f"{shape.name}: the shape has no texture coordinates.")
    v = np.asarray(shape.vertices, dtype=np.float64)
    if shape.face_uv is None:
        return v, np.asarray(shape.faces), np.asarray(shape.uv)
    pairs = np.stack([shape.faces.ravel(), shape.face_uv.ravel()], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    return v[uniq[:, 0]], inv.reshape(-1, 3), np.asarray(shape.uv)[uniq[:, 1]]


def _as_rgb_uint8(colors) -> np.ndarray:
    c = np.asarray(colors)
    if c.dtype != np.uint8:
        c = np.clip(np.round(255 * c.astype(np.float64)), 0, 255).astype(np.uint8) if c.max() <= 1.0 \
            else np.clip(c, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(c[:, :3])


def _add_shape(plotter, pv, shape: Shape, colors=None, textured: bool | None = None, point_size: float | None = None,
               lighting: bool = True):
    v = _display_frame(shape)
    has_tex = shape.has_uv and shape.texture is not None and Path(shape.texture).exists() and shape.is_mesh
    if textured is None:
        textured = colors is None and shape.vertex_colors is None and has_tex
    if colors is None and not textured and shape.vertex_colors is not None:
        colors = shape.vertex_colors
    if shape.is_point_cloud:
        cloud = pv.PolyData(v)
        kw = {}
        if colors is not None:
            cloud.point_data["rgb"] = _as_rgb_uint8(colors)
            kw = {"scalars": "rgb", "rgb": True}
        else:
            kw = {"color": "lightgray"}
        ps = point_size or max(3.0, 400.0 / np.sqrt(len(v)))
        plotter.add_mesh(cloud, render_points_as_spheres=True, point_size=ps, lighting=lighting, **kw)
        return
    if textured:
        if not has_tex:
            raise ValueError(f"{shape.name}: cannot draw a texture: the shape has no UVs or no texture image "
                             f"({shape.texture}).")
        sv, sf, tc = split_at_uv_seams(shape)
        sv = (sv - (np.asarray(shape.vertices).min(0) + np.asarray(shape.vertices).max(0)) / 2) / (
            float(np.linalg.norm(np.ptp(np.asarray(shape.vertices), axis=0))) or 1.0)
        mesh = pv.PolyData(sv, _faces_vtk(sf))
        mesh.active_texture_coordinates = np.ascontiguousarray(tc, dtype=np.float32)
        tex = pv.read_texture(str(shape.texture))
        tex.interpolate = True
        plotter.add_mesh(mesh, texture=tex, lighting=lighting, smooth_shading=True)
        return
    mesh = pv.PolyData(v, _faces_vtk(shape.faces))
    if colors is not None:
        mesh.point_data["rgb"] = _as_rgb_uint8(colors)
        plotter.add_mesh(mesh, scalars="rgb", rgb=True, lighting=lighting, smooth_shading=True)
    else:
        plotter.add_mesh(mesh, color="lightgray", lighting=lighting, smooth_shading=True)


def render_shapes(shapes: Sequence[Shape], path=None, *, colors: Sequence | None = None,
                  textured: Sequence[bool | None] | None = None, titles: Sequence[str] | None = None,
                  window_size: tuple[int, int] | None = None, view=DEFAULT_VIEW, up=DEFAULT_UP,
                  background: str = "white", point_size: float | None = None, lighting: bool = True,
                  zoom: float = 1.0) -> np.ndarray:
    """Draw ``shapes`` side by side in linked views; returns the image ``(h, w, 3) uint8``.

    colors : per shape, ``(n_i, 3)`` colours (uint8 or float 0-1) or None.
    textured : per shape, True (draw the UV texture), False, or None (automatic: the texture when
        the shape has UVs and an existing texture image and no colours are given; otherwise its
        vertex colours; otherwise plain grey).
    view, up : camera direction (object -> camera) and up vector, in the shapes' frame.
    path : if given, the PNG is written there too.
    Point clouds are drawn as points (spheres).
    """
    shapes = list(shapes)
    if not shapes:
        raise ValueError("render_shapes needs at least one shape.")
    view = DEFAULT_VIEW if view is None else view
    up = DEFAULT_UP if up is None else up
    n = len(shapes)
    colors = list(colors) if colors is not None else [None] * n
    textured = list(textured) if textured is not None else [None] * n
    if len(colors) != n or len(textured) != n:
        raise ValueError("colors and textured need one entry per shape.")
    for s, c in zip(shapes, colors):
        if c is not None and len(c) != s.n_vertices:
            raise ValueError(f"{s.name}: {len(c)} colours for {s.n_vertices} vertices.")
    pv = _pyvista()
    window_size = tuple(window_size or (480 * n, 520))
    plotter = pv.Plotter(off_screen=True, shape=(1, n), window_size=list(window_size), border=False)
    try:
        for i, shape in enumerate(shapes):
            plotter.subplot(0, i)
            plotter.set_background(background)
            _add_shape(plotter, pv, shape, colors[i], textured[i], point_size, lighting)
            if titles is not None and i < len(titles) and titles[i]:
                plotter.add_text(str(titles[i]), font_size=11, color="black", position="upper_edge")
            direction = np.asarray(view, dtype=float)
            direction = direction / np.linalg.norm(direction)
            plotter.camera.focal_point = (0.0, 0.0, 0.0)
            plotter.camera.position = tuple(2.2 * direction)
            plotter.camera.up = tuple(up)
            plotter.reset_camera()
            if zoom != 1.0:
                plotter.camera.zoom(zoom)
        if n > 1:
            plotter.link_views()
        img = plotter.screenshot(None, return_img=True)
    finally:
        plotter.close()
    img = np.ascontiguousarray(img[..., :3])
    if path is not None:
        from PIL import Image

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(str(path))
    return img


def render_correspondence(source: Shape, target: Shape, p2p_21, path=None, *, scheme: str = "xyz",
                          source_colors=None, window_size: tuple[int, int] | None = None,
                          titles: Sequence[str] | None = ("source", "target (colours through the map)"),
                          **kwargs) -> np.ndarray:
    """Source coloured by ``scheme`` (see :data:`COLOR_SCHEMES`) and target coloured through the
    map (``target_colors = source_colors[p2p_21]``), side by side; returns the image.

    ``source_colors`` (``(n1, 3)``) replaces the scheme. Extra keywords go to :func:`render_shapes`.
    """
    from .colors import correspondence_colors

    p2p_21 = np.asarray(p2p_21, dtype=np.int64)
    if p2p_21.shape != (target.n_vertices,):
        raise ValueError(f"p2p_21 must have one entry per target vertex ({target.n_vertices}), got {p2p_21.shape}.")
    if len(p2p_21) and (p2p_21.min() < 0 or p2p_21.max() >= source.n_vertices):
        raise ValueError("p2p_21 refers to source vertices that do not exist.")
    c1 = correspondence_colors(source, scheme) if source_colors is None else _as_rgb_uint8(source_colors)
    return render_shapes([source, target], path, colors=[c1, c1[p2p_21]], textured=[False, False],
                         titles=titles, window_size=window_size, **kwargs)


def render_textured(shape: Shape, path=None, *, window_size: tuple[int, int] = (600, 600), title: str | None = None,
                    **kwargs) -> np.ndarray:
    """One mesh drawn with its UV texture (``shape.texture``); returns the image."""
    if not shape.is_mesh or not shape.has_uv or shape.texture is None:
        raise ValueError(f"{shape.name}: render_textured needs a mesh with UVs and a texture image.")
    if not Path(shape.texture).exists():
        raise FileNotFoundError(f"texture image {shape.texture} not found.")
    return render_shapes([shape], path, textured=[True], titles=[title] if title else None,
                         window_size=window_size, **kwargs)


def render_side_by_side(shapes: Sequence[Shape], path=None, *, titles: Sequence[str] | None = ("source", "target", "result"),
                        colors: Sequence | None = None, **kwargs) -> np.ndarray:
    """Source / target / result (or any list), each drawn as it is best shown: textured when it
    has UVs and a texture, else with its vertex colours (or ``colors[i]``), else plain."""
    shapes = list(shapes)
    titles = list(titles)[:len(shapes)] if titles is not None else None
    return render_shapes(shapes, path, titles=titles, colors=colors, **kwargs)
