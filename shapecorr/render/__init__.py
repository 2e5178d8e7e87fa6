"""Off-screen pictures (a small NumPy rasterizer and Pillow: no screen, no OpenGL, no VTK):
correspondence colours, side-by-side pictures of maps, textured shapes. Used by the CLI,
texture transfer and the viewer (which draws interactively with VTK itself).

Public names (stable; the viewer relies on them):

- :data:`COLOR_SCHEMES`, :func:`correspondence_colors` ``(shape, scheme="xyz") -> (n, 3) uint8``
- :func:`render_shapes` ``(shapes, path=None, *, colors, textured, titles, caption, window_size, view, ...)``
- :func:`render_correspondence` ``(source, target, p2p_21, path=None, *, scheme, window_size, ...)``
- :func:`render_textured` ``(shape, path=None, *, window_size, ...)``
- :func:`render_side_by_side` ``(shapes, path=None, *, titles, ...)``
- :func:`split_at_uv_seams` ``(shape) -> (vertices, faces, tcoords)`` (display-only seam split)
- :data:`UP_AXES`, :func:`camera_direction` ``(view, up) -> (view, up)``: a shape's up axis by name
  (``up="z"`` in every render function) and the camera vectors it gives

Each render function returns an ``(h, w, 3) uint8`` image and writes a PNG when ``path`` is given.
"""

from .colors import COLOR_SCHEMES, correspondence_colors
from ..core.raster import UP_AXES, camera_direction, up_axis_name
from .offscreen import (
    DEFAULT_UP,
    DEFAULT_VIEW,
    render_correspondence,
    render_shapes,
    render_side_by_side,
    render_textured,
    split_at_uv_seams,
)

__all__ = ["COLOR_SCHEMES", "correspondence_colors", "render_shapes", "render_correspondence",
           "render_textured", "render_side_by_side", "split_at_uv_seams", "DEFAULT_VIEW", "DEFAULT_UP",
           "UP_AXES", "camera_direction", "up_axis_name"]
