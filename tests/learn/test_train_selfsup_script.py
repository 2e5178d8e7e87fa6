"""scripts/train_selfsup.py: --regularizer chooses the loss's regularizer and the map size."""

from __future__ import annotations

import argparse
import pytest
from helpers import load_script

from shapecorr.core.errors import SettingsError

@pytest.fixture(scope="module")
def script():
    return load_script("train_selfsup")


def args(**kw):
    base = dict(couple_points=500, regularizer="axiomatic", prior="prior_k30", k=None)
    return argparse.Namespace(**{**base, **kw})


def test_axiomatic_by_default_with_maps_of_50(script):
    a = args()
    assert script.loss_weights(a).regularizer == "axiomatic" and script.loss_size(a) == 50


def test_the_prior_regularizer_uses_maps_of_the_priors_size(script):
    a = args(regularizer="prior", prior="prior_k30_humans")
    w = script.loss_weights(a)
    assert (w.regularizer, w.prior, w.couple_points) == ("prior", "prior_k30_humans", 500)
    assert script.loss_size(a) == 30 and script.loss_size(args(regularizer="prior", k=40)) == 40


def test_an_unknown_regularizer_is_refused(script):
    with pytest.raises(SettingsError, match="regularizer"):
        script.loss_weights(args(regularizer="both"))


def test_even_numbered_tosca_shapes_only(script, tmp_path):
    """--tosca-numbers even: the odd-numbered shapes (held out) are never listed; the unseen
    class is left out either way; shapes are taken in numeric order, per_class of each."""
    for name in ("cat0", "cat1", "cat2", "cat3", "cat10", "dog1", "dog4", "horse0", "horse2"):
        (tmp_path / f"{name}.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    even = [s.name for s in script.tosca_sources(tmp_path, {"horse"}, 2, "even")]
    assert even == ["cat0", "cat2", "dog4"]
    assert [s.name for s in script.tosca_sources(tmp_path, {"horse"}, 2)] == ["cat0", "cat1", "dog1", "dog4"]
    assert all(s.gt_path is None for s in script.tosca_sources(tmp_path, set(), 9, "even"))
    with pytest.raises(ValueError, match="even"):
        script.tosca_sources(tmp_path, set(), 2, "odd")
