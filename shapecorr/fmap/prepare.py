"""What the functional-map solvers need of one shape: normalized shape, eigenbasis, normals.

:func:`prepare_shape` is the one place a shape is normalized (unit area, centred) and given its
eigenbasis and outward normals; the pipeline, texture transfer (re-using a match's bases) and
training call it. Descriptors are a separate step (:func:`shape_descriptors`): only the
axiomatic solve needs them.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..core import Shape
from ..spectral import eigenbasis, hks, laplacian, normalize_descriptors, wks
from .convert import usable_cores

log = logging.getLogger(__name__)

#: two shapes are prepared at once (one in a forked process) when both have at least this many
#: vertices: below it the eigensolve is too quick to pay for the fork and the copy back
PARALLEL_MIN_VERTICES = 2000


@dataclass(frozen=True)
class Prepared:
    shape: Shape  # normalized (centred, unit area)
    evals: np.ndarray  # (k,)
    evecs: np.ndarray  # (n, k), mass-orthonormal
    mass: np.ndarray  # (n,)
    sign: float  # +1 outward faces, -1 inward (1.0 for point clouds)
    # outward unit normals: a mesh's (faces' winding corrected by ``sign``); a point cloud's
    # estimated and oriented (shapecorr.core.pointcloud) when asked for, else None
    vertex_normals: np.ndarray | None

    @property
    def faces_outward(self) -> np.ndarray | None:
        """The faces wound outward (None for a point cloud)."""
        f = self.shape.faces
        if f is None:
            return None
        return f if self.sign > 0 else f[:, ::-1]

    @cached_property
    def orientation_faces(self) -> np.ndarray | None:
        """Faces wound outward for the orientation terms and scores: a mesh's
        (:attr:`faces_outward`); a point cloud's local triangles wound about its outward
        normals (:func:`shapecorr.core.pointcloud.tangent_fan_faces`); None for a point cloud
        prepared without normals. Computed once."""
        if self.shape.is_mesh:
            return self.faces_outward
        if self.vertex_normals is None:
            return None
        from ..core.pointcloud import tangent_fan_faces

        return tangent_fan_faces(self.shape.vertices, self.vertex_normals)


def prepare_shape(shape: Shape, k: int, *, laplacian_kind: str = "auto", point_cloud_normals: bool = False,
                  device: str = "cpu", cache: bool | None = None) -> Prepared:
    """Normalize ``shape`` and compute its first ``k`` eigenpairs (cached) and outward normals.

    ``point_cloud_normals``: estimate outward normals of a point cloud (the learned features'
    tangent frames need them); meshes always have theirs.
    """
    if shape.is_mesh:
        norm = shape.normalized()
    else:  # unit area from the point-cloud mass (the surface area it represents)
        _, mass_raw = laplacian(shape, laplacian_kind, cache=cache)
        norm = shape.normalized(area=float(mass_raw.sum()))
    basis = eigenbasis(norm, k, laplacian_kind=laplacian_kind, device=device, cache=cache)
    if norm.is_mesh:
        norm, sign = _wound_outward(norm)
        vn = norm.vertex_normals * sign
    else:
        sign = 1.0
        vn = None
        if point_cloud_normals:
            from ..core.pointcloud import outward_normals

            vn = outward_normals(norm.vertices, normals=norm.point_normals)
    return Prepared(norm, basis.evals, basis.evecs, basis.mass, sign, vn)


def _wound_outward(norm: Shape) -> tuple[Shape, float]:
    """The shape with faces wound coherently and outward, and the sign of its winding: the
    shape itself and the sign of :attr:`Shape.winding`'s decision when it turns all faces or
    none (the common case), else a copy with :attr:`Shape.outward_faces` and +1. The Laplacian
    does not depend on winding; the normals, orientation terms and scores do."""
    reversed_ = norm.winding.reversed
    if not reversed_.any():
        return norm, 1.0
    if reversed_.all():
        return norm, -1.0
    return norm.copy(faces=norm.outward_faces), 1.0


def prepare_shapes(shapes: Sequence[Shape], ks: Sequence[int], *, laplacian_kind: str = "auto",
                   point_cloud_normals: bool = False, device: str = "cpu", cache: bool | None = None,
                   parallel: bool = True, then: Callable[[int, Prepared, int | None], Any] | None = None) -> tuple:
    """:func:`prepare_shape` of each shape with its ``k``; the same results as one after the other.

    The eigensolver (ARPACK) holds the GIL, so threads do not overlap two eigensolves. With
    ``parallel`` and where it is safe and pays (:func:`_fork_pays`), the second shape is prepared
    in a forked child process while this process prepares the first, and its result comes back
    through a pipe: a 5k-vertex pair takes one eigensolve's time instead of two. If the child
    fails in any way, this process prepares that shape itself (so errors are raised from here,
    exactly as without ``parallel``).

    ``then(i, prepared, threads)``: more work on shape ``i`` alone, done right after its
    preparation in the same process (the second shape's in the child), so that it overlaps too;
    each result is then ``(prepared, then(...))``. ``threads`` is 1 when the two shapes run at
    once (each process then keeps to one core), else None (the caller's own setting).
    """
    if len(shapes) != len(ks):
        raise ValueError(f"prepare_shapes: {len(shapes)} shapes but {len(ks)} values of k.")
    forked = parallel and len(shapes) == 2 and _fork_pays(shapes, device)

    def job(i: int) -> Callable[[], Any]:
        def run():
            P = prepare_shape(shapes[i], ks[i], laplacian_kind=laplacian_kind,
                              point_cloud_normals=point_cloud_normals, device=device, cache=cache)
            return P if then is None else (P, then(i, P, 1 if forked else None))
        return run

    jobs = [job(i) for i in range(len(shapes))]
    if not forked:
        return tuple(j() for j in jobs)
    return _first_here_second_forked(jobs[0], jobs[1])


def _fork_pays(shapes: Sequence[Shape], device: str) -> bool:
    """Whether preparing two shapes in a forked child is both safe and worth it.

    Safe: Linux (fork is the platform's own model; macOS system libraries are not fork-safe),
    a single-threaded process (a fork copies only the calling thread; a lock held by another
    thread, e.g. the viewer's, would never be released in the child) that is not itself a
    daemonic multiprocessing worker, and the CPU device. Worth it: two or more usable cores and
    both shapes of at least :data:`PARALLEL_MIN_VERTICES` vertices.
    """
    return (sys.platform.startswith("linux") and str(device) == "cpu" and usable_cores() >= 2
            and threading.active_count() == 1 and not multiprocessing.current_process().daemon
            and min(sh.n_vertices for sh in shapes) >= PARALLEL_MIN_VERTICES)


def _send_result(compute: Callable[[], Any], conn) -> None:
    """In the forked child: compute and send ``("ok", result)``, or ``("failed", message)``."""
    try:
        conn.send(("ok", compute()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which redoes the work
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _first_here_second_forked(first: Callable[[], Any], second: Callable[[], Any]) -> tuple:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    try:
        child = ctx.Process(target=_send_result, args=(second, send), daemon=True)
        child.start()
    except OSError as exc:  # no processes left, no memory for the fork
        log.info("could not fork to prepare the second shape (%s); preparing both here", exc)
        return first(), second()
    finally:
        send.close()
    status, value = "failed", "not received"
    try:
        p1 = first()
        try:
            status, value = receive.recv()
        except Exception as exc:  # noqa: BLE001 - a dead child (EOFError) or an unreadable result
            status, value = "failed", f"{type(exc).__name__}: {exc} (child exit status {child.exitcode})"
    finally:
        receive.close()
        if status != "ok":  # e.g. first() raised: the child may be blocked writing to the pipe
            child.terminate()
        child.join()
    if status != "ok":
        log.info("preparing the second shape in a forked process failed (%s); preparing it here", value)
        value = second()
    return p1, value


def shape_descriptors(P: Prepared, *, descriptor: str = "wks", n_descriptors: int = 100, step: int = 2,
                      k_descriptor: int = 40) -> np.ndarray:
    """Descriptors ``(n, p)`` for the functional-map solve: WKS or HKS from the first
    ``k_descriptor`` eigenpairs, every ``step``-th kept, mass-normalized."""
    kd = min(k_descriptor, len(P.evals))
    if descriptor == "wks":
        descr = wks(P.evals[:kd], P.evecs[:, :kd], n_descriptors)
    elif descriptor == "hks":
        descr = hks(P.evals[:kd], P.evecs[:, :kd], n_times=n_descriptors)
    else:
        raise ValueError(f"unknown descriptor {descriptor!r}; use 'wks' or 'hks'.")
    return normalize_descriptors(descr[:, :: max(1, step)], P.mass)
