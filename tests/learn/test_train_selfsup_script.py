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
