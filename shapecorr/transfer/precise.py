"""Precise maps (each target vertex -> a point on a source face), as used by texture, colour and
label transfer.

The functions live in the layers that compute them and are re-exported here under their public
names: the dispatcher :func:`precise_map` (methods ``spectral``, ``vertex``, ``register``) and
:func:`registered_map` in :mod:`shapecorr.deform.precise` (the registration is a deform tool, and
deformation transfer and morphing need the same points without importing this later layer), the
spectral projection (:func:`precise_map_arrays`, :func:`spectral_bases`) in
:mod:`shapecorr.fmap.precise`.
"""

from ..deform.precise import PRECISE_METHODS, precise_map, registered_map
from ..fmap.precise import (
    SpectralBases,
    precise_map_arrays,
    spectral_bases,
    spectral_precise_map,
)

__all__ = [
    "PRECISE_METHODS", "SpectralBases", "precise_map", "precise_map_arrays", "registered_map", "spectral_bases",
    "spectral_precise_map",
]
