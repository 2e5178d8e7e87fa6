#!/usr/bin/env python
"""Validation of several models on the validation set of the non-isometric retraining (FAUST_r
070-079, one remeshed copy of each and one re-proportioned copy of each, exactly as
scripts/train_features.py --val-remeshed 1 --val-reproportioned 1 --local-stretch 0.5
--resolution 2000 5000 makes them with --seed 0): the 10 original pairs, 10 original-vs-remeshed
and 10 original-vs-re-proportioned pairs of train_features (feature nearest-neighbour distance x100).

    python docs/bench/generalize_cpu/nonisometric/validate.py out/nonisometric/faust_r_wks_v2.npz OTHER.pt
"""
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from shapecorr.core import ShapeWarning  # noqa: E402
from shapecorr.learn import FeatureModel, FeatureNetConfig  # noqa: E402
from shapecorr.learn.augment import AugmentSettings  # noqa: E402
from shapecorr.learn.train import (  # noqa: E402
    _validation_pairs,
    copy_pairs,
    feature_match_distance,
    load_training_shapes,
)

warnings.filterwarnings("ignore", category=ShapeWarning)
val = load_training_shapes(ROOT.parent / "shared" / "data" / "FAUST_r" / "vtx_5k",
                           [f"tr_reg_{i:03d}" for i in range(70, 80)], FeatureNetConfig(), progress=False, seed=2,
                           remeshed=1, remesh_settings=AugmentSettings(resolution=(2000, 5000)),
                           reproportioned=1, pose_settings=AugmentSettings(resolution=(2000, 5000), local=0.5))
pairs, remeshed = _validation_pairs(val)
prop = copy_pairs(val, "~p")
for m in sys.argv[1:]:
    model = FeatureModel.load(m)
    print(json.dumps({"model": m, "val_distance": round(feature_match_distance(model, val, pairs), 3),
                      "val_distance_remeshed": round(feature_match_distance(model, val, remeshed), 3),
                      "val_distance_reproportioned": round(feature_match_distance(model, val, prop), 3)}), flush=True)
