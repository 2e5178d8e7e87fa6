#!/usr/bin/env python
"""Train the learned features used by the default matcher.

Reproduces the bundled model (shapecorr/learn/weights/faust_r_wks.pt):

    python scripts/train_features.py ../shared/data/FAUST_r/vtx_5k \
        --out shapecorr/learn/weights/faust_r_wks.pt

Shapes tr_reg_000..069 train, 070..079 validate; the test split (080..099) is never seen.

More data (the recipe of the retrained faust_r_wks, see shapecorr/learn/weights/README.md):
``--remeshed N`` adds N copies of every training shape in another pose, proportions, meshing
and resolution with their ground truth carried over (``--val-remeshed`` the same for the
validation shapes); ``--tosca DIR`` adds the TOSCA_r shapes with an even index of every class
but those of ``--tosca-holdout`` (shapes with an odd index and the held-out classes stay
unseen, for the benchmark), pairs drawn within a class.

Non-isometric proportions (cross-species pairs): ``--local-stretch S`` gives every copy local
stretch fields (``shapecorr.learn.augment.reproportioned``: parts longer/shorter and
thicker/thinner by up to e^S along their own axis); ``--reproportioned N`` adds N such copies on
the shape's own mesh (exact ground truth), ``--val-reproportioned N`` the same for validation
(reported as ``val_distance_reproportioned``; the remeshed validation copies keep the plain
settings, so the validation numbers stay comparable with earlier models).
``--keep-checkpoints`` keeps the model of every validation step (``OUT.partial.stepN.pt``).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapecorr.core import ShapeWarning  # noqa: E402
from shapecorr.learn import FeatureModel, FeatureNetConfig  # noqa: E402
from shapecorr.learn.augment import AugmentSettings  # noqa: E402
from shapecorr.learn.convert import convert  # noqa: E402
from shapecorr.learn.train import TrainSettings, load_training_shapes, train_features  # noqa: E402


def tosca_names(folder: Path, holdout) -> list[str]:
    """The TOSCA_r shapes trained on: those with an even index, of every class not held out."""
    out = []
    for p in sorted(folder.glob("*.off")):
        m = re.fullmatch(r"([a-z]+)(\d+)", p.stem)
        if m and m.group(1) not in holdout and int(m.group(2)) % 2 == 0:
            out.append(p.stem)
    return out


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
                    help="also train (and validate) on every shape (TOSCA_r and the copies too) as a point cloud "
                         "of its vertices")
    ap.add_argument("--time-lr", type=float, default=None,
                    help="learning rate of the (log) diffusion times (default: --lr)")
    ap.add_argument("--restart-times", type=float, nargs=2, default=TrainSettings.restart_times, metavar=("LO", "HI"),
                    help="times given to an --init model whose times are all 0 (default: %(default)s)")
    ap.add_argument("--points", type=int, default=TrainSettings.n_points, help="ground-truth points per pair")
    ap.add_argument("--remeshed", type=int, default=0, metavar="N",
                    help="copies of every training shape remeshed/decimated, bent and stretched, with ground truth")
    ap.add_argument("--val-remeshed", type=int, default=0, metavar="N", help="the same for the validation shapes")
    ap.add_argument("--resolution", type=int, nargs=2, default=(2000, 8000), metavar=("LO", "HI"),
                    help="vertex counts of the remeshed copies (default: %(default)s)")
    ap.add_argument("--local-stretch", type=float, default=0.0, metavar="S",
                    help="local stretch fields on every training copy, log-factors in [-S, S] (0: none; at most 0.5)")
    ap.add_argument("--local-fields", type=int, nargs=2, default=(3, 6), metavar=("LO", "HI"),
                    help="number of local stretch fields per copy (default: %(default)s)")
    ap.add_argument("--reproportioned", type=int, default=0, metavar="N",
                    help="copies of every training shape in another pose and proportions on its own mesh")
    ap.add_argument("--val-reproportioned", type=int, default=0, metavar="N",
                    help="the same for the validation shapes (with local stretches of --local-stretch, or 0.5)")
    ap.add_argument("--keep-checkpoints", action="store_true", help="keep the model of every validation step")
    ap.add_argument("--tosca", type=Path, metavar="DIR",
                    help="also TOSCA_r (e.g. ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k): even-index shapes")
    ap.add_argument("--tosca-holdout", nargs="*", default=["horse"], metavar="CLASS",
                    help="TOSCA_r classes never read (default: horse)")
    ap.add_argument("--val-every", type=int, default=500)
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
    ts = TrainSettings(steps=a.steps, lr=a.lr, tau=a.tau, seed=a.seed, config=config, time_lr=a.time_lr,
                       n_points=a.points, restart_times=tuple(a.restart_times))
    plain = AugmentSettings(resolution=tuple(a.resolution))
    remesh = AugmentSettings(resolution=tuple(a.resolution), local=a.local_stretch,
                             local_fields=tuple(a.local_fields))
    val_pose = AugmentSettings(resolution=tuple(a.resolution), local=a.local_stretch or 0.5,
                               local_fields=tuple(a.local_fields))
    copies = dict(remeshed=a.remeshed, remesh_settings=remesh, reproportioned=a.reproportioned, pose_settings=remesh)
    train = load_training_shapes(a.dataset, names(a.train), config, augment=a.augment, seed=a.seed,
                                 point_clouds=a.point_clouds, **copies)
    if a.tosca:
        train += load_training_shapes(a.tosca, tosca_names(a.tosca, a.tosca_holdout), config, seed=a.seed + 1,
                                      point_clouds=a.point_clouds,
                                      group=lambda n: "tosca_" + re.sub(r"\d+$", "", n), **copies)
    val = load_training_shapes(a.dataset, names(a.val), config, point_clouds=a.point_clouds, seed=a.seed + 2,
                               remeshed=a.val_remeshed, remesh_settings=plain,
                               reproportioned=a.val_reproportioned, pose_settings=val_pose) if a.val else None
    model = train_features(train, ts, val, checkpoint=Path(a.out).with_suffix(".partial.pt"), init=init,
                           val_every=a.val_every, keep_checkpoints=a.keep_checkpoints)
    if init:
        model.meta["init"] = a.init
    model.meta["dataset"] = str(Path(a.dataset).name) + (f" + {a.tosca.parent.name}/{a.tosca.name}" if a.tosca else "")
    if a.remeshed or a.val_remeshed or a.reproportioned:
        model.meta["remesh_settings"] = remesh.__dict__ | {"resolution": list(remesh.resolution),
                                                           "local_fields": list(remesh.local_fields)}
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
