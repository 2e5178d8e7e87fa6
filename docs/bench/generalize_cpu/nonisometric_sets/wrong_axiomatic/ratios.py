import json, sys
for f in sys.argv[1:]:
    d = json.load(open(f))
    print("==", f)
    for p in d:
        rows = p["rows"]
        base = [r for r in rows if r[0] == "learned"][0][5]
        for r in rows:
            init, k, conf, err, sym, res, kept = r
            if init.endswith("fallback") and conf > 0.3:
                print(f"{p['source']}->{p['target']} {init:18s} k={k} conf={conf:.3f} err={err:6.2f} res={res:.3f} ratio={res/base:.2f} {'KEPT' if kept else ''}")
