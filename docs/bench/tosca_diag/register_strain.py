"""How far from an isometry the registration had to bend the source (edge strain |l'/l - 1| of
the deformed source against the aligned rest source) and how close it came to the target, next to
the error of its map and the matcher's, on the pairs of register_variants.py (its cached maps).
    DS=TOSCA|FAUST python docs/bench/tosca_diag/register_strain.py A-B ..."""
import sys, warnings, os
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); warnings.filterwarnings('ignore')
import numpy as np, shapecorr
from shapecorr.eval import Dataset, PairEvaluator
from shapecorr.deform.registration import register
from shapecorr.fmap.surface import project_on_surface
DATA = str(Path(__file__).resolve().parents[4] / 'shared/data') + '/'
dsname = os.environ.get('DS', 'TOSCA')
root = {'TOSCA': DATA + 'TOSCA_r/TOSCA_Isometric/vtx_5k', 'FAUST': DATA + 'FAUST_r/vtx_5k'}[dsname]
ds = Dataset(root); ev = PairEvaluator(ds)
for p in sys.argv[1:]:
    a, b = p.split('-')
    z = np.load(f'/tmp/register_variants_cache/{a}__{b}.npz'); p21, p12 = z['p21'], z['p12']
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    reg = register(sh1, sh2, p21, p12)
    F = sh1.faces; E = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    l0 = np.linalg.norm(reg.rest[E[:, 0]] - reg.rest[E[:, 1]], axis=1); l1 = np.linalg.norm(reg.vertices[E[:, 0]] - reg.vertices[E[:, 1]], axis=1)
    s = np.abs(l1 / l0 - 1)
    smap, dist = project_on_surface(sh2.vertices, reg.vertices, sh1.faces)
    dd = dist / np.sqrt(sh2.area)
    e0 = ev.evaluate(a, b, p21, None)[0]['mean_error_x100']; e1 = ev.evaluate(a, b, smap.nearest_vertex(F), None)[0]['mean_error_x100']
    print(f"{a}->{b}: default {e0:.2f} reg {e1:.2f} | edge strain mean {s.mean():.4f} p90 {np.quantile(s,.9):.4f} | dist med {np.median(dd):.5f} p90 {np.quantile(dd,.9):.4f}", flush=True)
