"""On-disk cache of derived data, keyed by content hash, kind and parameters.

Entries are ``.npz`` files written atomically (temporary file then rename) with a SHA-256
checksum of every stored array. A missing, truncated or tampered entry is detected on read,
deleted and recomputed; it is never trusted.

The folder is, in order: :func:`set_cache_dir`, ``$SHAPECORR_CACHE_DIR``,
``$XDG_CACHE_HOME/shapecorr``, ``~/.cache/shapecorr``. It is never next to the user's files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_UNSET = object()
_override: object = _UNSET  # a Path, None (disabled) or _UNSET


def default_cache_dir() -> Path:
    env = os.environ.get("SHAPECORR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "shapecorr"


def set_cache_dir(path) -> None:
    """Use ``path`` as the cache folder; ``None`` disables the disk cache; ``"default"`` resets."""
    global _override
    if path == "default":
        _override = _UNSET
    else:
        _override = None if path is None else Path(path).expanduser()


def get_cache() -> "DiskCache | None":
    if _override is None:
        return None
    root = default_cache_dir() if _override is _UNSET else _override
    if os.environ.get("SHAPECORR_NO_CACHE") and _override is _UNSET:
        return None
    return DiskCache(root)


def make_key(content_hash: str, kind: str, params: dict) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "hash": content_hash, "kind": kind, "params": params},
                      sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:40]}"


def _flatten(value: dict) -> dict[str, np.ndarray]:
    flat = {}
    for name, item in value.items():
        if "__" in name:
            raise ValueError(f"cache field names may not contain '__': {name!r}")
        if sp.issparse(item):
            csr = sp.csr_matrix(item)
            flat[f"{name}__csr_data"] = csr.data
            flat[f"{name}__csr_indices"] = csr.indices
            flat[f"{name}__csr_indptr"] = csr.indptr
            flat[f"{name}__csr_shape"] = np.asarray(csr.shape, dtype=np.int64)
        else:
            flat[name] = np.asarray(item)
    return flat


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    out = {}
    for name in flat:
        if name.endswith("__csr_data"):
            base = name[: -len("__csr_data")]
            out[base] = sp.csr_matrix(
                (flat[name], flat[base + "__csr_indices"], flat[base + "__csr_indptr"]),
                shape=tuple(flat[base + "__csr_shape"]),
            )
        elif "__csr_" not in name:
            arr = flat[name]
            out[name] = arr[()] if arr.ndim == 0 else arr
    return out


def _checksum(flat: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(flat):
        arr = np.ascontiguousarray(flat[name])
        h.update(name.encode())
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class DiskCache:
    """A folder of checksummed ``.npz`` entries."""

    def __init__(self, root):
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def get(self, key: str) -> dict | None:
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                flat = {k: z[k] for k in z.files}
            stored = str(flat.pop("__checksum__"))
            flat.pop("__meta__", None)
            if stored != _checksum(flat):
                raise ValueError("checksum mismatch")
            return _unflatten(flat)
        except Exception as exc:  # corrupt or truncated: rebuild, never trust
            warnings.warn(f"shapecorr cache entry {path} is corrupt ({exc}); recomputing it.", RuntimeWarning,
                          stacklevel=2)
            try:
                path.unlink()
            except OSError:
                pass
            return None

    def put(self, key: str, value: dict, meta: dict | None = None) -> None:
        flat = _flatten(value)
        flat_all = dict(flat)
        flat_all["__checksum__"] = np.asarray(_checksum(flat))
        flat_all["__meta__"] = np.asarray(json.dumps(meta or {}, default=str))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.savez(buf, **flat_all)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getvalue())
            os.replace(tmp, self.path_for(key))
        except OSError as exc:  # a read-only or full disk must not break a match
            log.warning("could not write cache entry %s: %s", key, exc)

    def clear(self) -> int:
        n = 0
        if self.root.exists():
            for p in self.root.glob("*.npz"):
                p.unlink()
                n += 1
        return n
