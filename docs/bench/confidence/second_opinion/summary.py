import json, sys
rows=[json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
print(len(rows), "pairs;", sum(r["second_runs"] for r in rows), "where the second model runs")
for r in sorted(rows, key=lambda r: r["agreement"]):
    if not r["second_runs"]: continue
    f, s = r["first"], r["second"]
    kept = s if s["confidence"] > f["confidence"] else f
    print(f'{r["pair"]:28s} first {f["init"][:18]:18s} {f["error"]:6.2f} c{f["confidence"]:.2f}{"L" if f["low"] else " "} | second {s["init"][:18]:18s} {s["error"]:6.2f} c{s["confidence"]:.2f}{"L" if s["low"] else " "} | agree {r["agreement"]:.3f} kept {kept["error"]:6.2f}{" FLAG" if r["agreement"]<0.5 else ""}')
