"""Errors of the learned prior (user-fixable: the CLI prints them as one line, exit status 2)."""

from ...core import ShapecorrError


class PriorModelError(ShapecorrError):
    """A prior model file that cannot be used (missing, another format, damaged)."""
