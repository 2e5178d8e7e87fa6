"""How far from an isometry the registration had to bend the source (edge strain |l'/l - 1| of
the deformed source against the aligned rest source) and how close it came to the target, next to
the error of its map and the matcher's, on the pairs of register_variants.py (its cached maps).
    DS=TOSCA|FAUST python docs/bench/tosca_diag/register_strain.py A-B ..."""
import os
from common import argv_pairs, default_maps, evaluator
import numpy as np
import shapecorr
from shapecorr.deform.registration import register
from shapecorr.fmap.surface import project_on_surface

ds, ev = evaluator(os.environ.get('DS', 'TOSCA'))
for a, b in argv_pairs():
    p21, p12 = default_maps(ds, a, b)
    sh1, sh2 = shapecorr.load(ds.shape_path(a)), shapecorr.load(ds.shape_path(b))
    reg = register(sh1, sh2, p21, p12)
    F = sh1.faces
    E = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    l0 = np.linalg.norm(reg.rest[E[:, 0]] - reg.rest[E[:, 1]], axis=1)
    l1 = np.linalg.norm(reg.vertices[E[:, 0]] - reg.vertices[E[:, 1]], axis=1)
    s = np.abs(l1 / l0 - 1)
    smap, dist = project_on_surface(sh2.vertices, reg.vertices, F)
    dd = dist / np.sqrt(sh2.area)
    e0 = ev.evaluate(a, b, p21, None)[0]['mean_error_x100']
    e1 = ev.evaluate(a, b, smap.nearest_vertex(F), None)[0]['mean_error_x100']
    print(f"{a}->{b}: default {e0:.2f} reg {e1:.2f} | edge strain mean {s.mean():.4f} p90 {np.quantile(s, .9):.4f} | "
          f"dist med {np.median(dd):.5f} p90 {np.quantile(dd, .9):.4f}", flush=True)
