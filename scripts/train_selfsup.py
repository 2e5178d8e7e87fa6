#!/usr/bin/env python
"""Train the bundled general feature model (``shapecorr/learn/weights/selfsup_general.pt``),
self-supervised, on every shape we have, starting from the supervised ``faust_r_wks``:

    nice -n 5 env OMP_NUM_THREADS=1 python scripts/train_selfsup.py ../shared/data \\
        --out shapecorr/learn/weights/selfsup_general.pt

Data (``DATA`` is the shared data folder):

- FAUST_r ``tr_reg_000..069`` (every ``--faust`` STEP-th; train; their ground truth feeds the optional supervised term,
  ``--sup-weight``), ``070..079`` validation only; the test split ``080..099`` is never read;
- TOSCA_r: the first ``--tosca-per-class`` shapes of every class except ``--unseen`` (default ``horse``), **without** ground truth
  (self-supervised only); the unseen class is never read;
- ``realworld/``: the organic models (``--realworld``), decimated to 5000 vertices;
- for each of those, ``--variants`` augmented copies (remeshed isotropically or
  anisotropically, or decimated, to 2k-8k vertices, stretched and bent).

Writes the model, its ``.npz`` copy, checkpoint, CSV log, loss plot and model card beside it
(``shapecorr.learn.selfsup_train``); ``--resume`` continues an interrupted run.
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

from shapecorr.core import ShapeWarning
from shapecorr.learn import FeatureModel
from shapecorr.learn.augment import AugmentSettings
from shapecorr.learn.selfsup import REGULARIZERS, LossWeights
from shapecorr.learn.selfsup_train import (
    SelfSupSettings,
    ShapeSource,
    find_shapes,
    group_of,
    train_from_sources,
)

REALWORLD = ("cow", "homer", "alligator", "cheburashka", "woody", "beetle", "stanford-bunny")


def faust_sources(folder: Path, lo: int, hi: int, with_gt: bool = True) -> list[ShapeSource]:
    out = []
    for i in range(lo, hi + 1):
        name = f"tr_reg_{i:03d}"
        gt = folder / "corres" / f"{name}.vts"
        out.append(ShapeSource(folder / f"{name}.off", name, "faust", gt if with_gt else None))
    return out


def tosca_sources(folder: Path, unseen: set[str], per_class: int, numbers: str = "all") -> list[ShapeSource]:
    """The first ``per_class`` TOSCA_r shapes (by number) of every class not in ``unseen``,
    without their ground truth; ``numbers="even"``: even-numbered shapes only (the odd-numbered
    ones, which the default model never trained on, stay unread)."""
    if numbers not in ("all", "even"):
        raise ValueError(f"numbers must be 'all' or 'even', got {numbers!r}")
    found = sorted((s for s in find_shapes(folder) if s.group not in unseen
                    and (numbers == "all" or int(s.name[len(s.group):]) % 2 == 0)),
                   key=lambda s: (s.group, int(s.name[len(s.group):])))
    out, count = [], {}
    for s in found:
        count[s.group] = count.get(s.group, 0) + 1
        if count[s.group] <= per_class:
            out.append(ShapeSource(s.path, s.name, s.group, None))
    return out


def realworld_sources(folder: Path, names) -> list[ShapeSource]:
    out = []
    for name in names:
        path = next((folder / f"{name}{ext}" for ext in (".obj", ".off", ".ply") if (folder / f"{name}{ext}").exists()),
                    None)
        if path is None:
            raise FileNotFoundError(f"{folder}: no model named {name}")
        out.append(ShapeSource(path, name, group_of(name)))
    return out


def loss_weights(a) -> LossWeights:
    """The loss's weights from the command line (the regularizer and its prior)."""
    return LossWeights(couple_points=a.couple_points, regularizer=a.regularizer, prior=a.prior)


