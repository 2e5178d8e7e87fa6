"""What the study scripts of this folder share: the data, the tune pairs, the default's maps cached
between runs, and the per-pair / summary lines of errors."""
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings('ignore')

import numpy as np  # noqa: E402

import shapecorr  # noqa: E402
from shapecorr.eval import Dataset, PairEvaluator  # noqa: E402

DATA = ROOT.parent / 'shared' / 'data'
SETS = {'TOSCA': DATA / 'TOSCA_r/TOSCA_Isometric/vtx_5k', 'FAUST': DATA / 'FAUST_r/vtx_5k'}
#: 8 TOSCA_r tune pairs whose default map is trusted
TUNE8 = [('michael13', 'michael19'), ('victoria12', 'victoria4'), ('horse0', 'horse10'), ('dog0', 'dog10'),
         ('dog1', 'dog8'), ('michael14', 'michael2'), ('victoria0', 'victoria12'), ('michael10', 'michael2')]
CACHE = Path('/tmp/register_variants_cache')


def evaluator(name: str = 'TOSCA'):
    """``(Dataset, PairEvaluator)`` of one of SETS."""
    ds = Dataset(str(SETS[name]))
    return ds, PairEvaluator(ds)


def argv_pairs(default=()) -> list:
    """The pairs ``A-B`` given on the command line, or ``default``."""
    return [tuple(p.split('-')) for p in sys.argv[1:]] or list(default)


def default_maps(ds, a: str, b: str) -> tuple:
    """``(p2p_21, p2p_12)`` of the default preset, computed once and kept in CACHE."""
    f = CACHE / f'{a}__{b}.npz'
    if not f.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='default')
        np.savez(f, p21=m.p2p_21, p12=m.p2p_12, conf=m.info['confidence'])
    z = np.load(f)
    return z['p21'], z['p12']


class Scores:
    """Each pair's maps scored (mean / median error x100), then the mean over pairs per map."""

    def __init__(self, ev):
        self.ev, self.res = ev, {}

    def line(self, a: str, b: str, maps: dict) -> str:
        out = []
        for name, p in maps.items():
            r = self.ev.evaluate(a, b, p, None)[0]
            self.res.setdefault(name, []).append((r['mean_error_x100'], r['median_error_x100']))
            out.append(f"{name} {r['mean_error_x100']:.2f}/{r['median_error_x100']:.2f}")
        return ' | '.join(out)

    def summary(self, width: int = 14) -> None:
        for name, v in self.res.items():
            v = np.array(v)
            print(f"{name:{width}} mean {v[:, 0].mean():.3f}  median of medians {np.median(v[:, 1]):.3f}")
