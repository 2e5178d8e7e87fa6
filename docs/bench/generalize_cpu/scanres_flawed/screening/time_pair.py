"""One pair's time by stage and its candidates: python time_pair.py SOURCE TARGET [--screen]
(--screen: screen_fallback true, else false; the pair above was out/hc/scanres/tr_reg_082.off, tr_reg_097.off)."""
import json
import sys
import time
import warnings

import shapecorr
from shapecorr import load

a, b = sys.argv[1:3]
A, B = load(a, warn=False), load(b, warn=False)
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = shapecorr.match(A, B, screen_fallback="--screen" in sys.argv)
print("total", round(time.perf_counter() - t, 1), "s;", A.n_vertices, B.n_vertices, "vertices")
print(json.dumps(m.timings))
for c in m.info["candidates"]:
    print(c["init"], c["k_init"], c["w_orient_multiplier"], c["energy"], c["confidence"], "screened" if c["screened"] else "")
