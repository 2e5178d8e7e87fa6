"""Run the default matcher on listed pairs of a FAUST/TOSCA-like folder; print init, error, confidence, disagreement."""
import sys, json, time, warnings
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))
import shapecorr
from shapecorr.eval.metrics import geodesic_errors
folder = sys.argv[1]; out = sys.argv[2]; pairs = [p.split(",") for p in sys.argv[3:]]
from pathlib import Path
def vts(name):
    return np.loadtxt(Path(folder) / "corres" / f"{name}.vts", dtype=np.int64) - 1
for a, b in pairs:
    t = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        A = shapecorr.load(Path(folder) / f"{a}.off"); B = shapecorr.load(Path(folder) / f"{b}.off")
        m = shapecorr.match(A, B)
    err = 100 * float(np.mean(geodesic_errors(A, m.p2p_21, vts(a), vts(b))))
    row = {"pair": f"{a}->{b}", "init": m.info["init"], "error": round(err, 2), "confidence": m.info["confidence"],
           "low": m.info["confidence_low"], "disagreement": m.info["learned_disagreement"], "s": round(time.time() - t, 1)}
    print(json.dumps(row), flush=True)
    with open(out, "a") as fh: fh.write(json.dumps(row) + "\n")
