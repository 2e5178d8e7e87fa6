"""Mesh-guided densification: split a triangle and its Gaussians together (Gao et al.).

A split face is cut 1-to-4 at its edge midpoints. The midpoints become carrier vertices
(:attr:`SplatBinding.midpoints`), so a pose of the *original* mesh — what a user or
``shapecorr.deform`` produces — still drives every Gaussian: the carrier's vertices are
interpolated from it (:meth:`SplatBinding.carrier`). A split leaves T-junctions with the
unsplit neighbours; the carrier needs none of the mesh's properties, it only carries Gaussians.

Each Gaussian of a split face is re-bound exactly to the child triangle that contains it:

- barycentrics re-expressed in the child (the corner child ``(a, m_ab, m_ca)`` holds ``u >= 1/2``:
  ``(2u - 1, 2v, 2w)``; the centre child ``(m_ab, m_bc, m_ca)`` holds the rest:
  ``(1 - 2w, 1 - 2u, 1 - 2v)``);
- the child lies in its parent's plane with the same orientation, so the normal offset is kept;
- its local rotation is turned by the change of triangle frame (the frames share the normal);
- scales, colours and opacity are kept.

A child's deformation gradient equals its parent's for any pose of the original mesh (its
corners are fixed affine combinations of the parent's), so a split binding follows every
deformation exactly as the unsplit one did.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..core.errors import SettingsError
from .binding import SplatBinding, rotmat_to_quat, triangle_frames
from .raster import quat_to_rotmat


def split_carrier(n_vertices: int, midpoints, carrier_faces, face_ids):
    """Split ``face_ids`` of the carrier 1-to-4 at their edge midpoints.

    Returns ``(midpoints (k', 2), carrier_faces (m', 3), children (s, 4))``: the midpoints
    (existing ones reused: an edge is split once), the faces (a split face's row becomes its
    child at corner ``a``; the others are appended) and per split face its four children
    ``(corner a, corner b, corner c, centre)``."""
    mid = np.zeros((0, 2), np.int64) if midpoints is None else np.asarray(midpoints, dtype=np.int64).reshape(-1, 2)
    faces = np.array(carrier_faces, dtype=np.int64)
    ids = np.unique(np.asarray(face_ids, dtype=np.int64))
    if len(ids) and (ids[0] < 0 or ids[-1] >= len(faces)):
        raise SettingsError(f"split_faces: face ids must be in [0, {len(faces)}).")
    edge_mid = {(int(min(a, b)), int(max(a, b))): n_vertices + i for i, (a, b) in enumerate(mid.tolist())}
    new_mid = []

    def midpoint(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in edge_mid:
            edge_mid[key] = n_vertices + len(mid) + len(new_mid)
            new_mid.append(key)
        return edge_mid[key]

    children = np.empty((len(ids), 4), dtype=np.int64)
    extra = []
    m = len(faces)
    for j, fid in enumerate(ids.tolist()):
        a, b, c = (int(x) for x in faces[fid])
        ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
        faces[fid] = (a, ab, ca)
        extra += [(ab, b, bc), (ca, bc, c), (ab, bc, ca)]
        children[j] = (fid, m + 3 * j, m + 3 * j + 1, m + 3 * j + 2)
    faces = np.concatenate([faces, np.asarray(extra, dtype=np.int64).reshape(-1, 3)])
    mid = np.concatenate([mid, np.asarray(new_mid, dtype=np.int64).reshape(-1, 2)])
    return mid, faces, children


def child_barycentrics(bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points at barycentrics ``(n, 3)`` of a split triangle: which child holds each
    (0, 1, 2: the corner child at a, b, c; 3: the centre one) and their barycentrics in it."""
    b = np.asarray(bary, dtype=np.float64)
    which = np.where(b[:, 0] >= 0.5, 0, np.where(b[:, 1] >= 0.5, 1, np.where(b[:, 2] >= 0.5, 2, 3)))
    u, v, w = b.T
    options = np.stack([np.stack([2 * u - 1, 2 * v, 2 * w], 1), np.stack([2 * u, 2 * v - 1, 2 * w], 1),
                        np.stack([2 * u, 2 * v, 2 * w - 1], 1), np.stack([1 - 2 * w, 1 - 2 * u, 1 - 2 * v], 1)])
    out = options[which, np.arange(len(b))]
    return which, np.clip(out, 0.0, 1.0)


def rebind(face, bary, quat, rest_carrier_before: np.ndarray, faces_before: np.ndarray,
           rest_carrier_after: np.ndarray, faces_after: np.ndarray, split_ids: np.ndarray, children: np.ndarray):
    """The Gaussians' ``(face, bary, quat)`` after the faces ``split_ids`` were split into
    ``children`` (:func:`split_carrier`); those on unsplit faces are unchanged. Returns the new
    arrays and the mask of re-bound Gaussians."""
    face = np.asarray(face, dtype=np.int64).copy()
    bary = np.array(bary, dtype=np.float64)
    quat = np.array(quat, dtype=np.float64)
    row = np.full(len(faces_before), -1, dtype=np.int64)
    row[split_ids] = np.arange(len(split_ids))
    moved = row[face] >= 0
    if moved.any():
        which, b = child_barycentrics(bary[moved])
        new_face = children[row[face[moved]], which]
        # the frames before the split (old face) and after (child): both at rest
        fr_old, _, _ = triangle_frames(torch.tensor(rest_carrier_before, dtype=torch.float64),
                                       torch.tensor(faces_before, dtype=torch.long))
        fr_new, _, _ = triangle_frames(torch.tensor(rest_carrier_after, dtype=torch.float64),
                                       torch.tensor(faces_after, dtype=torch.long))
        with torch.no_grad():
            R = fr_new[torch.as_tensor(new_face)].transpose(1, 2) @ fr_old[torch.as_tensor(face[moved])] @ \
                quat_to_rotmat(torch.as_tensor(quat[moved], dtype=torch.float64))
            quat[moved] = rotmat_to_quat(R).numpy()
        face[moved], bary[moved] = new_face, b
    return face, bary, quat, moved


def split_faces(b: SplatBinding, face_ids) -> SplatBinding:
    """``b`` with the carrier faces ``face_ids`` split 1-to-4 and their Gaussians re-bound to
    the children (world positions, rotations and scales unchanged, in every pose)."""
    n = len(b.rest_vertices)
    mid, faces, children = split_carrier(n, b.midpoints, b.bound_faces, face_ids)
    split_ids = np.unique(np.asarray(face_ids, dtype=np.int64))
    after = replace(b, midpoints=mid, carrier_faces=faces)
    face, bary, quat, _ = rebind(b.face, b.bary, b.quat, b.carrier(), b.bound_faces, after.carrier(), faces,
                                 split_ids, children)
    dtype = np.asarray(b.bary).dtype
    return replace(after, face=face, bary=bary.astype(dtype), quat=quat.astype(np.asarray(b.quat).dtype))
