"""Records in memory or in a file, and arrays written a row at a time."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.collection.blocks import FileBlocks, MemoryBlocks, read_block
from shapecorr.collection.store import write_npz_rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_file_and_memory_blocks_read_back_what_was_written(tmp_path, dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((7, 4, 4))
    stores = [MemoryBlocks(7, (4, 4), dtype), FileBlocks(tmp_path / "x.bin", 7, (4, 4), dtype)]
    for s in stores:
        for i in (3, 0, 6, 1, 2, 5, 4):  # any order
            s.write(i, values[i])
        s.write(2, values[2] * 2)  # written again
    s.flush()
    expect = values.astype(dtype)
    expect[2] = (values[2] * 2).astype(dtype)
    for s in stores:
        for i in range(7):
            r = s.read(i)
            assert r.dtype == dtype and r.shape == (4, 4) and not r.flags.writeable
            np.testing.assert_array_equal(r, expect[i])
    # another process reads a record from the file by its index
    np.testing.assert_array_equal(read_block(tmp_path / "x.bin", 5, (4, 4), dtype), expect[5])
    assert (tmp_path / "x.bin").stat().st_size == 7 * 16 * np.dtype(dtype).itemsize


def test_blocks_errors_and_clean_up(tmp_path):
    s = FileBlocks(tmp_path / "sub" / "a.bin", 3, (2, 2), np.float64)
    assert s.read(1).tolist() == [[0, 0], [0, 0]]  # zero-filled
    with pytest.raises(IndexError):
        s.read(3)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        s.write(0, np.zeros((3, 3)))
    s.close()
    assert not (tmp_path / "sub" / "a.bin").exists()  # scratch: deleted when closed
    kept = FileBlocks(tmp_path / "b.bin", 2, (2,), np.float32, keep=True)
    kept.write(1, [1.5, 2.5])
    kept.close()
    (tmp_path / "c.bin").write_bytes((tmp_path / "b.bin").read_bytes()[:10])
    with pytest.raises(OSError, match="cut short"):
        read_block(tmp_path / "c.bin", 1, (2,), np.float32)


def test_npz_written_a_row_at_a_time_equals_np_savez(tmp_path):
    rng = np.random.default_rng(1)
    rows = [rng.standard_normal((3, 3)) for _ in range(5)]
    rows[3] = None
    write_npz_rows(tmp_path / "a.npz", "A", (5, 3, 3), np.float32, iter(rows), names=np.asarray(list("abcde")))
    stack = np.zeros((5, 3, 3), dtype=np.float32)
    for i, r in enumerate(rows):
        if r is not None:
            stack[i] = r
    with np.load(tmp_path / "a.npz") as z:
        assert z.files == ["names", "A"]
        np.testing.assert_array_equal(z["A"], stack)
        assert z["names"].tolist() == list("abcde")
    with pytest.raises(Exception, match="4 rows given"):
        write_npz_rows(tmp_path / "b.npz", "A", (5, 3, 3), np.float32, iter(rows[:4]))
    assert not (tmp_path / "b.npz").exists()
