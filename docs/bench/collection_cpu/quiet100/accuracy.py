"""Accuracy of the three run folders of run.sh (/tmp/q100/local_t1, ray_t1, local_default): every
ground-truth pair among FAUST_r shapes [FIRST, LAST) composed through the template with the final maps
(mean geodesic error x100).  python accuracy.py 80 100"""
import itertools, json, sys, warnings
import numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[4]))
import shapecorr
from shapecorr.eval import Dataset
from shapecorr.eval.metrics import geodesic_errors
from shapecorr.eval.metrics import GeodesicDistances
from shapecorr.collection.store import CollectionFolder
warnings.filterwarnings('ignore')
ds = Dataset('/work/shared/data/FAUST_r/vtx_5k')
names = [f'tr_reg_{i:03d}' for i in range(int(sys.argv[1]), int(sys.argv[2]))]
runs = {r: CollectionFolder(f'/tmp/q100/{r}') for r in ('local_t1', 'ray_t1', 'local_default')}
final = {r: {n: (f.to_template(n), f.from_template(n)) for n in names} for r, f in runs.items()}
errs = {r: [] for r in runs}
for a, b in itertools.combinations(names, 2):
    d = GeodesicDistances(shapecorr.load(ds.shape_path(a)), dense_max=10_000) if not errs['local_t1'] or a != prev else d
    prev = a
    for r in runs:
        p2p = final[r][a][1][final[r][b][0]]
        errs[r].append(float(geodesic_errors(None, p2p, ds.gt(a), ds.gt(b), distances=d).mean() * 100))
print(json.dumps({r: {'pairs': len(e), 'mean': round(float(np.mean(e)), 4), 'max': round(float(np.max(e)), 3)} for r, e in errs.items()}))
print('max |diff| local_t1 vs ray_t1', max(abs(x - y) for x, y in zip(errs['local_t1'], errs['ray_t1'])))
