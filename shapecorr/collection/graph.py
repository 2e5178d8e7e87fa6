"""A cheap shape distance, the template (medoid) and the shape graph of a collection.

Each shape is summarized by its *shape-DNA* (Reuter et al. 2006): the logarithms of the first
non-zero Laplace-Beltrami eigenvalues of the shape scaled to unit area, which the preparation
computes anyway. Near-isometric shapes (the same body in another pose) have nearly equal
spectra, so the Euclidean distance between signatures says which shapes are alike without
matching them. The template is the medoid under that distance (the shape with the smallest
sum of distances to the others); the shape graph joins each shape to its nearest shapes.
"""

from __future__ import annotations

import numpy as np

#: eigenvalues per signature (fewer if a shape's basis is smaller)
SIGNATURE_SIZE = 30
#: above this many shapes the medoid is sought among (and against) this many, chosen with a seed
MEDOID_SAMPLE = 2000
#: distances are computed this many at a time (rows x columns), so memory stays flat in the
#: number of shapes (about 2 MB per temporary array)
BLOCK_ELEMENTS = 262_144


def signature(evals: np.ndarray, size: int = SIGNATURE_SIZE) -> np.ndarray:
    """Shape-DNA of a unit-area shape: ``log`` of eigenvalues 1..size (the constant mode skipped)."""
    ev = np.asarray(evals, dtype=np.float64)[1:1 + size]
    return np.log(np.maximum(ev, 1e-6))


def _stack(signatures: list[np.ndarray]) -> np.ndarray:
    """Signatures as one array, cut to the shortest one (shapes may have smaller bases)."""
    m = min(len(s) for s in signatures)
    return np.stack([np.asarray(s[:m], dtype=np.float64) for s in signatures])


def pairwise_distances(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between the rows of ``X`` and of ``Y`` (default ``X``)."""
    Y = X if Y is None else Y
    d2 = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T
    return np.sqrt(np.maximum(d2, 0.0))


def _block_rows(n: int, block: int | None) -> int:
    """Rows per block of a distance computation against ``n`` columns."""
    return int(block) if block else max(16, BLOCK_ELEMENTS // max(n, 1))


def medoid(signatures: list[np.ndarray], *, sample: int = MEDOID_SAMPLE, seed: int = 0,
           block: int | None = None) -> int:
    """Index of the medoid: the smallest sum of shape-DNA distances to the others (among a
    seeded sample of ``sample`` shapes in larger collections; the lowest index on ties).
    The sums are taken ``block`` rows at a time (default: about 262k distances per block)."""
    if not signatures:
        raise ValueError("no shapes to choose a template from.")
    X = _stack(signatures)
    idx = np.arange(len(X))
    if len(X) > sample:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), sample, replace=False))
    Xs = X[idx]
    rows = _block_rows(len(Xs), block)
    sums = np.concatenate([pairwise_distances(Xs[s:s + rows], Xs).sum(1) for s in range(0, len(Xs), rows)])
    return int(idx[int(np.argmin(sums))])


def nearest_neighbours(signatures: list[np.ndarray], k: int, *, block: int | None = None) -> np.ndarray:
    """``(n, min(k, n-1))``: for each shape its ``k`` nearest other shapes, nearest first (in
    blocks of ``block`` rows, default about 262k distances per block, so memory is flat in ``n``)."""
    X = _stack(signatures)
    n = len(X)
    k = min(int(k), n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64)
    block = _block_rows(n, block)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        D = pairwise_distances(X[start:start + block], X)
        rows = np.arange(len(D))
        D[rows, start + rows] = np.inf  # not one's own neighbour
        part = np.argpartition(D, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(D, part, 1), axis=1, kind="stable")
        out[start:start + block] = np.take_along_axis(part, order, 1)
    return out


def shape_graph(signatures: list[np.ndarray], k: int, template: int) -> list[tuple[int, int]]:
    """The neighbour edges of the collection: each shape joined to its ``k`` nearest shapes
    (undirected, each edge once as ``(i, j)`` with ``i < j``). Edges to the template are left
    out: every shape has its direct map to the template anyway."""
    nn = nearest_neighbours(signatures, k)
    edges = set()
    for i, row in enumerate(nn):
        for j in row:
            j = int(j)
            if template in (i, j) or i == j:
                continue
            edges.add((min(i, j), max(i, j)))
    return sorted(edges)
