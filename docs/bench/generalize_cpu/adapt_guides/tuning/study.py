"""Study: does test-time adaptation hurt, and what keeps it from hurting? Tuning pairs only:
FAUST_r 070-079 (validation) and TOSCA_r even-numbered untrusted pairs (training shapes)."""
import sys, json, time, warnings
import numpy as np, torch
import shapecorr.pipeline as pl
import shapecorr.learn.adapt as ad
from shapecorr.learn.selfsup import LossWeights, unsupervised_pair_loss, unit_features
from shapecorr.eval import Dataset, PairEvaluator
warnings.filterwarnings('ignore')
torch.set_num_threads(1)
variant = sys.argv[1]
out = open(f'/work/main/out/adapt_study_{variant}.jsonl', 'a')
store = {}
orig = pl._Run._result
def patched(self, src, tgt, candidates, best, fallback, maps):
    store['c'] = candidates
    return orig(self, src, tgt, candidates, best, fallback, maps)
pl._Run._result = patched

ANCHOR = 0.0
if variant.startswith('anchor'):
    ANCHOR = float(variant[len('anchor'):])
    base_loss = unsupervised_pair_loss
    state = {}
    def anchored(fx, fy, sx, sy, w, generator=None):
        total, parts = base_loss(fx, fy, sx, sy, w, generator=generator)
        key = (fx.shape[0], fy.shape[0])
        if state.get('key') != key or state.get('n', 0) == 0:
            state.update(key=key, f0x=unit_features(fx).detach(), f0y=unit_features(fy).detach(), n=1)
        a = ((unit_features(fx) - state['f0x'])**2).sum(1).mean() + ((unit_features(fy) - state['f0y'])**2).sum(1).mean()
        return total + ANCHOR * 1000 * a, parts
    ad.unsupervised_pair_loss = anchored
    orig_adapt = ad.adapt_features
    def adapt_reset(*a, **k):
        state.clear(); return orig_adapt(*a, **k)
    ad.adapt_features = adapt_reset
if variant == 'nocouple':
    ad.ADAPT_WEIGHTS = LossWeights(couple=0.0, couple_points=1000)
if variant.startswith('guided'):
    f2f = pl.features_to_fmap
    def stash(feats, *a, **k):
        store['feats'] = feats; return f2f(feats, *a, **k)
    pl.features_to_fmap = stash
    cand = pl._Run._candidate
    def guided_candidate(self, kind, k, mult, C0, energy=None):
        if kind != 'learned_adapted':
            return cand(self, kind, k, mult, C0, energy)
        g = self.guides if variant == 'guided_orig' else pl.refinement_guides(list(store['feats']), self.s)
        t0 = time.perf_counter()
        C, p2p_21, p2p_12 = pl.refine(C0, self.P1, self.P2, self.s, self.plan, samples=self.samples,
                                   refine_subset=self.refine_subset, device=self.device, guides=g)
        return pl.assess(pl.Candidate(kind, k, mult, C, p2p_21, p2p_12, energy=energy), self.P1, self.P2,
                      self.descr, tuple(w.distances for w in self.work))
    pl._Run._candidate = guided_candidate
over = {'use_fallback': False}
if variant == 'never':
    over['adapt_when'] = 'never'
else:
    over['adapt_when'] = 'replace'
if variant.startswith('lr'):
    over['adapt_lr'] = float(variant[2:])
if variant.startswith('steps'):
    over['adapt_steps'] = int(variant[5:])

faust = Dataset('/work/shared/data/FAUST_r/vtx_5k')
tosca = Dataset('/work/shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k')
pairs = [(faust, 'tr_reg_070', 'tr_reg_075'), (faust, 'tr_reg_071', 'tr_reg_078'), (faust, 'tr_reg_073', 'tr_reg_076')]
pairs += [(tosca, a, b) for a, b in [('dog10','dog2'),('cat2','cat4'),('cat0','cat4'),('cat4','cat6'),('cat4','cat8'),('cat10','cat6'),
          ('centaur2','centaur4'),('david12','david6'),('dog10','dog6'),('dog10','dog8'),('david0','david6'),('dog6','dog8')]]
evs = {}
for ds, a, b in pairs:
    ev = evs.setdefault(id(ds), PairEvaluator(ds))
    t0 = time.process_time()
    m = pl.match(ev.shape(a), ev.shape(b), 'default', **over)
    cpu = time.process_time() - t0
    r, _ = ev.evaluate(a, b, m.p2p_21, m.p2p_12)
    row = dict(variant=variant, source=a, target=b, error=round(r['mean_error_x100'], 3), median=round(r['median_error_x100'], 3),
               flipped=bool(r.get('flipped') or False), confidence=m.info['confidence'], init=m.info['init'], cpu=round(cpu, 1))
    out.write(json.dumps(row) + '\n'); out.flush()
    print(row, flush=True)
