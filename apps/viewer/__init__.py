"""Desktop viewer of shapes and their correspondence (pyvista + Qt), started by ``shapecorr view``.

Needs the viewer extra: ``pip install -e '.[viewer]'`` (pyvistaqt, PySide6). Importing this
package is light; Qt is imported by :func:`main` and :mod:`apps.viewer.window`.
"""

from __future__ import annotations


def main(argv=None) -> int:
    from .app import main as _main

    return _main(argv)


def __getattr__(name):
    if name == "ViewerWindow":
        from .window import ViewerWindow

        return ViewerWindow
    raise AttributeError(f"module 'apps.viewer' has no attribute {name!r}")
