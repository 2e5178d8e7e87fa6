"""Fixed-size records (``k x k`` matrices, one per shape or per edge), in memory or in a file.

The joint refinement of a collection keeps one functional map per directed edge and one latent
matrix per shape: ``O(k^2)`` numbers per shape, which in one process grows with the collection.
:class:`FileBlocks` keeps them in a flat binary file instead and reads or writes one record at a
time (``os.pread`` / ``os.pwrite``, not a memory map: the pages of a map that have been touched
count in the process's resident memory, the page cache does not), so the process holds only
the records it is working on. :class:`MemoryBlocks` is the same interface on an array in memory
(small collections, tests). Both read back exactly what was written (same dtype, same bytes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class MemoryBlocks:
    """``count`` records of ``shape`` and ``dtype`` in an array in memory."""

    def __init__(self, count: int, shape: tuple, dtype):
        self.count, self.shape, self.dtype = int(count), tuple(shape), np.dtype(dtype)
        self._data = np.zeros((self.count, *self.shape), dtype=self.dtype)

    def read(self, i: int) -> np.ndarray:
        """Record ``i`` (read-only)."""
        view = self._data[_index(i, self.count)].view()
        view.flags.writeable = False
        return view

    def write(self, i: int, value) -> None:
        self._data[_index(i, self.count)] = _record(value, self.shape, self.dtype)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._data = np.zeros((0, *self.shape), dtype=self.dtype)


class FileBlocks:
    """``count`` records of ``shape`` and ``dtype`` in the file ``path`` (created, or truncated,
    zero-filled); record ``i`` is at byte ``i * record_bytes``. Other processes read a record
    with :func:`read_block` after :meth:`flush`. :meth:`close` deletes the file unless ``keep``."""

    def __init__(self, path, count: int, shape: tuple, dtype, *, keep: bool = False):
        self.path, self.keep = Path(path), keep
        self.count, self.shape, self.dtype = int(count), tuple(shape), np.dtype(dtype)
        self.record_bytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        os.ftruncate(self._fd, self.count * self.record_bytes)

    def read(self, i: int) -> np.ndarray:
        """Record ``i`` (read-only)."""
        return _read(self._fd, _index(i, self.count), self.record_bytes, self.shape, self.dtype, self.path)

    def write(self, i: int, value) -> None:
        data = _record(value, self.shape, self.dtype).tobytes()
        off = _index(i, self.count) * self.record_bytes
        while data:  # pwrite may write less than asked
            done = os.pwrite(self._fd, data, off)
            data, off = data[done:], off + done

    def flush(self) -> None:
        """Make the writes visible to readers on other machines (a shared file system)."""
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if not self.keep:
                self.path.unlink(missing_ok=True)

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None


def read_block(path, i: int, shape: tuple, dtype) -> np.ndarray:
    """Record ``i`` of a :class:`FileBlocks` file, from any process that sees the file."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read(fd, int(i), nbytes, tuple(shape), dtype, path)
    finally:
        os.close(fd)


def _read(fd: int, i: int, nbytes: int, shape: tuple, dtype: np.dtype, path) -> np.ndarray:
    data = os.pread(fd, nbytes, i * nbytes)
    if len(data) != nbytes:
        raise OSError(f"{path}: record {i} is cut short ({len(data)} of {nbytes} bytes); the file was "
                      "truncated (rerun the collection).")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _index(i, count: int) -> int:
    i = int(i)
    if not 0 <= i < count:
        raise IndexError(f"record {i} of {count}")
    return i


def _record(value, shape: tuple, dtype: np.dtype) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=dtype)
    if arr.shape != shape:
        raise ValueError(f"a record of shape {shape} was expected, got {arr.shape}")
    return arr
