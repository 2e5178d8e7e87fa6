"""Pictures of three `extremity15` pairs (this folder's runs): the source coloured by position,
the cut target coloured through the default's map, with the error and confidence.

    python docs/bench/flaws_cpu/extremity/render.py ../shared/data/FAUST_r/vtx_5k   # writes pairs.png
"""
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_flaws as bf  # noqa: E402

import shapecorr  # noqa: E402
from shapecorr.eval import Dataset, PairEvaluator  # noqa: E402
from shapecorr.render.offscreen import render_correspondence  # noqa: E402

PAIRS = (("tr_reg_085", "tr_reg_099", 0), ("tr_reg_084", "tr_reg_086", 0), ("tr_reg_094", "tr_reg_097", 1))


def picture(ds, ev, a, b, seed):
    A, target, new = bf.flawed_target(ds, a, b, "extremity15", seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = shapecorr.match(A, target)
    err = bf.target_error(ds, ev, a, b, new, A, m.p2p_21)[0]
    caption = f"{a[-3:]} -> {b[-3:]} (seed {seed}): error {err:.2f}, confidence {m.confidence:.2f}"
    return render_correspondence(A, target, m.p2p_21, caption=caption, window_size=(800, 500))


def main():
    from PIL import Image

    ds = Dataset(Path(sys.argv[1]))
    ev = PairEvaluator(ds)
    images = [picture(ds, ev, a, b, seed) for a, b, seed in PAIRS]
    Image.fromarray(np.vstack(images)).save(HERE / "pairs.png")


if __name__ == "__main__":
    main()
