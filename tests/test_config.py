"""Match settings and presets: frozen, grouped, validated when built, shipped with the package."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from shapecorr import MatchSettings, available_presets, load_preset
from shapecorr.config import GROUP_OF, PRESET_DIR, preset_description
from shapecorr.core import SettingsError


def _as_lists(value):
    """Tuples (nested too) as lists, as YAML reads them."""
    return [_as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_presets_are_package_data_and_match_their_yaml():
    assert PRESET_DIR.parent.name == "shapecorr" and PRESET_DIR.is_dir()
    names = available_presets()
    assert {"default", "fast", "accurate", "axiomatic"} <= set(names)
    for name in names:
        raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()) or {}
        assert raw.pop("description")  # every shipped preset says what it is for
        s = load_preset(name)
        assert isinstance(s, MatchSettings)
        for key, value in raw.items():
            assert _as_lists(getattr(s, key)) == value, (name, key)
        assert preset_description(name)


def test_default_preset_is_the_dataclass_defaults():
    """One source of defaults: default.yaml sets nothing, the dataclass holds the values."""
    assert load_preset(None) == load_preset("default") == MatchSettings()
    assert load_preset("fast").k_final < MatchSettings().k_final


def test_settings_are_frozen_and_replace_returns_a_new_object():
    s = load_preset("default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.zoomout.k_final = 3
    t = s.replace(k_final=60)
    assert (s.k_final, t.k_final) == (100, 60) and t.zoomout.k_final == 60


def test_flat_and_grouped_names_give_the_same_settings(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("description: test\nzoomout: {k_init: 12, k_final: 24}\norient_candidates: [1, 2, 3]\n")
    s = load_preset(p)
    assert (s.k_init, s.k_final, s.orient_candidates) == (12, 24, (1, 2, 3))
    assert s == load_preset({"k_init": 12, "k_final": 24, "orient_candidates": [1, 2, 3]})
    assert MatchSettings.from_dict(s.to_dict()) == s
    assert json.loads(json.dumps(s.to_dict())) == s.to_dict()
    assert set(s.flat()) == set(GROUP_OF) | {"init", "laplacian", "seed", "blas_threads"}


@pytest.mark.parametrize("changes, message", [
    ({"descriptor": "shot"}, "unknown descriptor 'shot'"),
    ({"term_scales": "pyfm"}, "unknown term_scales .pyfm."),
    ({"lap_mask": "bounded"}, "unknown lap_mask .bounded."),
    ({"extra_energies": [["canonical"]]}, "extra_energies must be a list of"),
    ({"extra_energies": [["canonical", "cubic"]]}, "extra_energies: unknown energy"),
    ({"init": "magic"}, "unknown init 'magic'"),
    ({"laplacian": "fancy"}, "unknown laplacian 'fancy'"),
    ({"k_final": 0}, "k_final must be an integer >= 2"),
    ({"k_init": 50, "k_final": 40}, r"k_init \(50\) must not exceed k_final \(40\)"),
    ({"w_lap": -1}, "w_lap must be a number >= 0"),
    ({"zoomout_samples": "many"}, "zoomout_samples must be an integer"),
    ({"feature_model": "nope"}, "no bundled model or file 'nope'"),
    ({"k_fnial": 10}, r"unknown match setting\(s\) \['k_fnial'\]"),
    ({"zoomout": {"w_lap": 1}}, r"unknown match setting\(s\) \['zoomout.w_lap'\]"),
    ({"fallback_solve": {"k_final": 20}}, "cannot be set for the fallback"),
    ({"polish_extra": 0}, "polish_extra must be an integer >= 1"),
    ({"polish_below": 1.5}, r"polish_below is a fraction of vertices in \[0, 1\]"),
    ({"polish_below": -0.1}, "polish_below must be a number >= 0"),
    ({"register_below": -0.1}, r"register_below must be a number >= 0\.0 or null"),
    ({"register_below": "high"}, r"register_below must be a number >= 0\.0 or null"),
    ({"register_agreement_below": 1.5}, r"register_agreement_below is a fraction of vertices in \[0, 1\] or null"),
    ({"register_agreement_below": -1}, r"register_agreement_below must be a number >= 0\.0 or null"),
    ({"polish_bijective_iters": -1}, "polish_bijective_iters must be an integer >= 0"),
])
def test_bad_settings_fail_when_built(changes, message):
    """Every bad value is refused by load_preset itself, before any shape is touched."""
    with pytest.raises(SettingsError, match=message):
        load_preset("default", **changes)


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(SettingsError, match=r"unknown preset 'nonexistent'.*available: .*default.*fast"):
        load_preset("nonexistent")
    with pytest.raises(SettingsError, match="no such file"):
        load_preset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("k_init: 10\nzoom_out: 3\n")
    with pytest.raises(SettingsError, match="zoom_out"):
        load_preset(bad)
    bad.write_text("- a list\n")
    with pytest.raises(SettingsError, match="must be a mapping"):
        load_preset(bad)
    bad.write_text("k_init: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_preset(bad)


def test_an_explicit_size_holds_on_large_pairs_and_lowers_k_init():
    d = load_preset("default")
    assert (d.k_final_large, d.zoomout_samples_large) == (130, 5000)
    s = load_preset("default", k_final=60, zoomout_samples=1000)
    assert s.k_final_large is None and s.zoomout_samples_large is None  # the CLI's --k holds everywhere
    assert load_preset("default", k_final=60, k_final_large=90).k_final_large == 90
    small = load_preset("default", k_final=8)
    assert (small.k_init, small.k_final) == (8, 8)  # followed advice "use k <= 8" works
    with pytest.raises(SettingsError, match="must not exceed"):
        load_preset("default", k_final=8, k_init=10)  # both given explicitly: a contradiction


def test_fallback_solve_is_applied_to_a_copy():
    s = load_preset("default")
    f = s.fallback_solve_settings()
    assert (f.w_lap, f.w_dcomm, f.k_descriptor) == (0.1, 1.0, 100)
    assert (s.w_lap, s.w_dcomm, s.k_descriptor) == (0.01, 0.1, 40)
    assert load_preset("default", feature_model="faust_r_wks").feature_model_point_cloud is None


def test_adaptation_settings_are_validated_and_match_the_adaptation_defaults():
    """``adapt_when`` / ``adapt_steps`` / ``adapt_lr``: checked values; unset (None), the steps
    and rate are those of :mod:`shapecorr.learn.adapt` (config does not import torch to read
    them); the ``accurate`` preset always adapts, the default only pairs whose learned map is not
    trusted, the ``fast``, ``axiomatic`` and ``zeroshot`` presets never (see README,
    Generalization); "low_confidence" with another init is allowed and does nothing, "always" is
    refused."""
    from shapecorr.learn import adapt
    from shapecorr.pipeline import adaptation_steps_lr

    s = load_preset("default")
    assert (s.adapt_when, s.adapt_steps, s.adapt_lr) == ("low_confidence", None, None)
    for name in ("fast", "axiomatic", "zeroshot"):
        assert load_preset(name).adapt_when == "never"
    assert load_preset("default", init="axiomatic").adapt_when == "low_confidence"
    assert adaptation_steps_lr(s) == (adapt.ADAPT_STEPS, adapt.ADAPT_LR)
    assert adaptation_steps_lr(s.replace(adapt_steps=3, adapt_lr=0.5)) == (3, 0.5)
    assert load_preset("accurate").adapt_when == "always"
    assert s.adapt_regularizer == "axiomatic" and load_preset("default", adapt_regularizer="prior").adapt_regularizer == "prior"
    with pytest.raises(SettingsError, match="adapts the learned features"):
        load_preset("axiomatic", adapt_when="replace")
    assert load_preset("default", adapt_when="low_confidence", adapt_steps=5).adapt_steps == 5
    for changes, message in [({"adapt_when": "sometimes"}, "unknown adapt_when 'sometimes'"),
                             ({"adapt_steps": 0}, "adapt_steps must be an integer >= 1"),
                             ({"adapt_lr": 0.0}, "adapt_lr must be a number > 0 or null"),
                             ({"adapt_lr": "fast"}, "adapt_lr must be a number"),
                             ({"adapt_regularizer": "orthogonal"}, "unknown adapt_regularizer 'orthogonal'")]:
        with pytest.raises(SettingsError, match=message):
            load_preset("default", **changes)


def test_large_pairs_are_registered_through_proxies_of_register_proxy_size():
    """Up to refine_max_vertices a pair is registered at full resolution (None), above it through
    proxies of register_proxy_size vertices; a size below 100 is refused when built."""
    z = load_preset("default").zoomout
    assert z.register_proxy_size == 5000 and z.refine_max_vertices == 8000
    assert z.register_max_vertices(8000) is None and z.register_max_vertices(8001) == 5000
    assert load_preset("default", register_proxy_size=None).zoomout.register_max_vertices(30000) is None
    with pytest.raises(SettingsError, match="register_proxy_size"):
        load_preset("default", register_proxy_size=50)
