"""Transfer: carry a UV texture, colours, labels and fields from a source shape onto a target.

Built on a :class:`~shapecorr.pipeline.Match` (or arrays), never on solver internals:

>>> import shapecorr
>>> m = shapecorr.match("data/spot/spot.obj", "data/spot/spot_posed.obj", preset="fast")
>>> src, tgt = shapecorr.load("data/spot/spot.obj"), shapecorr.load("data/spot/spot_posed.obj")
>>> res = shapecorr.transfer_texture(m, src, tgt)      # precise points, seams handled per corner
>>> res.shape.save("out/spot_posed_textured.obj")      # OBJ + .mtl + texture copy
>>> rgb = shapecorr.transfer_colors(m, src, tgt)       # (n2, 3) uint8, sampled from the texture

Tiers: array functions (:func:`texture_from_surface_map`, :func:`precise_map_arrays`,
:func:`closest_point_on_triangles`), shape-level functions taking a match
(:func:`transfer_texture`, :func:`transfer_colors`, :func:`transfer_labels`,
:func:`transfer_field`, :func:`precise_map`); the CLI ``shapecorr transfer`` on top.
"""

from .functions import FIELD_METHODS, LABEL_METHODS, sample_texture, transfer_colors, transfer_field, transfer_labels
from .precise import PRECISE_METHODS, SpectralBases, precise_map, precise_map_arrays, spectral_bases
from .surface import SurfaceMap, closest_point_on_triangles, interpolate, project_on_surface
from .texture import (
    STREAK_FACTOR,
    TextureTransfer,
    check_texture_inputs,
    streak_fraction,
    texture_from_surface_map,
    transfer_texture,
    uv_charts,
    uv_stretch_ratio,
)

__all__ = [
    "transfer_texture", "transfer_colors", "transfer_labels", "transfer_field", "precise_map",
    "precise_map_arrays", "spectral_bases", "SpectralBases", "SurfaceMap", "TextureTransfer",
    "texture_from_surface_map", "check_texture_inputs", "streak_fraction", "uv_stretch_ratio",
    "uv_charts", "sample_texture", "closest_point_on_triangles", "interpolate", "project_on_surface",
    "STREAK_FACTOR", "PRECISE_METHODS", "FIELD_METHODS", "LABEL_METHODS",
]
