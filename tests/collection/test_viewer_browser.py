"""The viewer's collection browser (Qt-free): stepping, and each shape's map as a Match."""

from __future__ import annotations

import numpy as np
import pytest

from apps.viewer.collection import CollectionBrowser
from helpers import bumpy, permuted_copy, write_off
from shapecorr.collection import CollectionFolder
from shapecorr.collection.store import write_indices, write_json, write_text
from shapecorr.core import MatchFileError, ShapecorrError


@pytest.fixture
def folder(tmp_path):
    f = CollectionFolder(tmp_path / "out")
    shape = bumpy(2)
    for i, name in enumerate(["a", "t", "b"]):
        copy, _ = permuted_copy(shape, i)
        path = write_off(tmp_path / f"{name}.off", copy.vertices, copy.faces)
        write_json(f.record_path(name), {"name": name, "path": str(path)})
        write_indices(f.to_template_path(name), np.arange(162)[::-1])
        write_indices(f.from_template_path(name), np.arange(162))
        write_json(f.confidence_path(name), {"confidence": 0.4, "confidence_low": True, "threshold": 0.7,
                                             "direct_confidence": 0.3, "route": "through neighbours"})
    write_text(f.template_path, f"t\n{tmp_path / 't.off'}\n")
    return f


def test_steps_through_the_shapes_but_the_template(folder):
    b = CollectionBrowser(folder.root)
    assert b.template == "t" and b.names == ["a", "b"]
    assert b.step(1) == "b" and b.step(1) == "a" and b.step(-1) == "b"
    assert b.caption() == "b (2/2) -> template t"
    with pytest.raises(KeyError):
        b.go_to("t")


def test_match_of_a_shape_is_its_map_to_the_template(folder):
    b = CollectionBrowser(folder.root)
    m = b.match("a")
    np.testing.assert_array_equal(m.p2p_21, np.arange(162)[::-1])  # template vertex per vertex of a
    np.testing.assert_array_equal(m.p2p_12, np.arange(162))
    assert m.info["confidence"] == 0.4 and m.info["confidence_low"]
    assert b.shape_path("t").endswith("t.off")


def test_missing_folder_or_files_are_clear_errors(folder, tmp_path):
    with pytest.raises(MatchFileError, match="not a collection output"):
        CollectionBrowser(tmp_path)
    (tmp_path / "a.off").unlink()
    with pytest.raises(ShapecorrError, match="not there any more"):
        CollectionBrowser(folder.root).shape_path("a")
