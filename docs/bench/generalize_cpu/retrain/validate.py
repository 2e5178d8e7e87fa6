#!/usr/bin/env python
"""Validation of several models on the validation set of the retraining study (FAUST_r 070-079
and one remeshed copy of each, as scripts/train_features.py --val-remeshed 1 --resolution 2000 5000
makes them with --seed 0): the 10 original pairs and 10 original-vs-copy pairs of train_features.

    python docs/bench/generalize_cpu/retrain/validate.py shapecorr/learn/weights/faust_r_wks.npz OTHER.npz
"""
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from shapecorr.core import ShapeWarning
from shapecorr.learn import FeatureModel, FeatureNetConfig
from shapecorr.learn.augment import AugmentSettings
from shapecorr.learn.train import (
    _validation_pairs,
    feature_match_distance,
    load_training_shapes,
)

warnings.filterwarnings("ignore", category=ShapeWarning)
val = load_training_shapes(ROOT.parent / "shared" / "data" / "FAUST_r" / "vtx_5k",
                           [f"tr_reg_{i:03d}" for i in range(70, 80)], FeatureNetConfig(), progress=False, seed=2, remeshed=1, remesh_settings=AugmentSettings(resolution=(2000, 5000)))
pairs, remeshed = _validation_pairs(val)
for m in sys.argv[1:]:
    model = FeatureModel.load(m)
    print(json.dumps({"model": m, "val_distance": round(feature_match_distance(model, val, pairs), 3),
                      "val_distance_remeshed": round(feature_match_distance(model, val, remeshed), 3)}), flush=True)
