#!/usr/bin/env python
"""Make the training maps of the learned prior over functional maps (shapecorr.learn.prior).

Reproduces the data the bundled prior was trained on:

    python scripts/make_prior_data.py ../shared/data --out prior_data_k30.npz

Maps (k x k, fmap_12 direction; the prior models |C|, see shapecorr/learn/prior/data.py):
  * FAUST_r training split: every ordered pair of tr_reg_000..079 (6320 maps); the test split
    080..099 is never used;
  * TOSCA_r: every ordered within-class pair of the training classes (default cat, david, horse,
    michael, victoria); the held-out classes (centaur, dog, wolf) are never used;
  * deformed copies (bent at smooth "joints", subdivided and decimated: an exact map to the
    original, both directions) of every 8th FAUST_r training shape, every 3rd TOSCA_r training
    shape of each class and 4 of the bundled Spot (data/spot/spot.obj, CC0).

Eigenbases are the pipeline's (shapecorr.pipeline.prepare with the axiomatic preset: 100
eigenpairs, robust Laplacian, unit area; cached on disk), so the maps are those the pipeline's
initial maps estimate. The copies' bases are computed by the same solver (k + 10 eigenpairs,
not cached).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapecorr.core import ShapeWarning, load
from shapecorr.eval import Dataset
from shapecorr.learn.prior.data import (
    PriorData,
    bent_remeshed_copy,
    fmap_from_barycentric,
    fmap_from_correspondence,
)
from shapecorr.pipeline import load_preset, prepare

TOSCA_TRAIN = ("cat", "david", "horse", "michael", "victoria")
TOSCA_HELD_OUT = ("centaur", "dog", "wolf")
HUMANS = ("david", "michael", "victoria")
REPO = Path(__file__).resolve().parents[1]


def tosca_class(name: str) -> str:
    return re.sub(r"\d+$", "", name)


class Builder:
    """Collects maps; prepares each shape once (pipeline eigenbasis, cached)."""

    def __init__(self, k: int, seed: int):
        self.k = k
        self.settings = load_preset("axiomatic")
        self.rng = np.random.default_rng(seed)
        self.maps, self.source, self.target, self.kind, self.category = [], [], [], [], []
        self._prepared = {}

    def prepared(self, key: str, shape):
        if key not in self._prepared:
            self._prepared[key] = prepare(shape, self.settings)
        return self._prepared[key]

    def add(self, C, src: str, tgt: str, kind: str, category: str) -> None:
        self.maps.append(np.asarray(C, dtype=np.float32))
        self.source.append(src)
        self.target.append(tgt)
        self.kind.append(kind)
        self.category.append(category)

    def pairs(self, ds: Dataset, names, category_of, progress) -> None:
        """Every ordered pair of ``names`` (same template) from their ground truth."""
        shapes = {n: load(ds.shape_path(n), warn=False) for n in names}
        P = {n: self.prepared(f"{ds.folder}/{n}", shapes[n]) for n in names}
        gt = {n: ds.gt(n, n_vertices=shapes[n].n_vertices) for n in names}
        for a, b in itertools.permutations(names, 2):
            C = fmap_from_correspondence(P[a].evecs, P[b].evecs, gt[a], gt[b], self.k)
            self.add(C, a, b, "pair", category_of(a))
            progress()

    def copies(self, key: str, shape, category: str, n_copies: int) -> None:
        """``n_copies`` bent, remeshed copies of ``shape``: maps original -> copy and copy -> original."""
        from shapecorr.fmap.prepare import prepare_shape

        P = self.prepared(key, shape)
        for c in range(n_copies):
            dc = bent_remeshed_copy(shape, self.rng, n_joints=int(self.rng.integers(1, 3)), max_angle=0.6)
            # the pipeline's eigensolver; k + 10 eigenpairs are enough for k x k maps (and cheaper)
            Pc = prepare_shape(dc.copy, self.k + 10, laplacian_kind=self.settings.laplacian, cache=False)
            name = f"{shape.name}_bent{c}"
            C12 = fmap_from_barycentric(P.evecs, shape.faces, dc.face_on_original, dc.bary_on_original, Pc.evecs,
                                        Pc.mass, self.k)
            C21 = fmap_from_barycentric(Pc.evecs, dc.copy.faces, dc.face_on_copy, dc.bary_on_copy, P.evecs, P.mass,
                                        self.k)
            self.add(C12, shape.name, name, "deformed", category)
            self.add(C21, name, shape.name, "deformed", category)

    def result(self, meta: dict) -> PriorData:
        return PriorData(np.stack(self.maps), self.source, self.target, self.kind, self.category, meta)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="folder holding FAUST_r/ and TOSCA_r/ (e.g. ../shared/data)")
    ap.add_argument("--out", required=True, help="output .npz (an existing file is not overwritten)")
    ap.add_argument("--k", type=int, default=30, help="map size (default: %(default)s, the pipeline's initial map)")
    ap.add_argument("--tosca-classes", default=",".join(TOSCA_TRAIN),
                    help="TOSCA_r classes to train on (default: %(default)s)")
    ap.add_argument("--faust-copy-every", type=int, default=8,
                    help="a deformed copy of every N-th FAUST_r training shape (0: none; default %(default)s)")
    ap.add_argument("--tosca-copy-every", type=int, default=3,
                    help="a deformed copy of every N-th TOSCA_r training shape of each class (0: none; default "
                         "%(default)s)")
    ap.add_argument("--spot-copies", type=int, default=4, help="deformed copies of data/spot/spot.obj")
    ap.add_argument("--no-pairs", action="store_true",
                    help="only the deformed copies (e.g. to make them in a second process; `shapecorr prior train` "
                         "takes several data files)")
    ap.add_argument("--limit", type=int, help="only the first N shapes of each source (a quick check)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.exists():
        ap.error(f"--out {out} exists; choose another file (it is never overwritten).")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore", category=ShapeWarning)
    from tqdm import tqdm

    t0 = time.time()
    data = Path(a.data)
    faust = Dataset(data / "FAUST_r" / "vtx_5k")
    tosca = Dataset(data / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k")
    classes = [c for c in a.tosca_classes.split(",") if c]
    leak = sorted(set(classes) & set(TOSCA_HELD_OUT))
    if leak:
        print(f"note: training on TOSCA_r classes {leak}, which the benchmark holds out", file=sys.stderr)
    lim = (lambda xs: xs[: a.limit] if a.limit else xs)
    faust_names = lim([f"tr_reg_{i:03d}" for i in range(80)])
    tosca_names = {c: lim(sorted((n for n in tosca.names if tosca_class(n) == c),
                                 key=lambda n: int(re.findall(r"\d+$", n)[0]))) for c in classes}
    b = Builder(a.k, a.seed)
    n_pairs = len(faust_names) * (len(faust_names) - 1) + sum(len(v) * (len(v) - 1) for v in tosca_names.values())
    with tqdm(total=0 if a.no_pairs else n_pairs, desc="ground-truth pairs", unit="map") as bar:
        if not a.no_pairs:
            b.pairs(faust, faust_names, lambda n: "human", lambda: bar.update())
            for c, names in tosca_names.items():
                b.pairs(tosca, names, lambda n: "human" if tosca_class(n) in HUMANS else tosca_class(n),
                        lambda: bar.update())
    jobs = []
    if a.faust_copy_every:
        jobs += [(f"{faust.folder}/{n}", faust.shape_path(n), "human", 1) for n in faust_names[:: a.faust_copy_every]]
    for c, names in tosca_names.items():
        cat = "human" if c in HUMANS else c
        if a.tosca_copy_every:
            jobs += [(f"{tosca.folder}/{n}", tosca.shape_path(n), cat, 1) for n in names[:: a.tosca_copy_every]]
    if a.spot_copies:
        spot = REPO / "data" / "spot" / "spot.obj"
        jobs.append((str(spot), spot, "cow", a.spot_copies))
    for key, path, cat, n in tqdm(jobs, desc="deformed copies", unit="shape"):
        b.copies(key, load(path, warn=False), cat, n)
    meta = {"k": a.k, "seed": a.seed, "command": "python " + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "faust_train": [faust_names[0], faust_names[-1]], "tosca_classes": classes,
            "tosca_held_out": [c for c in TOSCA_HELD_OUT if c not in classes], "seconds": round(time.time() - t0, 1),
            "basis": "pipeline.prepare(shape, load_preset('axiomatic')): robust Laplacian, unit area, 100 eigenpairs"}
    result = b.result(meta)
    result.meta["counts"] = result.counts()
    result.save(out)
    print(f"{len(result)} maps ({result.counts()}) in {time.time() - t0:.0f} s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
