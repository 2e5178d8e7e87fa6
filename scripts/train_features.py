#!/usr/bin/env python
"""Train the learned features used by the default matcher.

Reproduces the bundled model (shapecorr/learn/weights/faust_r_wks.pt):

    python scripts/train_features.py ../shared/data/FAUST_r/vtx_5k \
        --out shapecorr/learn/weights/faust_r_wks.pt

Shapes tr_reg_000..069 train, 070..079 validate; the test split (080..099) is never seen.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapecorr.core import ShapeWarning  # noqa: E402
from shapecorr.learn import FeatureModel, FeatureNetConfig  # noqa: E402
from shapecorr.learn.convert import convert  # noqa: E402
from shapecorr.learn.train import TrainSettings, load_training_shapes, train_features  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="folder with NAME.off and corres/NAME.vts (e.g. ../shared/data/FAUST_r/vtx_5k)")
    ap.add_argument("--out", required=True, help="where to write the model (.pt); an existing file is kept as .bak")
    ap.add_argument("--prefix", default="tr_reg_", help="shape name prefix")
    ap.add_argument("--train", default="0-69", help="index range of training shapes (inclusive)")
    ap.add_argument("--val", default="70-79", help="index range of validation shapes (inclusive; '' for none)")
    ap.add_argument("--steps", type=int, default=TrainSettings.steps)
    ap.add_argument("--lr", type=float, default=TrainSettings.lr)
    ap.add_argument("--tau", type=float, default=TrainSettings.tau)
    ap.add_argument("--width", type=int, default=FeatureNetConfig.width)
    ap.add_argument("--blocks", type=int, default=FeatureNetConfig.n_blocks)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--augment", type=int, default=0,
                    help="randomly stretched copies per training shape (other body proportions)")
    ap.add_argument("--point-clouds", action="store_true",
                    help="also train (and validate) on every shape as a point cloud of its vertices")
    ap.add_argument("--init", metavar="MODEL", help="start from this model (bundled name or .pt path): fine-tuning")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # FAUST_r meshes have a few duplicate vertices; they are kept (ground-truth indices) and harmless here
    warnings.filterwarnings("ignore", category=ShapeWarning)
    if a.threads:
        torch.set_num_threads(a.threads)

    def names(r):
        if not r:
            return []
        lo, hi = (int(x) for x in r.split("-"))
        return [f"{a.prefix}{i:03d}" for i in range(lo, hi + 1)]

    init = FeatureModel.load(a.init) if a.init else None
    config = init.config if init else FeatureNetConfig(width=a.width, n_blocks=a.blocks)
    ts = TrainSettings(steps=a.steps, lr=a.lr, tau=a.tau, seed=a.seed, config=config)
    train = load_training_shapes(a.dataset, names(a.train), config, augment=a.augment, seed=a.seed,
                                 point_clouds=a.point_clouds)
    val = load_training_shapes(a.dataset, names(a.val), config, point_clouds=a.point_clouds) if a.val else None
    model = train_features(train, ts, val, checkpoint=Path(a.out).with_suffix(".partial.pt"), init=init)
    if init:
        model.meta["init"] = a.init
    model.meta["dataset"] = str(Path(a.dataset).name)
    model.meta["command"] = "python scripts/train_features.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(a.out)
    if out.exists():
        out.replace(out.with_suffix(".pt.bak"))
    model.save(out)
    convert(out)  # the .npz copy the CPU pipeline loads without torch (its SHA-256 names this .pt)
    out.with_suffix(".partial.pt").unlink(missing_ok=True)
    print(json.dumps({"model": str(out), "history": model.meta["history"]}, indent=1))


if __name__ == "__main__":
    main()
