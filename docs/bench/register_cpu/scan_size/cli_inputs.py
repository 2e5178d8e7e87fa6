"""Inputs of cli_bunny.md: stanford-bunny with a synthetic planar UV and a 1024 checker
(out/cli_bunny/bunny.obj) and its copy remeshed, bent 40 degrees and shuffled
(out/cli_bunny/bunny_bent.ply), made as scripts/eval_texture.py makes its bent copies."""

import sys
import warnings
from pathlib import Path

sys.path.insert(0, "scripts")

import shapecorr  # noqa: E402
from eval_texture import bent_remeshed_pair, checker_texture, synthetic_uv  # noqa: E402

out = Path("out/cli_bunny")
out.mkdir(parents=True, exist_ok=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the bunny's flaws are handled and warned about by the CLI run
    src = synthetic_uv(shapecorr.load("../shared/data/realworld/stanford-bunny.obj"),
                       checker_texture(out / "checker1024.png", size=1024, n=16))
    tgt, _ = bent_remeshed_pair(src, 40.0)
src.copy(name="bunny").save(out / "bunny.obj")
tgt.save(out / "bunny_bent.ply")
print(src.n_vertices, tgt.n_vertices)
