"""Pure NumPy pieces of the viewer (no Qt, no VTK): testable without a screen.

What lives here is presentation only (colours, display frames, sampling, ground-truth files);
every algorithm comes from shapecorr's public API. Where a sibling module
(``shapecorr.render``, ``shapecorr.transfer``, ``shapecorr.eval``) is not available yet, a small
private fallback is used and :func:`capabilities` says so, so the window can tell the user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Fallback colour schemes (used while shapecorr.render is not available).
_FALLBACK_SCHEMES = ("xyz", "rainbow", "stripes", "patches")


# ----------------------------------------------------------------------------- capabilities
def _render_module():
    try:
        from shapecorr import render  # noqa: PLC0415
    except ImportError:
        return None
    return render if hasattr(render, "correspondence_colors") else None


def _transfer_module():
    try:
        from shapecorr import transfer  # noqa: PLC0415
    except ImportError:
        return None
    return transfer


def capabilities() -> dict:
    """Which optional shapecorr layers the viewer found (shown in the About box / notes)."""
    transfer = _transfer_module()
    return {
        "render": _render_module() is not None,
        "transfer_texture": bool(transfer is not None and hasattr(transfer, "transfer_texture")),
        "transfer_colors": bool(transfer is not None and hasattr(transfer, "transfer_colors")),
    }


# ----------------------------------------------------------------------------- colours
def color_schemes() -> list[str]:
    """Names of the correspondence colour schemes (shapecorr.render's when it exists)."""
    render = _render_module()
    if render is not None and getattr(render, "COLOR_SCHEMES", None):
        return list(render.COLOR_SCHEMES)
    return list(_FALLBACK_SCHEMES)


def correspondence_colors(shape, scheme: str) -> np.ndarray:
    """``(n, 3) uint8`` colours of the source shape: smooth over the surface, distinct far apart.

    The target's colours are ``colors[p2p_21]``, so corresponding points share a colour.
    """
    render = _render_module()
    if render is not None and scheme in color_schemes():
        return np.asarray(render.correspondence_colors(shape, scheme), dtype=np.uint8)[:, :3]
    return _fallback_colors(np.asarray(shape.vertices, dtype=np.float64), scheme)


def _fallback_colors(v: np.ndarray, scheme: str) -> np.ndarray:
    if scheme not in _FALLBACK_SCHEMES:
        raise ValueError(f"unknown colour scheme {scheme!r}; available: {', '.join(_FALLBACK_SCHEMES)}")
    lo, hi = v.min(0), v.max(0)
    u = (v - lo) / np.maximum(hi - lo, 1e-12)  # (n, 3) in [0, 1]
    if scheme == "xyz":
        rgb = 0.15 + 0.85 * u
    elif scheme == "rainbow":
        # hue along the longest axis, brightness along the second one
        order = np.argsort(hi - lo)[::-1]
        hue = u[:, order[0]] * 0.85
        val = 0.55 + 0.45 * u[:, order[1]]
        rgb = _hsv_to_rgb(hue, np.full_like(hue, 0.85), val)
    elif scheme == "stripes":
        d = np.linalg.norm(hi - lo)
        w = (v - lo) / max(d, 1e-12) * 2 * np.pi * 6.0
        rgb = 0.5 + 0.45 * np.sin(w + np.array([0.0, 2.1, 4.2]))
    else:  # patches: Voronoi cells of farthest-point seeds, one distinct colour each
        seeds = farthest_point_sample(v, 24)
        nearest = np.argmin(((v[:, None, :] - v[seeds][None, :, :]) ** 2).sum(-1), axis=1) \
            if len(v) * len(seeds) < 5e7 else _chunked_nearest(v, v[seeds])
        golden = (np.arange(len(seeds)) * 0.61803398875) % 1.0
        palette = _hsv_to_rgb(golden, np.full(len(seeds), 0.75), np.where(np.arange(len(seeds)) % 2, 0.95, 0.75))
        rgb = palette[nearest]
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _chunked_nearest(points: np.ndarray, seeds: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    out = np.empty(len(points), dtype=np.int64)
    for s in range(0, len(points), chunk):
        p = points[s:s + chunk]
        out[s:s + chunk] = np.argmin(((p[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
    return out


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    h = np.asarray(h) % 1.0
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, -1) for c in
                      [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]], 0)
    return table[i, np.arange(len(h))]


def farthest_point_sample(points: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` well-spread point indices (greedy farthest-point sampling, seeded)."""
    n = len(points)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    idx = np.empty(k, dtype=np.int64)
    idx[0] = rng.integers(n)
    d = np.linalg.norm(points - points[idx[0]], axis=1)
    for i in range(1, k):
        idx[i] = int(np.argmax(d))
        d = np.minimum(d, np.linalg.norm(points - points[idx[i]], axis=1))
    return idx


# ----------------------------------------------------------------------------- display frames
@dataclass(frozen=True)
class DisplayFrame:
    """Where a shape is drawn: centred on its bounding box, scaled to unit diagonal."""

    center: np.ndarray
    scale: float

    @classmethod
    def of(cls, vertices: np.ndarray) -> "DisplayFrame":
        lo, hi = vertices.min(0), vertices.max(0)
        return cls(center=(lo + hi) / 2, scale=1.0 / max(float(np.linalg.norm(hi - lo)), 1e-12))

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.center) * self.scale


def project_to_display(points: np.ndarray, composite: np.ndarray, viewport, window_size) -> np.ndarray:
    """Display pixel coordinates ``(n, 2)`` of world points, given a camera's composite
    projection matrix (4x4), the renderer's normalized viewport and the window size."""
    p = np.c_[points, np.ones(len(points))] @ composite.T
    ndc = p[:, :2] / p[:, 3:4]
    x0, y0, x1, y1 = viewport
    w, h = window_size
    x = (x0 + (ndc[:, 0] + 1) / 2 * (x1 - x0)) * w
    y = (y0 + (ndc[:, 1] + 1) / 2 * (y1 - y0)) * h
    return np.c_[x, y]


# ----------------------------------------------------------------------------- ground truth
@dataclass
class GroundTruth:
    """Pairs of corresponding vertices: ``source_idx[i]`` (shape 1) <-> ``target_idx[i]`` (shape 2)."""

    source_idx: np.ndarray
    target_idx: np.ndarray
    label: str

    def true_source_of(self, target_vertex: int) -> int | None:
        hits = np.flatnonzero(self.target_idx == target_vertex)
        return int(self.source_idx[hits[0]]) if hits.size else None

    def true_target_of(self, source_vertex: int) -> int | None:
        hits = np.flatnonzero(self.source_idx == source_vertex)
        return int(self.target_idx[hits[0]]) if hits.size else None


def _read_indices(path: Path, one_based: bool = False) -> np.ndarray:
    from shapecorr.core import MatchFileError
    from shapecorr.eval import DatasetError
    from shapecorr.eval.datasets import read_indices

    try:
        return read_indices(path, one_based=one_based)
    except DatasetError as exc:
        raise MatchFileError(str(exc)) from exc


def load_ground_truth(source, target, *, gt_map=None, gt_source=None, gt_target=None) -> GroundTruth:
    """Ground truth from a 0-based map file (line j: source vertex for target vertex j) or
    from a pair of ``.vts`` files (line i: 1-based vertex of each shape for template point i)."""
    from shapecorr.core import MatchFileError

    ns, nt = source.n_vertices, target.n_vertices
    if gt_map is not None:
        if Path(gt_map).suffix.lower() == ".vts":
            raise MatchFileError(f"{gt_map}: a .vts file lists the vertices of one shape for template points; "
                                 "give one per shape (File > Load ground truth .vts pair, or --gt-source and "
                                 "--gt-target).")
        m = _read_indices(gt_map)
        if len(m) != nt:
            raise MatchFileError(f"{gt_map}: a ground-truth map needs one line per target vertex "
                                 f"({nt}), it has {len(m)}; is it for other shapes (or the other direction)?")
        if m.min() < 0 or m.max() >= ns:
            raise MatchFileError(f"{gt_map}: entries must be 0-based source vertices (0..{ns - 1}); "
                                 f"found {m.min()}..{m.max()}.")
        return GroundTruth(m, np.arange(nt), Path(gt_map).name)
    if gt_source is None or gt_target is None:
        raise MatchFileError("ground truth needs either a map file or two .vts files (source and target).")
    from shapecorr.eval import read_vts  # 1-based -> 0-based, checked

    a, b = read_vts(gt_source, ns), read_vts(gt_target, nt)
    if len(a) != len(b):
        raise MatchFileError(f"{gt_source} has {len(a)} lines but {gt_target} has {len(b)}; "
                             ".vts files of a pair list the same template points.")
    return GroundTruth(a, b, f"{Path(gt_source).name} + {Path(gt_target).name}")


def find_ground_truth(source, target) -> dict | None:
    """Ground-truth files that sit beside the shapes, if any: ``<target>_gt.txt`` (a 0-based
    map) or ``corres/<name>.vts`` next to each shape (the FAUST_r / TOSCA_r layout)."""
    if target.path is None:
        return None
    cand = target.path.with_name(f"{target.path.stem}_gt.txt")
    if cand.exists():
        return {"gt_map": cand}
    if source.path is not None:
        vs = source.path.parent / "corres" / f"{source.path.stem}.vts"
        vt = target.path.parent / "corres" / f"{target.path.stem}.vts"
        if vs.exists() and vt.exists():
            return {"gt_source": vs, "gt_target": vt}
    return None


def _normalizing_area(shape) -> float:
    if shape.is_mesh:
        return float(shape.area)
    from shapecorr.spectral import laplacian  # point clouds: the area the points represent

    return float(laplacian(shape)[1].sum())


def geodesic_errors(source, p2p_21: np.ndarray, gt: GroundTruth, *, max_sources: int = 20000,
                    progress=None, should_stop=None) -> dict:
    """Normalized geodesic error of each ground-truth pair (the usual measure):
    ``err_i = d_1(p2p_21[gt2[i]], gt1[i]) / sqrt(area_1)``; and per target vertex (mean of its
    pairs, NaN without one). Distances come from shapecorr.geodesic (heat method), one solve per
    distinct ground-truth source vertex; above ``max_sources`` a seeded sample of pairs is used."""
    src_idx, tgt_idx = gt.source_idx, gt.target_idx
    sampled = False
    uniq = np.unique(src_idx)
    if len(uniq) > max_sources:
        rng = np.random.default_rng(0)
        keep_src = np.sort(rng.choice(uniq, max_sources, replace=False))
        mask = np.isin(src_idx, keep_src)
        src_idx, tgt_idx, uniq, sampled = src_idx[mask], tgt_idx[mask], keep_src, True
    err, dist = _eval_errors(source, p2p_21, src_idx, tgt_idx, progress, should_stop) if source.is_mesh \
        else (None, None)
    if err is None:
        err = _own_errors(source, p2p_21, src_idx, tgt_idx, uniq, progress, should_stop)
    per_vertex = np.full(len(p2p_21), np.nan)
    sums = np.bincount(tgt_idx, weights=err, minlength=len(p2p_21))
    counts = np.bincount(tgt_idx, minlength=len(p2p_21))
    has = counts > 0
    per_vertex[has] = sums[has] / counts[has]
    return {"pairs": err, "per_vertex": per_vertex, "mean": float(err.mean()) if err.size else float("nan"),
            "sampled": sampled, "distances": dist}


def _eval_errors(source, p2p_21, src_idx, tgt_idx, progress, should_stop):
    """shapecorr.eval's measure, in chunks (for progress and cancel); None if eval is missing."""
    try:
        from shapecorr.eval import GeodesicDistances, geodesic_errors as eval_errors
    except ImportError:
        return None, None
    # the same distances as `shapecorr eval` (all-pairs matrix up to 10k vertices, cached on
    # disk; rows on demand above), so that the viewer shows exactly the CLI's numbers
    dist = GeodesicDistances(source)
    if dist.dense:
        if progress is not None:
            progress(0.02)
        dist.matrix()
    order = np.argsort(src_idx, kind="stable")
    err = np.empty(len(src_idx), dtype=np.float64)
    chunks = np.array_split(order, max(1, min(50, len(order) // 100)))
    for k, rows in enumerate(chunks):
        if should_stop is not None and should_stop():
            raise InterruptedError("cancelled")
        err[rows] = eval_errors(source, p2p_21, src_idx, tgt_idx, distances=dist, points=rows)
        if progress is not None:
            progress((k + 1) / len(chunks))
    return err, dist


def _own_errors(source, p2p_21, src_idx, tgt_idx, uniq, progress, should_stop):
    from shapecorr.geodesic import GeodesicSolver

    pred = np.asarray(p2p_21)[tgt_idx]
    solver = GeodesicSolver(source)
    err = np.empty(len(src_idx), dtype=np.float64)
    order = np.argsort(src_idx, kind="stable")
    bounds = np.r_[np.searchsorted(src_idx[order], uniq), len(order)]
    for k, s in enumerate(uniq):
        if should_stop is not None and should_stop():
            raise InterruptedError("cancelled")
        rows = order[bounds[k]:bounds[k + 1]]
        err[rows] = solver.distances_from(int(s))[pred[rows]]
        if progress is not None and (k % 200 == 0 or k == len(uniq) - 1):
            progress((k + 1) / len(uniq))
    return err / np.sqrt(_normalizing_area(source))


class _SolverDistances:
    """``between``/``sqrt_area`` like shapecorr.eval's GeodesicDistances, for point clouds (or
    when shapecorr.eval is missing): heat-method rows from shapecorr.geodesic."""

    def __init__(self, shape):
        from shapecorr.geodesic import GeodesicSolver

        self._solver = GeodesicSolver(shape)
        self.sqrt_area = float(np.sqrt(_normalizing_area(shape)))

    def between(self, a, b) -> np.ndarray:
        return np.array([self._solver.distances_from(int(i))[int(j)] for i, j in zip(a, b)], dtype=np.float64)


def distances_for(shape):
    """Geodesic distances on ``shape`` for single picks (rows on demand, no n x n matrix)."""
    if shape.is_mesh:
        try:
            from shapecorr.eval import GeodesicDistances
        except ImportError:
            pass
        else:
            return GeodesicDistances(shape, dense_max=0)
    return _SolverDistances(shape)


def point_error(distances, predicted: int, true: int) -> float:
    """Normalized geodesic distance between a predicted and a true vertex (the error measure:
    the row is the true vertex's, as in shapecorr.eval)."""
    return float(distances.between([int(true)], [int(predicted)])[0] / distances.sqrt_area)


# ----------------------------------------------------------------------------- texture
def texture_vertex_colors(shape) -> np.ndarray | None:
    """Per-vertex colours sampled from the shape's texture image at its UVs (corner UVs of a
    vertex are averaged); ``None`` without a texture."""
    if shape.texture is None or not shape.has_uv or not Path(shape.texture).exists():
        return shape_vertex_colors(shape)
    from PIL import Image

    img = np.asarray(Image.open(shape.texture).convert("RGB"), dtype=np.float64)
    h, w = img.shape[:2]
    uv = shape.uv
    px = np.clip(np.round(uv[:, 0] % 1.0 * (w - 1)), 0, w - 1).astype(int)
    py = np.clip(np.round((1 - uv[:, 1] % 1.0) * (h - 1)), 0, h - 1).astype(int)
    uv_rgb = img[py, px]  # (t, 3)
    if shape.face_uv is None:
        return uv_rgb.astype(np.uint8)
    acc = np.zeros((shape.n_vertices, 3))
    cnt = np.zeros(shape.n_vertices)
    f, fuv = shape.faces.ravel(), shape.face_uv.ravel()
    np.add.at(acc, f, uv_rgb[fuv])
    np.add.at(cnt, f, 1)
    out = np.full((shape.n_vertices, 3), 180.0)
    ok = cnt > 0
    out[ok] = acc[ok] / cnt[ok, None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def shape_vertex_colors(shape) -> np.ndarray | None:
    c = shape.vertex_colors
    if c is None:
        return None
    c = np.asarray(c)[:, :3]
    if c.dtype != np.uint8:
        c = np.clip(np.round(c.astype(np.float64) * (255 if c.max() <= 1.0 else 1)), 0, 255).astype(np.uint8)
    return c


def transfer_preview(match, source, target):
    """The target as the texture-transfer result: ``(shape, note)``.

    Uses ``shapecorr.transfer.transfer_texture`` when it exists and the source is textured; else
    ``transfer_colors``; else a plain vertex-colour pull-back ``colors_2 = colors_1[p2p_21]``.
    """
    transfer = _transfer_module()
    textured = source.texture is not None and source.has_uv
    if transfer is not None and textured and hasattr(transfer, "transfer_texture"):
        try:
            out = transfer.transfer_texture(match, source, target)
            out = getattr(out, "shape", out)
            return out, "texture transfer (shapecorr.transfer.transfer_texture)"
        except Exception as exc:  # report and fall back to colours
            log.warning("transfer_texture failed (%s); showing vertex-colour transfer", exc)
    colors = texture_vertex_colors(source)
    if colors is None:
        return None, "the source has no texture or colours to transfer"
    if transfer is not None and hasattr(transfer, "transfer_colors"):
        try:
            out = transfer.transfer_colors(match, source, target)
            out = getattr(out, "shape", out)
            if not hasattr(out, "vertices"):
                out = target.copy(vertex_colors=np.asarray(out)[:, :3], uv=None, face_uv=None, texture=None)
            return out, "vertex-colour transfer (shapecorr.transfer.transfer_colors)"
        except Exception as exc:
            log.warning("transfer_colors failed (%s); using the viewer's own colour pull-back", exc)
    return (target.copy(vertex_colors=colors[np.asarray(match.p2p_21)], uv=None, face_uv=None, texture=None),
            "vertex-colour transfer (viewer fallback: colours_2 = colours_1[p2p_21]; "
            "shapecorr.transfer not available)")


def sample_line_pairs(source_vertices: np.ndarray, p2p_12: np.ndarray, k: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A well-spread sample of source vertices and their matches on the target."""
    s = farthest_point_sample(source_vertices, k, seed=1)
    return s, np.asarray(p2p_12)[s]
