"""python summarize.py FILE... : mean error per variant over the rows of variants.py /
pairs_variants.py outputs, on all rows and on the rows the default would register (confidence
below 0.95; pairs_variants.py also counts low feature agreement)."""
import re, sys
import numpy as np

rows = []
for f in sys.argv[1:]:
    for line in open(f):
        if ' noreg ' not in line:
            continue
        conf = float(re.search(r'conf ([\d.]+)', line).group(1))
        reg = re.search(r'would_register (\w+)', line)
        would = (reg.group(1) == 'True') if reg else conf < 0.95
        errs = {'noreg': float(re.search(r'noreg ([\d.]+)', line).group(1))}
        errs.update({k: float(v) for k, v in re.findall(r'(p\d+[\w-]*) ([\d.]+) \(', line)})
        rows.append((line.split(' n ')[0], would, errs))
names = list(rows[0][2])
for label, sel in (('all', [r for r in rows]), ('registered by the default', [r for r in rows if r[1]])):
    print(f'{label} ({len(sel)} pairs): ' + ', '.join(
        f"{n} {np.mean([r[2][n] for r in sel]):.2f} / {np.median([r[2][n] for r in sel]):.2f} / {sum(r[2][n] > 5 for r in sel)}"
        for n in names if all(n in r[2] for r in sel)))
    if 'p5000-nofinish' in names:
        d = np.array([r[2]['p5000-nofinish'] - r[2]['noreg'] for r in sel])
        print(f'  p5000-nofinish vs noreg: {int((d < -0.05).sum())} better, {int((d > 0.05).sum())} worse by > 0.05')