def loss_size(a) -> int:
    """The functional maps' size in the loss: ``--k``, else 50 (30, the bundled priors' size,
    with the prior as the regularizer: its maps must be of the prior's size)."""
    if a.k is not None:
        return a.k
    return 30 if a.regularizer == "prior" else 50


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the shared data folder (FAUST_r/, TOSCA_r/, realworld/)")
    ap.add_argument("--out", required=True, type=Path, help="model file (.pt)")
    ap.add_argument("--init", default="faust_r_wks", help="model to start from (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tune-blocks", type=int, default=2,
                    help="train the last N blocks and the output layer (default: %(default)s; -1: all)")
    ap.add_argument("--sup-weight", type=float, default=0.5,
                    help="weight of the supervised term on FAUST_r train pairs (default: %(default)s)")
    ap.add_argument("--faust", default="0:69:10", help="FAUST_r train shapes FIRST:LAST:STEP (default: %(default)s)")
    ap.add_argument("--tosca-per-class", type=int, default=3, help="TOSCA_r shapes per class (default: %(default)s)")
    ap.add_argument("--tosca-numbers", choices=("all", "even"), default="all",
                    help="TOSCA_r shapes to draw from: all, or even-numbered only (default: %(default)s)")
    ap.add_argument("--unseen", default="horse", help="TOSCA_r classes kept out, comma-separated (default: %(default)s)")
    ap.add_argument("--realworld", default=",".join(REALWORLD), help="realworld models used (comma-separated)")
    ap.add_argument("--variants", type=int, default=1, help="augmented copies per shape (default: %(default)s)")
    ap.add_argument("--resolution", default="2000,8000", help="vertex range of augmented copies")
    ap.add_argument("--couple-points", type=int, default=500)
    ap.add_argument("--k", type=int, default=None,
                    help="functional map size of the loss (default: 50; with --regularizer prior, the prior's 30)")
    ap.add_argument("--regularizer", choices=REGULARIZERS, default="axiomatic",
                    help="the loss's regularizer: orthogonality and Laplacian commutativity (axiomatic), or the "
                         "learned prior over functional maps (prior; issue 12) (default: %(default)s)")
    ap.add_argument("--prior", default=LossWeights.prior,
                    help="with --regularizer prior: a bundled prior name or a .pt file (default: %(default)s)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", category=ShapeWarning)  # FAUST_r duplicates, realworld imperfections
    if a.threads:
        torch.set_num_threads(a.threads)
    faust = a.data / "FAUST_r" / "vtx_5k"
    tosca = a.data / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k"
    unseen = {c for c in a.unseen.split(",") if c}
    flo, fhi, fstep = (int(x) for x in a.faust.split(":"))
    sources = ([s for s in faust_sources(faust, flo, fhi, with_gt=a.sup_weight > 0)][::fstep] + tosca_sources(tosca, unseen, a.tosca_per_class, a.tosca_numbers)
               + realworld_sources(a.data / "realworld", [n for n in a.realworld.split(",") if n]))
    val = faust_sources(faust, 70, 79)
    lo, hi = (int(x) for x in a.resolution.split(","))
    settings = SelfSupSettings(steps=a.steps, lr=a.lr, seed=a.seed, sup_weight=a.sup_weight,
                               weights=loss_weights(a),
                               tune_blocks=None if a.tune_blocks < 0 else a.tune_blocks,
                               checkpoint_every=25, val_every=100)
    init = FeatureModel.load(a.init) if a.init else None
    command = "python scripts/train_selfsup.py " + " ".join(argv if argv is not None else sys.argv[1:])
    model = train_from_sources(sources, a.out, settings, val_sources=val, init=init, init_name=a.init,
                               variants=a.variants, augment=AugmentSettings(resolution=(lo, hi)), max_vertices=5000,
                               k_loss=loss_size(a), resume=a.resume, device=a.device, command=command,
                               folders=[str(faust), str(tosca), str(a.data / "realworld")],
                               notes=f"FAUST_r shapes {a.faust} with ground truth (supervised term weight "
                                     f"{a.sup_weight}); FAUST_r 080-099 never read; TOSCA_r classes kept out "
                                     f"(unseen): {', '.join(sorted(unseen))}; TOSCA_r ({a.tosca_numbers} numbers) used without ground truth")
    print(json.dumps({"model": str(a.out), "seconds": model.meta["seconds"],
                      "history": model.meta["history"][-3:]}, indent=1))


if __name__ == "__main__":
    main()
