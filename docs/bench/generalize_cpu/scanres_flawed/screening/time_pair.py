import sys, warnings, json, time
import shapecorr
from shapecorr import load
a, b = sys.argv[1:3]
A = load(a, warn=False); B = load(b, warn=False)
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    m = shapecorr.match(A, B)
print('total', time.perf_counter() - t, A.n_vertices, B.n_vertices)
print(m.timings)
for c in m.info['candidates']:
    print(c['init'], c['k_init'], c['w_orient_multiplier'], c['energy'], c['confidence'])
print('reg', m.info.get('registration'))
