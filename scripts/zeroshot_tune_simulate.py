"""Replays candidate sets of scripts/zeroshot_tune_candidates.py's JSONs through the zeroshot preset's choice."""
import json, glob, sys
TH = 0.5858406963748495
rules = {
 "before": ["zs_s0_t50"],
 "shipped": ["zs_s0_t50", "fsolve_s0_k30_m1", "fsolve_s0_k30_m10", "fsolve_s0_k20_m1", "fsolve_s0_k20_m10"],
 "m1": ["zs_s0_t50", "fsolve_s0_k30_m1", "fsolve_s0_k20_m1"],
 "k30m1": ["zs_s0_t50", "fsolve_s0_k30_m1"],
 "t80": ["zs_s0_t80"],
}
d = sys.argv[1]
res = {k: [] for k in rules}
for f in sorted(glob.glob(d + "/*.json")):
    r = json.load(open(f)); c = {x["name"]: x for x in r["cands"]}
    line = f"{r['pair'][0]:>9}->{r['pair'][1]:<9}"
    for name, names in rules.items():
        cands = [c[n] for n in names]
        best = max(cands, key=lambda x: x["conf"])
        if best["conf"] < 1.0:
            for n in ("ax_k30_m1", "ax_k20_m1", "ax_k40_m1"):
                cands.append(c[n])
                if c[n]["conf"] >= TH: break
            best = max(cands, key=lambda x: x["conf"])
        res[name].append((best["error"], best["flipped"]))
        line += f" {name}:{best['error']:.2f}{'F' if best['flipped'] else ' '}"
    print(line)
for name, v in res.items():
    print(name, f"mean {sum(e for e, _ in v)/len(v):.3f} flips {sum(f for _, f in v)} n {len(v)}")
