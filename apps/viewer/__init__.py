"""Desktop viewer of shapes and their correspondence (pyvista + Qt), started by ``shapecorr view``.

Needs the viewer extra: ``pip install -e '.[viewer]'`` (pyvistaqt, PySide6). Importing this
package is light; Qt is imported by :mod:`apps.viewer.app` and :mod:`apps.viewer.window`.
``python -m apps.viewer ...`` is ``shapecorr view ...``.
"""

from __future__ import annotations


def __getattr__(name):
    if name == "ViewerWindow":
        from .window import ViewerWindow

        return ViewerWindow
    raise AttributeError(f"module 'apps.viewer' has no attribute {name!r}")
