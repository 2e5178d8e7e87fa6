"""A collection in the viewer: the template on the left, one shape of the collection on the right
with its map to the template, and keys to step through the collection.

``shapecorr view --collection OUT`` (OUT: the folder of ``shapecorr collection``). Page Down /
``]`` shows the next shape, Page Up / ``[`` the previous one, Home the first. Each shape's map
is read from ``OUT/maps`` (nothing is recomputed) and shown as a :class:`shapecorr.Match` with
the template as source, so every view of the viewer (colours, lines, picking, errors with
ground truth found beside the files) works as for a pair.

:class:`CollectionBrowser` is Qt-free (tested without a screen); :func:`attach` adds its
actions to a :class:`~apps.viewer.window.ViewerWindow`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class CollectionBrowser:
    """Which shape of a collection is shown, and its map to the template as a Match."""

    def __init__(self, folder):
        from shapecorr.collection import CollectionFolder

        self.folder = CollectionFolder(folder)
        self.folder.check()
        self.template = self.folder.template()
        names = self.folder.names()
        self.names = [n for n in names if n != self.template] or names
        if not self.names:
            from shapecorr import ShapecorrError

            raise ShapecorrError(f"{self.folder.root}: no maps in maps/; the collection has not finished a run.")
        self.index = 0

    @property
    def name(self) -> str:
        return self.names[self.index]

    def step(self, delta: int) -> str:
        """Move by ``delta`` shapes (wrapping around); returns the name now shown."""
        self.index = (self.index + delta) % len(self.names)
        return self.name

    def go_to(self, name: str) -> str:
        if name not in self.names:
            raise KeyError(f"{name!r} is not in the collection {self.folder.root}")
        self.index = self.names.index(name)
        return self.name

    def _record(self, name: str) -> dict:
        path = self.folder.record_path(name)
        return json.loads(path.read_text()) if path.exists() else {}

    def shape_path(self, name: str) -> str:
        """The shape's file (as the collection read it)."""
        path = self._record(name).get("path")
        if not path and name == self.template:
            path = self.folder.template_file()
        if not path or not Path(path).exists():
            from shapecorr import ShapecorrError

            raise ShapecorrError(f"{name}: its file ({path or 'unknown'}) is not there any more; the collection's "
                                 "maps need the shapes they were made for.")
        return path

    def match(self, name: str | None = None):
        """The map of ``name`` (default: the current shape) as a Match: source = template,
        target = the shape (``p2p_21``: template vertex per shape vertex)."""
        import shapecorr

        name = name or self.name
        conf = self.folder.confidence(name)
        info = {"confidence": conf.get("confidence"), "confidence_low": bool(conf.get("confidence_low", False)),
                "confidence_threshold": conf.get("threshold"),
                "confidence_advice": f"direct confidence {conf.get('direct_confidence')}, {conf.get('route', '')}",
                "collection": str(self.folder.root)}
        return shapecorr.Match(p2p_21=self.folder.to_template(name), p2p_12=self.folder.from_template(name),
                               fmap_12=np.zeros((0, 0)), info=info,
                               source_hash=self._record(self.template).get("hash"),
                               target_hash=self._record(name).get("hash"))

    def caption(self) -> str:
        return f"{self.name} ({self.index + 1}/{len(self.names)}) -> template {self.template}"


def show(window, browser: CollectionBrowser, *, first: bool = False, then=None) -> None:
    """Open the browser's current shape (and, the first time, the template) with its map."""
    name = browser.name

    def done():
        if window.state.has_pair:
            try:
                window.set_match(browser.match(name), origin=browser.caption())
            except Exception as exc:  # a map that does not fit the files: a dialog, the viewer stays
                window._error("Cannot show the collection's map", str(exc))
        window.setWindowTitle(f"shapecorr viewer — {browser.caption()}")
        if then is not None:
            then()

    try:
        source = browser.shape_path(browser.template) if first else None
        target = browser.shape_path(name)
    except Exception as exc:
        window._error("Cannot open the collection's shape", str(exc))
        return
    window.load_shapes(source, target, blocking=False, then=done)


def attach(window, folder) -> CollectionBrowser:
    """Give ``window`` a Collection menu (next, previous, first shape) for the collection in
    ``folder`` and open its first shape."""
    browser = CollectionBrowser(folder)
    window.collection = browser
    a = window._action
    acts = [a("&Next shape", lambda: (browser.step(1), show(window, browser)), ["PgDown", "]"]),
            a("&Previous shape", lambda: (browser.step(-1), show(window, browser)), ["PgUp", "["]),
            a("&First shape", lambda: (browser.go_to(browser.names[0]), show(window, browser)), "Home")]
    menu = window.menuBar().addMenu("&Collection")
    for act in acts:
        menu.addAction(act)
    return browser


def run_collection_viewer(folder, *, preset=None, device: str = "cpu", strict: bool = False, screenshot=None,
                          steps: int = 0, up: str = "y") -> int:
    """Open the viewer on a collection; ``screenshot`` saves a PNG after ``steps`` steps and quits."""
    from PySide6 import QtCore

    from .app import new_window, screenshot_and_quit

    app, win = new_window(preset=preset, device=device, strict=strict, auto_match=False, up=up)
    browser = attach(win, folder)
    win.show()
    app.processEvents()

    def shoot():
        screenshot_and_quit(app, win, screenshot)

    def after_first():
        if steps:
            browser.step(steps)
            show(win, browser, then=(lambda: QtCore.QTimer.singleShot(100, shoot)) if screenshot else None)
        elif screenshot is not None:
            QtCore.QTimer.singleShot(100, shoot)

    show(win, browser, first=True, then=after_first)
    return int(app.exec())
