"""Data layer: the Shape type, file I/O, validation, normalization and the disk cache."""

from .cache import default_cache_dir, get_cache, set_cache_dir
from .errors import (
    DegenerateFacesError,
    DisconnectedShapeError,
    DuplicateVerticesError,
    EigensolverError,
    EmptyShapeError,
    FaceIndexError,
    ImperfectShapeError,
    LowConfidenceWarning,
    OutputError,
    SettingsError,
    ShapecorrWarning,
    ShapeMismatchError,
    MatchFileError,
    NonFiniteCoordinatesError,
    NonManifoldError,
    OpenBoundaryError,
    ShapecorrError,
    ShapeError,
    ShapeFileNotFoundError,
    ShapeParseError,
    ShapeWarning,
    TextureError,
    TooFewPointsError,
    UnreferencedVerticesError,
    UnsupportedFormatError,
)
from .io import READ_FORMATS, WRITE_FORMATS, load, merge_duplicate_vertices, save
from .shape import Shape, ShapeIssue, Transform

__all__ = [
    "Shape", "ShapeIssue", "ShapeWarning", "Transform", "load", "save", "merge_duplicate_vertices",
    "READ_FORMATS", "WRITE_FORMATS", "set_cache_dir", "get_cache", "default_cache_dir",
    "ShapecorrError", "ShapeError", "ShapeFileNotFoundError", "UnsupportedFormatError",
    "ShapeParseError", "EmptyShapeError", "NonFiniteCoordinatesError", "FaceIndexError",
    "DegenerateFacesError", "ImperfectShapeError", "UnreferencedVerticesError", "DuplicateVerticesError",
    "DisconnectedShapeError", "OpenBoundaryError", "NonManifoldError", "TooFewPointsError",
    "EigensolverError", "MatchFileError", "TextureError",
    "SettingsError", "OutputError", "ShapeMismatchError", "ShapecorrWarning", "LowConfidenceWarning",
]
