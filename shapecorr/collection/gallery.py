"""The gallery picture of a collection: every shape coloured through the template.

The template is coloured by its coordinates; each shape takes, at each vertex, the colour of
the template vertex it is matched to (``template_colours[NAME_to_template]``). A good
collection shows the same colours on the same body parts everywhere; a flipped or broken map
stands out at a glance. Drawn with shapecorr's NumPy rasterizer (no screen, no OpenGL).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core import load
from ..render import correspondence_colors, render_shapes
from .store import CollectionFolder

PANEL = (220, 250)  # width, height of one shape's panel
PER_ROW = 8


def chosen(names: list[str], template: str, max_shapes: int) -> list[str]:
    """The template first, then at most ``max_shapes - 1`` others evenly spread over the list."""
    others = [n for n in names if n != template]
    if len(others) > max_shapes - 1:
        idx = np.unique(np.linspace(0, len(others) - 1, max(max_shapes - 1, 1)).round().astype(int))
        others = [others[i] for i in idx]
    return [template] + others


def draw_gallery(folder, paths: dict[str, str], template: str, *, max_shapes: int = 40, path=None,
                 up: str = "y") -> np.ndarray:
    """Draw ``gallery.png`` (or ``path``) from the maps in ``folder``; ``paths``: the shape files
    by name (those to draw, or all: at most ``max_shapes`` are chosen), ``template`` the
    template's name, ``up`` the shapes' up axis. Returns the image."""
    f = folder if isinstance(folder, CollectionFolder) else CollectionFolder(folder)
    names = [n for n in chosen(sorted(paths), template, max_shapes) if f.to_template_path(n).exists()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shapes = {n: load(paths[n]) for n in names}
    base = correspondence_colors(shapes[template], "xyz")
    rows = []
    for start in range(0, len(names), PER_ROW):
        row = names[start:start + PER_ROW]
        colours = [base[f.to_template(n)] for n in row]
        titles = [f"{n} (template)" if n == template else n for n in row]
        img = render_shapes([shapes[n] for n in row], colors=colours, titles=titles,
                            window_size=(PANEL[0] * len(row), PANEL[1]), up=up)
        if len(row) < PER_ROW and rows:
            pad = np.full((img.shape[0], PANEL[0] * PER_ROW - img.shape[1], 3), 255, dtype=np.uint8)
            img = np.concatenate([img, pad], axis=1)
        rows.append(img)
    width = max(r.shape[1] for r in rows)
    rows = [r if r.shape[1] == width else np.concatenate(
        [r, np.full((r.shape[0], width - r.shape[1], 3), 255, dtype=np.uint8)], axis=1) for r in rows]
    image = np.concatenate(rows, axis=0)
    from PIL import Image

    from .store import _atomic

    target = f.gallery_path if path is None else path
    _atomic(target, lambda fh: Image.fromarray(image).save(fh, format="PNG", compress_level=1))
    return image
