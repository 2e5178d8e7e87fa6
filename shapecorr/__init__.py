"""shapecorr: non-rigid 3D shape correspondence.

>>> import shapecorr
>>> m = shapecorr.match("data/spot/spot.obj", "data/spot/spot_posed.obj")
>>> m.p2p_21  # for each target vertex, the matched source vertex
"""

__version__ = "0.1.0"

from .core import (  # noqa: E402
    Shape,
    ShapecorrError,
    ShapeError,
    load,
    save,
    set_cache_dir,
)
from .pipeline import Match, MatchSettings, available_presets, load_preset, match  # noqa: E402

__all__ = ["Shape", "load", "save", "match", "Match", "MatchSettings", "load_preset", "available_presets",
           "set_cache_dir", "ShapecorrError", "ShapeError", "__version__"]


def __getattr__(name):  # lazy access to application layers (keeps `import shapecorr` light)
    if name == "collection":  # many shapes at once: shapecorr.collection(paths, ...) (Ray is optional)
        import importlib

        return importlib.import_module(".collection", __name__)
    if name in ("transfer_texture", "transfer_colors", "transfer_labels", "transfer_field"):
        from . import transfer

        return getattr(transfer, name)
    raise AttributeError(f"module 'shapecorr' has no attribute {name!r}")
