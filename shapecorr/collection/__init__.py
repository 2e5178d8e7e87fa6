"""Collections: many shapes in correspondence with a template and with each other, consistently.

>>> import shapecorr
>>> res = shapecorr.collection("scans/", out="scans_out")        # template: the medoid
>>> res.to_template("scan_017")       # template vertex matched to each vertex of scan_017
>>> res.map("scan_017", "scan_042")   # through the consistent latent space, no recomputation
>>> res.map("scan_017", "scan_042", refine=True)   # plus the pair's own ZoomOut steps (~0.5 s)

Runs on Ray (a local Ray by default, a cluster with ``address=``) or, without Ray, in this
process; see :func:`collection` and docs/scale.md.

The package itself is callable, so ``shapecorr.collection(paths, ...)`` is
:func:`shapecorr.collection.collection` (the import system binds the name ``collection`` of
the ``shapecorr`` package to this package, not to the function).
"""

import sys as _sys
import types as _types

from .engine import InProcessExecutor, RayExecutor, make_executor, ray_available
from .run import CollectionError, CollectionResult, CollectionSettings, collection, scan
from .pairs import PairMaps, pair_maps, refine_pair
from .store import CollectionFolder, compose, compose_latent

__all__ = [
    "CollectionError",
    "CollectionFolder",
    "CollectionResult",
    "CollectionSettings",
    "InProcessExecutor",
    "PairMaps",
    "RayExecutor",
    "collection",
    "compose",
    "compose_latent",
    "make_executor",
    "pair_maps",
    "ray_available",
    "refine_pair",
    "scan",
]


class _CallablePackage(_types.ModuleType):
    def __call__(self, *args, **kwargs) -> CollectionResult:
        """``shapecorr.collection(paths, template=None, *, out=None, ...)``: see :func:`collection`."""
        return collection(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
