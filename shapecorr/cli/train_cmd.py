"""``shapecorr train``: learn matching features from a folder of shapes without ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import CommandError, check_device

HELP = "train a feature model on a folder of shapes, self-supervised (no ground truth needed)"

DESCRIPTION = """\
Train the matcher's feature network on your own shapes, without ground truth: random pairs of
shapes of the same group (the file name without its trailing number: cat0, cat1, ... form one
group; every augmented copy joins its source's group) are matched through a differentiable
functional-map layer, and the loss (bijectivity, orthogonality, Laplacian commutativity, and
the agreement of the functional map with the feature-space soft vertex map) needs no
correspondence. Every shape is also used as AUGMENT randomly remeshed, decimated, stretched and
bent copies (resolutions 2k-20k), so that the features depend on the surface, not on its mesh.
Where corres/NAME.vts exists beside a mesh, --sup-weight adds a supervised term on those pairs.

Writes MODEL (.pt) and beside it MODEL.npz (the copy the matcher loads without torch),
MODEL.ckpt.pt (checkpoint; --resume continues from it), MODEL.csv (loss log), MODEL.png (loss
plot) and MODEL.md (model card: data, recipe, time, command). Use the model with
`shapecorr match A B --model MODEL.npz`.
"""

EPILOG = """\
examples:
  shapecorr train my_animals/ --out animals.pt --init faust_r_wks --steps 1000
  shapecorr train my_animals/ --out animals.pt --init faust_r_wks --steps 1000 --resume
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", metavar="DIR", help="folder of meshes (.off, .obj, .ply; searched recursively)")
    p.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (.pt)")
    p.add_argument("--steps", type=int, default=1000, metavar="N", help="training steps (default: %(default)s)")
    p.add_argument("--lr", type=float, default=5e-4, help="learning rate (Adam, cosine decay; default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="compute device (default: cpu)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: %(default)s)")
    p.add_argument("--init", metavar="MODEL",
                   help="start from this model: a bundled name (faust_r_wks) or a .pt/.npz file (default: random)")
    p.add_argument("--augment", type=int, default=2, metavar="N",
                   help="augmented copies per shape (default: %(default)s)")
    p.add_argument("--resolution", default="2000,20000", metavar="LO,HI",
                   help="vertex counts of the remeshed/decimated copies, drawn log-uniformly (default: %(default)s)")
    p.add_argument("--max-vertices", type=int, default=20000, metavar="N",
                   help="larger shapes are decimated to this many vertices first (default: %(default)s)")
    p.add_argument("--sup-weight", type=float, default=0.0, metavar="W",
                   help="weight of the supervised term on pairs with corres/NAME.vts (default: 0, none)")
    p.add_argument("--regularizer", choices=("axiomatic", "prior"), default="axiomatic",
                   help="the loss's regularizer: orthogonality and Laplacian commutativity (axiomatic), or the "
                        "learned prior over functional maps (prior; its maps are k x k for the prior's k) "
                        "(default: %(default)s)")
    p.add_argument("--prior", default="prior_k30", metavar="NAME_OR_FILE",
                   help="with --regularizer prior: a bundled prior or a .pt file from `shapecorr prior train` "
                        "(default: %(default)s)")
    p.add_argument("--k", type=int, metavar="K",
                   help="functional map size of the loss (default: 50; the prior's size with --regularizer prior)")
    p.add_argument("--val", metavar="DIR", help="a folder of shapes with corres/NAME.vts to validate on")
    p.add_argument("--resume", action="store_true", help="continue from MODEL.ckpt.pt")
    p.add_argument("--force", action="store_true", help="overwrite an existing MODEL and its companion files")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check(a) -> tuple[Path, object]:
    from ..learn.selfsup_train import TrainFiles

    out = Path(a.out)
    if out.suffix != ".pt":
        raise CommandError(f"--out {a.out}: the model is written as a .pt file (its .npz copy beside it); "
                           f"e.g. --out {out.with_suffix('.pt')}.")
    if a.steps < 1:
        raise CommandError(f"--steps {a.steps}: give at least 1.")
    if a.augment < 0:
        raise CommandError(f"--augment {a.augment}: give 0 or more.")
    try:
        lo, hi = (int(x) for x in a.resolution.split(","))
    except ValueError:
        raise CommandError(f"--resolution {a.resolution}: give two vertex counts LO,HI, e.g. 2000,20000.") from None
    if not 100 <= lo <= hi:
        raise CommandError(f"--resolution {a.resolution}: give 100 <= LO <= HI.")
    a.resolution = (lo, hi)
    a.k_loss = _loss_size(a)
    if a.resume and a.force:
        raise CommandError("--resume and --force contradict each other; give one.")
    files = TrainFiles(out)
    if a.resume:
        if not files.checkpoint.exists():
            raise CommandError(f"--resume: no checkpoint {files.checkpoint}; start without --resume.")
    elif not a.force:
        existing = [str(p) for p in files.all() if p.exists()]
        if existing:
            raise CommandError(f"--out {a.out}: {existing[0]} exists; give --resume to continue that training, "
                               "--force to overwrite it, or another --out.")
    if not Path(a.folder).is_dir():
        raise CommandError(f"DIR {a.folder}: no such folder; give a folder of meshes.")
    check_device(a.device)
    return out, files


def _loss_size(a) -> int:
    """The functional maps' size in the loss: ``--k``, else 50, or the prior's size with
    ``--regularizer prior`` (whose maps must be of that size)."""
    if a.prior != "prior_k30" and a.regularizer != "prior":
        raise CommandError(f"--prior {a.prior}: used only with --regularizer prior; add it or drop --prior.")
    if a.regularizer != "prior":
        if a.k is not None and a.k < 2:
            raise CommandError(f"--k {a.k}: give at least 2.")
        return 50 if a.k is None else a.k
    from ..core.errors import ShapecorrError
    from ..learn.prior import load_prior

    try:
        k = load_prior(a.prior).k
    except (ShapecorrError, OSError, ValueError) as e:
        raise CommandError(f"--prior {a.prior}: {e}") from None
    if a.k is not None and a.k != k:
        raise CommandError(f"--k {a.k}: the prior {a.prior} models {k} x {k} maps, so the loss's maps must be "
                           f"{k} x {k}; drop --k or give --k {k}.")
    return k


def run(a) -> int:
    import torch

    from ..learn import FeatureModel
    from ..learn.augment import AugmentSettings
    from ..learn.selfsup import LossWeights
    from ..learn.selfsup_train import SelfSupSettings, find_shapes, train_from_sources

    out, files = _check(a)
    if a.threads:
        torch.set_num_threads(a.threads)
    sources = find_shapes(a.folder)
    if len(sources) < 2:
        raise CommandError(f"DIR {a.folder}: found {len(sources)} mesh; training needs at least two.")
    val = find_shapes(a.val) if a.val else ()
    init = FeatureModel.load(a.init) if a.init else None
    settings = SelfSupSettings(steps=a.steps, lr=a.lr, seed=a.seed, sup_weight=a.sup_weight,
                               weights=LossWeights(regularizer=a.regularizer, prior=a.prior),
                               checkpoint_every=max(1, min(100, a.steps // 10)), val_every=max(1, min(200, a.steps // 5)))
    if a.force:
        for p in files.all():
            p.unlink(missing_ok=True)
    command = "shapecorr " + " ".join(a.argv) if getattr(a, "argv", None) else None
    model = train_from_sources(sources, out, settings, val_sources=val, init=init, init_name=a.init,
                               variants=a.augment, augment=AugmentSettings(resolution=a.resolution),
                               max_vertices=a.max_vertices, k_loss=a.k_loss, resume=a.resume, device=a.device,
                               progress=not a.quiet, command=command, folders=[a.folder])
    print(json.dumps({"model": str(out), "npz": str(files.npz), "card": str(files.card), "log": str(files.csv),
                      "plot": str(files.plot), "steps": a.steps, "seconds": model.meta["seconds"],
                      "final_loss": model.meta["history"][-1]["loss"] if model.meta["history"] else None}),
          file=sys.stdout)
    return 0
