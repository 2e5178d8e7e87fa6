"""Two pairs of the simulation run for real with the zeroshot preset (both fallback energies).
    OMP_NUM_THREADS=1 python docs/bench/prior_cpu/zeroshot_energies/check_real.py"""
import sys, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[4])); warnings.filterwarnings('ignore')
import shapecorr
from shapecorr.eval import Dataset, PairEvaluator
data = Path(__file__).resolve().parents[5] / 'shared' / 'data'
for root, a, b in [('TOSCA_r/TOSCA_Isometric/vtx_5k', 'centaur3', 'centaur5'), ('FAUST_r/vtx_5k', 'tr_reg_091', 'tr_reg_097')]:
    ds = Dataset(str(data / root)); ev = PairEvaluator(ds)
    m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset='zeroshot')
    r = ev.evaluate(a, b, m.p2p_21, m.p2p_12)[0]
    kept = max(m.info['candidates'], key=lambda c: c['confidence'])
    print(f"{a}->{b}: {r['mean_error_x100']:.2f} (confidence {m.info['confidence']:.2f}, {m.info['init']}, energy {kept.get('energy')})", flush=True)
