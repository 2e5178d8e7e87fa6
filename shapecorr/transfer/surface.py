"""Points on a triangle mesh (face + barycentric weights): re-exported from :mod:`shapecorr.fmap.surface`.

The implementation lives in the fmap layer so that ``deform`` (an earlier layer than ``transfer``)
can use the same surface maps; this module keeps the names importable from ``shapecorr.transfer``.
"""

from ..fmap.surface import (
    SurfaceMap,
    candidate_faces,
    closest_point_on_triangles,
    interpolate,
    project_on_faces,
    project_on_surface,
    vertex_face_adjacency,
)

__all__ = [
    "SurfaceMap", "candidate_faces", "closest_point_on_triangles", "interpolate", "project_on_faces",
    "project_on_surface", "vertex_face_adjacency",
]
