#!/usr/bin/env python
"""Is a whole left-right flip of a point-cloud pair trusted? (issue 11, point clouds)

For FAUST_r pairs given as point clouds of their vertices (``--mesh-source``: the source as a
mesh), the ground-truth map and its mirror image (the ground truth composed with FAUST_r's
``.sym.vts`` left-right symmetry) are each projected to a functional map (50 x 50), assessed as
the pipeline assesses a candidate, and their orientation scores and confidence printed. Run with
``PYTHONPATH`` set to the tree to measure (e.g. a worktree of an older commit):

    nice -n 5 env OMP_NUM_THREADS=1 python docs/bench/generalize_cpu/pc_orient/mirror_confidence.py \
        tr_reg_074,tr_reg_076 tr_reg_071,tr_reg_073 tr_reg_070,tr_reg_078
"""
import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def _fmt(x):
    return "None" if x is None else f"{x:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", nargs="+", help="SOURCE,TARGET shape names")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "FAUST_r" / "vtx_5k")
    ap.add_argument("--mesh-source", action="store_true", help="the source as a mesh, the target a point cloud")
    a = ap.parse_args(argv)

    from scipy.spatial import cKDTree

    from shapecorr import Shape
    from shapecorr.eval import Dataset, PairEvaluator
    from shapecorr.fmap import p2p_to_fmap
    from shapecorr.pipeline import Candidate, assess, confidence_descriptors, load_preset, prepare

    warnings.filterwarnings("ignore")
    ds = Dataset(a.data)
    ev = PairEvaluator(ds)
    s = load_preset("default")

    def cloud(shape):
        return Shape(shape.vertices, None, name=shape.name + "_pc")

    def full_gt(src, tgt, sym=False):  # every target vertex takes the map of its nearest ground-truth point
        ga, gb = ds.gt(src), ds.gt(tgt, sym=sym)
        B = ev.shape(tgt).vertices
        return ga[cKDTree(B[gb]).query(B)[1]]

    for pair in a.pairs:
        src, tgt = pair.split(",")
        A = ev.shape(src)
        P1, P2 = prepare(A if a.mesh_source else cloud(A), s), prepare(cloud(ev.shape(tgt)), s)
        descr = (confidence_descriptors(P1), confidence_descriptors(P2))
        out = [src, tgt]
        for name, p2p_21 in (("truth", full_gt(src, tgt)), ("mirror", full_gt(src, tgt, sym=True))):
            C = p2p_to_fmap(p2p_21, P1.evecs, P2.evecs, P2.mass, k1=50, k2=50)
            p2p_12 = cKDTree(P2.evecs[:, :50] @ C).query(P1.evecs[:, :50])[1]
            c = assess(Candidate(name, 50, None, C, p2p_21, p2p_12), P1, P2, descr)
            out.append(f"{name}: orientation {_fmt(c.orientation_score)} smooth {_fmt(c.orientation_score_smooth)} "
                       f"confidence {c.trust:.3f}")
        print(" | ".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
