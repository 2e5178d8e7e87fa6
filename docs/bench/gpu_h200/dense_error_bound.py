#!/usr/bin/env python
"""Why the dense eigensolve failed on the 10k proxies of subdivided FAUST_r meshes.

For each mesh: its 10k proxy (``make_proxy``, as the pipeline builds it), the largest eigenvalue
of ``M^-1/2 L M^-1/2`` and the dense solve's eigenvalue error bound ``n eps lambda_max``, against
the 60th eigenvalue (what the match uses). Run on CPU:

    python scripts/subdivide_faust.py ../shared/data/FAUST_r/vtx_5k /tmp/sub --levels 1 \
        --names tr_reg_090 tr_reg_091
    python docs/bench/gpu_h200/dense_error_bound.py /tmp/sub/sub1/tr_reg_090.off /tmp/sub/sub1/tr_reg_091.off \
        ../shared/data/FAUST_r/vtx_5k/tr_reg_090.off
"""

import sys

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from shapecorr import load
from shapecorr.core.proxy import make_proxy
from shapecorr.spectral.laplacian import laplacian

for path in sys.argv[1:]:
    shape = make_proxy(load(path, warn=False), 10000).shape.normalized()
    L, mass = laplacian(shape)
    d = sp.diags(1 / np.sqrt(mass))
    lam_max = sla.eigsh(d @ L @ d, k=1, which="LA", return_eigenvectors=False)[0]
    lam_60 = sla.eigsh(L.tocsc(), k=60, M=sp.diags(mass).tocsc(), sigma=-1e-3, which="LM",
                       return_eigenvectors=False).max()
    bound = shape.n_vertices * np.finfo(float).eps * lam_max
    print(f"{path}: {shape.n_vertices} vertices, smallest mass {mass.min() / mass.mean():.1e} of the mean, "
          f"lambda_max {lam_max:.3g}, error bound {bound:.3g}, lambda_60 {lam_60:.1f}")
