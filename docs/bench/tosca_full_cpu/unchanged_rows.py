"""The rows an earlier run gives for the pairs a later, partial re-run did not re-run (used by each
re-run's make_unchanged.py): the re-run's pairs are read from its pairs_1.txt and pairs_2.txt, and
the rows of the other pairs are written to its unchanged/bench.json (rows only: no PCK curve, so use
it with scripts/bench_classes.py, not merge_bench.py)."""
import json
from pathlib import Path


def rerun_pairs(here: Path) -> set:
    """The (source, target) pairs listed in ``here``'s pairs_1.txt and pairs_2.txt."""
    return {tuple(line.split()) for f in ("pairs_1.txt", "pairs_2.txt")
            for line in (here / f).read_text().splitlines() if line}


def write_unchanged(here: Path, earlier: list, note: str, drop: tuple = ("pck",), check=None) -> None:
    """``here/unchanged/bench.json``: the first of the ``earlier`` bench.json files (its header),
    with the "ours" rows of all of them except the re-run pairs; ``note`` gets the number of re-run
    pairs formatted in (``{n}``); ``check(row)`` must hold for every row kept."""
    rerun = rerun_pairs(here)
    d = json.loads(Path(earlier[0]).read_text())
    rows = {m: list(r) for m, r in d["pairs"].items()}
    for f in earlier[1:]:
        rows["ours"] += json.loads(Path(f).read_text())["pairs"]["ours"]
    d["pairs"] = {m: [r for r in rs if (r["source"], r["target"]) not in rerun] for m, rs in rows.items()}
    if check is not None:
        assert all(check(r) for r in d["pairs"]["ours"])
    d["n_pairs"] = len(d["pairs"]["ours"])
    d["note"] = note.format(n=len(rerun))
    for key in drop:
        d.pop(key, None)
    (here / "unchanged").mkdir(exist_ok=True)
    (here / "unchanged" / "bench.json").write_text(json.dumps(d))
    print(d["n_pairs"], "rows kept")
