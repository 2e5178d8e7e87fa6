"""Off-screen pictures of shapes, maps and textures (NumPy rasterizer + Pillow, no screen,
no OpenGL).

Every function returns the image as an ``(h, w, 3) uint8`` array and, when ``path`` is given,
also writes it as PNG. Shapes are drawn side by side in panels seen by one camera (``view``,
``up``) with one scale. Each shape is centred and scaled to a unit bounding-box diagonal *for
display only* (the shapes are not changed); shapes given one ``same_scale`` group share the
largest diagonal of the group instead, so that their sizes compare. Meshes are drawn with smooth two-sided Lambert
shading (vertex colours interpolated, or the UV texture sampled per pixel), point clouds as
shaded discs. The projection is orthographic; pictures of the same input are identical on
every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core import Shape
from ..core.raster import (
    camera_basis,
    camera_direction,
    lambert,
    rasterize_points,
    rasterize_triangles,
    sample_texture,
)
from ..spectral import orientation_sign

DEFAULT_VIEW = (1.0, 0.45, -0.9)  # camera direction (from the object towards the camera)
DEFAULT_UP = (0.0, 1.0, 0.0)
PLAIN = (0.82, 0.82, 0.82)  # shapes without colours or texture
FILL = 0.9  # fraction of a panel the largest shape spans


def _drawn_box(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """The bounding box of what is drawn (a mesh's faces: a stray vertex used by no face does
    not shrink the picture)."""
    v = np.asarray(shape.vertices, dtype=np.float64)
    drawn = v[shape.surface_vertices] if shape.is_mesh else v
    return drawn.min(0), drawn.max(0)


def _diagonal(shape: Shape) -> float:
    lo, hi = _drawn_box(shape)
    return float(np.linalg.norm(hi - lo)) or 1.0


def _display_frame(shape: Shape, diag: float | None = None) -> np.ndarray:
    """Vertices centred on the bounding-box centre of what is drawn and divided by ``diag``
    (default: the box's own diagonal, so the shape has unit diagonal)."""
    lo, hi = _drawn_box(shape)
    return (np.asarray(shape.vertices, dtype=np.float64) - 0.5 * (lo + hi)) / (diag or _diagonal(shape))


def _group_diagonals(shapes: Sequence[Shape], same_scale) -> list[float | None]:
    """Per shape, the diagonal it is divided by: its own (None) without ``same_scale``, else the
    largest of its group (shapes with equal labels keep their sizes relative to each other)."""
    if same_scale is None:
        return [None] * len(shapes)
    labels = list(same_scale)
    if len(labels) != len(shapes):
        raise ValueError(f"same_scale needs one group label per shape ({len(shapes)}), got {len(labels)}.")
    diags = [_diagonal(s) for s in shapes]
    largest = {g: max(d for d, h in zip(diags, labels) if h == g) for g in set(labels)}
    return [largest[g] for g in labels]


def split_at_uv_seams(shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex texture coordinates for display: ``(vertices, faces, tcoords)``.

    OBJ-style UVs (``face_uv``) may give one vertex several UVs (at seams); renderers that need
    one per point (VTK in the viewer) get each distinct (vertex, uv) pair as its own point. The
    shape is not changed.
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


def _has_texture(shape: Shape) -> bool:
    return shape.is_mesh and shape.has_uv and shape.texture is not None and Path(shape.texture).exists()


def _texture_image(shape: Shape) -> np.ndarray:
    from PIL import Image

    with Image.open(shape.texture) as img:
        return np.asarray(img.convert("RGB"))


def front_side(faces: np.ndarray, vertices: np.ndarray, n_components: int) -> int:
    """The ``cull`` value of :func:`rasterize_triangles` that draws only what can be seen of a
    closed surface: +1 (-1) when ``faces`` form one closed, consistently wound surface whose
    faces are wound counter-clockwise seen from outside (inside); 0 (draw both sides) when
    the surface is open, inconsistently wound or in several pieces."""
    faces = np.asarray(faces, dtype=np.int64)
    if n_components != 1 or len(faces) == 0:
        return 0
    n = int(faces.max()) + 1
    head, tail = faces.ravel(), np.roll(faces, -1, axis=1).ravel()
    # closed and consistently wound: every directed edge once, and its reverse once, i.e. the
    # sorted directed edges have no repeat and equal the sorted reversed ones
    directed = np.sort(head * n + tail)
    if (directed[1:] == directed[:-1]).any() or not np.array_equal(directed, np.sort(tail * n + head)):
        return 0
    return int(orientation_sign(np.asarray(vertices, dtype=np.float64), faces))


class _Panel:
    """One shape as the camera sees it: rotated display coordinates and what to paint."""

    def __init__(self, shape: Shape, rotation: np.ndarray, colors, textured: bool | None, diag: float | None = None):
        self.shape = shape
        self.cam = _display_frame(shape, diag) @ rotation.T  # (n, 3): right, up, towards the camera
        self.rotation = rotation
        has_tex = _has_texture(shape)
        if textured is None:
            textured = colors is None and shape.vertex_colors is None and has_tex
        if textured and not has_tex:
            raise ValueError(f"{shape.name}: cannot draw a texture: the shape has no UVs or no texture image "
                             f"({shape.texture}).")
        if colors is None and not textured and shape.vertex_colors is not None:
            colors = shape.vertex_colors
        self.textured = bool(textured)
        # a closed surface: only the faces towards the camera can be seen (half the work)
        self.cull = front_side(shape.faces, shape.vertices, shape.n_components) if shape.is_mesh else 0
        self.colors = None if colors is None else _as_rgb_uint8(colors).astype(np.float64) / 255.0

    def _drawn_xy(self) -> np.ndarray:
        return self.cam[self.shape.surface_vertices, :2] if self.shape.is_mesh else self.cam[:, :2]

    def half_extent(self) -> np.ndarray:
        xy = self._drawn_xy()
        return np.maximum(0.5 * (xy.max(0) - xy.min(0)), 1e-9)

    def centre(self) -> np.ndarray:
        xy = self._drawn_xy()
        return 0.5 * (xy.min(0) + xy.max(0))

    def draw(self, size: tuple[int, int], scale: float, background: np.ndarray, lighting: bool,
             point_radius: float) -> np.ndarray:
        """The panel as ``(h, w, 3)`` float RGB in [0, 1]; ``scale``: pixels per display unit,
        ``point_radius``: the radius in pixels of a point-cloud point."""
        h, w = size
        xy = (self.cam[:, :2] - self.centre()) * scale
        xy = np.stack([xy[:, 0] + 0.5 * w, 0.5 * h - xy[:, 1]], axis=1)
        image = np.empty((h * w, 3))
        image[:] = background
        if self.shape.is_mesh:
            pixel, rgb = self._mesh_fragments(xy, size, lighting)
        else:
            pixel, rgb = self._point_fragments(xy, size, point_radius, scale, lighting)
        image[pixel] = rgb
        return image.reshape(h, w, 3)

    def _mesh_fragments(self, xy, size, lighting):
        faces = np.asarray(self.shape.faces)
        frag = rasterize_triangles(xy, self.cam[:, 2], faces, size, cull=self.cull)
        corners = faces[frag.face]  # (k, 3)
        if self.textured:
            fuv = self.shape.face_uv
            uv_corner = np.asarray(self.shape.uv)[corners if fuv is None else np.asarray(fuv)[frag.face]]
            uv = np.einsum("kc,kcd->kd", frag.bary, uv_corner)
            rgb = sample_texture(_texture_image(self.shape), uv) / 255.0
        elif self.colors is not None:
            rgb = np.einsum("kc,kcd->kd", frag.bary, self.colors[corners])
        else:
            rgb = np.broadcast_to(np.asarray(PLAIN), (len(frag.pixel), 3))
        if lighting:
            normals = np.asarray(self.shape.vertex_normals) @ self.rotation.T
            n = np.einsum("kc,kcd->kd", frag.bary, normals[corners])
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
            rgb = rgb * lambert(n)[:, None]
        return frag.pixel, rgb

    def _point_fragments(self, xy, size, radius, scale, lighting):
        frag = rasterize_points(xy, self.cam[:, 2], radius, 1.0 / scale, size)
        rgb = np.asarray(PLAIN) if self.colors is None else self.colors[frag.point]
        rgb = np.broadcast_to(rgb, (len(frag.pixel), 3))
        if lighting:
            rgb = rgb * lambert(frag.normal)[:, None]
        return frag.pixel, rgb


def _rgb(color) -> np.ndarray:
    if isinstance(color, str):
        from PIL import ImageColor

        return np.asarray(ImageColor.getrgb(color)[:3], dtype=np.float64) / 255.0
    c = np.asarray(color, dtype=np.float64)[:3]
    return c / 255.0 if c.max() > 1.0 else c


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _write_text(img: np.ndarray, bounds: list[tuple[int, int]], titles, caption, background) -> np.ndarray:
    """Titles centred at the top of each panel ``bounds[i] = (x0, x1)``, the caption centred
    at the bottom of the picture; black or white, whichever shows on the background."""
    from PIL import Image, ImageDraw

    texts = [(str(t), (x0 + x1) / 2, "top") for t, (x0, x1) in zip(titles or [], bounds) if t]
    if caption:
        texts.append((str(caption), img.shape[1] / 2, "bottom"))
    if not texts:
        return img
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    font = _font(max(11, img.shape[0] // 32))
    ink = (0, 0, 0) if background.mean() > 0.5 else (255, 255, 255)
    margin = max(4, img.shape[0] // 80)
    for text, cx, where in texts:
        anchor, y = ("mt", margin) if where == "top" else ("mb", img.shape[0] - margin)
        draw.text((cx, y), text, fill=ink, font=font, anchor=anchor)
    return np.asarray(pil)


def render_shapes(shapes: Sequence[Shape], path=None, *, colors: Sequence | None = None,
                  textured: Sequence[bool | None] | None = None, titles: Sequence[str] | None = None,
                  window_size: tuple[int, int] | None = None, view=DEFAULT_VIEW, up=DEFAULT_UP,
                  background="white", point_size: float | None = None, lighting: bool = True,
                  zoom: float = 1.0, caption: str | None = None, supersample: int = 1,
                  same_scale: Sequence | None = None) -> np.ndarray:
    """Draw ``shapes`` side by side; returns the image ``(h, w, 3) uint8``.

    colors : per shape, ``(n_i, 3)`` colours (uint8 or float 0-1) or None.
    textured : per shape, True (draw the UV texture), False, or None (automatic: the texture when
        the shape has UVs and an existing texture image and no colours are given; otherwise its
        vertex colours; otherwise plain grey).
    window_size : ``(width, height)`` of the whole picture (default 480 per shape x 520).
    view, up : camera direction (object -> camera) and up vector, in the shapes' frame; or ``up``
        the name of the shapes' up axis (``"z"`` for TOSCA and many scanners, see
        :data:`~shapecorr.core.raster.UP_AXES`), ``view`` then being read as on y-up shapes.
    background : a colour name ("white") or RGB. lighting : False paints the colours unshaded.
    point_size : diameter in pixels of a point-cloud point. titles / caption : text on top of
        each panel / at the bottom of the picture. supersample : each pixel averages
        ``supersample**2`` samples (smoother edges, that many times slower).
    same_scale : a group label per shape; shapes of one group are drawn at one scale (an object
        before and after a change, the frames of a morph: a change of size shows), each group's
        largest at the size a shape has alone. Default: every shape scaled to one size.
    path : if given, the PNG is written there too.
    """
    shapes = list(shapes)
    if not shapes:
        raise ValueError("render_shapes needs at least one shape.")
    n = len(shapes)
    colors = list(colors) if colors is not None else [None] * n
    textured = list(textured) if textured is not None else [None] * n
    if len(colors) != n or len(textured) != n:
        raise ValueError("colors and textured need one entry per shape.")
    for s, c in zip(shapes, colors):
        if c is not None and len(c) != s.n_vertices:
            raise ValueError(f"{s.name}: {len(c)} colours for {s.n_vertices} vertices.")
    width, height = (int(x) for x in (window_size or (480 * n, 520)))
    rotation = camera_basis(*camera_direction(DEFAULT_VIEW if view is None else view, DEFAULT_UP if up is None else up))
    panels = [_Panel(s, rotation, c, t, d) for s, c, t, d in zip(shapes, colors, textured,
                                                                 _group_diagonals(shapes, same_scale))]
    edges = np.round(np.linspace(0, width, n + 1)).astype(int)
    bounds = list(zip(edges[:-1], edges[1:]))
    # one scale for all panels (linked views): the largest shape fills FILL of its panel
    scale = zoom * min(FILL * min((x1 - x0) / (2 * p.half_extent()[0]), height / (2 * p.half_extent()[1]))
                       for p, (x0, x1) in zip(panels, bounds))
    bg = _rgb(background)
    ss = max(int(supersample), 1)
    columns = []
    for p, (x0, x1) in zip(panels, bounds):
        diameter = point_size or max(3.0, 400.0 / np.sqrt(p.shape.n_vertices))
        big = p.draw((height * ss, (x1 - x0) * ss), scale * ss, bg, lighting, 0.5 * diameter * ss)
        columns.append(big if ss == 1 else big.reshape(height, ss, x1 - x0, ss, 3).mean(axis=(1, 3)))
    img = np.clip(np.round(255 * np.concatenate(columns, axis=1)), 0, 255).astype(np.uint8)
    img = _write_text(img, bounds, titles, caption, bg)
    if path is not None:
        from PIL import Image

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(str(path), compress_level=1)  # fast; the picture is mostly background
    return img


def render_correspondence(source: Shape, target: Shape, p2p_21, path=None, *, scheme: str = "xyz",
                          source_colors=None, window_size: tuple[int, int] | None = None,
                          titles: Sequence[str] | None = ("source", "target (colours through the map)"),
                          **kwargs) -> np.ndarray:
    """Source coloured by ``scheme`` (see :data:`COLOR_SCHEMES`) and target coloured through the
    map (``target_colors = source_colors[p2p_21]``), side by side; returns the image.

    ``source_colors`` (``(n1, 3)``) replaces the scheme. Extra keywords (``caption``, ``view``,
    ...) go to :func:`render_shapes`.
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
