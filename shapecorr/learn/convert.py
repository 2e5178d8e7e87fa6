"""Write the NumPy copy (``.npz``) of a torch feature model (``.pt``).

The matcher loads ``.npz`` models without torch. Training (``scripts/train_features.py``)
writes ``.pt``; after retraining a bundled model, refresh its copy::

    python -m shapecorr.learn.convert shapecorr/learn/weights/faust_r_wks.pt shapecorr/learn/weights/faust_r_wks_pc.pt

Each ``NAME.npz`` is written next to its ``NAME.pt`` with the same configuration, the same
float32 weights (bit for bit) and the same ``meta``, plus ``meta["converted_from"]``: the
source file's name and SHA-256, so that a stale copy can be detected.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from .features import FeatureModel


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(pt_path: str | Path, out: str | Path | None = None) -> Path:
    """Write the ``.npz`` copy of the model ``pt_path`` (default: next to it); returns its path."""
    pt_path = Path(pt_path)
    model = FeatureModel.load(pt_path)
    meta = dict(model.meta, converted_from={"file": pt_path.name, "sha256": sha256(pt_path)})
    return FeatureModel(model.net, meta).save(Path(out) if out else pt_path.with_suffix(".npz"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m shapecorr.learn.convert", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="torch model files (.pt)")
    a = ap.parse_args(argv)
    for pt in a.models:
        if pt.suffix != ".pt":
            ap.error(f"{pt}: expected a torch model file (.pt).")
        print(convert(pt))


if __name__ == "__main__":
    main()
