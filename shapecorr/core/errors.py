"""Exception types of shapecorr: one per problem, each naming the file and the fix."""

from __future__ import annotations


class ShapecorrError(Exception):
    """Base class of every error shapecorr raises on purpose."""


class ShapeError(ShapecorrError, ValueError):
    """A shape (or shape file) that cannot be used as it is.

    ``path`` is the offending file (or None for in-memory shapes); the message names it.
    """

    def __init__(self, message: str, path=None):
        self.path = None if path is None else str(path)
        where = f"{self.path}: " if self.path else ""
        super().__init__(where + message)


class ShapeFileNotFoundError(ShapeError, FileNotFoundError):
    """The shape file does not exist."""


class UnsupportedFormatError(ShapeError):
    """The file extension is not a format shapecorr reads or writes."""


class ShapeParseError(ShapeError):
    """The file exists but is unreadable or garbled."""


class EmptyShapeError(ShapeError):
    """The shape has no vertices (or a mesh has no faces when faces were declared)."""


class NonFiniteCoordinatesError(ShapeError):
    """Some vertex coordinates are NaN or infinite."""


class FaceIndexError(ShapeError):
    """A face refers to a vertex index that does not exist."""


class ImperfectShapeError(ShapeError):
    """A shape that shapecorr would handle (with a :class:`ShapeWarning`) but that strict
    loading (``load(..., strict=True)``, ``--strict``) refuses. One subclass per kind."""


class DegenerateFacesError(ImperfectShapeError):
    """Faces with a repeated vertex or zero area."""


class UnreferencedVerticesError(ImperfectShapeError):
    """Vertices used by no face."""


class DuplicateVerticesError(ImperfectShapeError):
    """Vertices at exactly the same position as another vertex."""


class DisconnectedShapeError(ImperfectShapeError):
    """A mesh made of several connected components."""


class OpenBoundaryError(ImperfectShapeError):
    """A mesh with boundary edges (edges used by one face only)."""


class NonManifoldError(ImperfectShapeError):
    """A mesh with edges used by more than two faces."""


class InconsistentWindingError(ImperfectShapeError):
    """A mesh whose faces are not wound coherently (neighbours traverse a shared edge the same
    way), or a component wound inward."""


class TooFewPointsError(ShapeError):
    """The shape has too few points for what was asked (e.g. the eigenbasis size)."""


class EigensolverError(ShapecorrError, RuntimeError):
    """The eigensolver did not converge even after its principled retries."""


class MatchFileError(ShapecorrError, ValueError):
    """A saved match (or map file) is missing, incomplete or inconsistent."""


class TextureError(ShapecorrError, ValueError):
    """A texture (or colour) transfer cannot be done as asked: no UVs, no texture image, a
    point-cloud target for a texture, ... The message says what to use instead."""


class SettingsError(ShapecorrError, ValueError):
    """Match settings or a preset that cannot be used: an unknown name, a value out of range,
    settings that contradict each other. Raised when the settings are built, before any work."""


class OutputError(ShapecorrError, OSError):
    """An output path that cannot be written: a file where a folder is expected, no permission,
    a full disk. The message names the path and what to do."""


class ShapeMismatchError(MatchFileError):
    """A saved match is applied to shapes other than the ones it was computed for."""


class ShapecorrWarning(UserWarning):
    """Base class of shapecorr's warnings (the CLI prints them as ``shapecorr: warning: ...``)."""


class ShapeWarning(ShapecorrWarning):
    """A property of a shape that is handled but worth knowing: degenerate faces, vertices used
    by no face, duplicates, several components, a boundary, non-manifold edges. The message is
    ``FILE: what was found; what shapecorr does about it``; ``kind`` names the property
    (``"degenerate_faces"``, ...), so a caller can tell them apart without parsing the text."""

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        self.kind = kind


class LowConfidenceWarning(ShapecorrWarning):
    """A match whose confidence is below the calibrated threshold: probably wrong somewhere."""


class DatasetError(ShapecorrError, ValueError):
    """A benchmark folder, pairs file or ground-truth file that cannot be used."""
