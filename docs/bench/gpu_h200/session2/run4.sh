#!/bin/bash
# GPU checks, 2026-12-04 (second session, run 2): splat fitting on CUDA with gsplat.
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "=== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD SHAPECORR_CACHE_DIR=/tmp/sccache TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
stamp "gsplat build"
timeout 200 python3 -c "from gsplat.cuda._backend import _C; print('gsplat ok', _C is not None)" 2>&1 | tail -2 || exit 4
stamp tests
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/splat/test_gsplat_cuda.py -rs 2>&1 | tee $OUT/tests_gsplat_fit.log | tail -4
stamp "fit cuda (CLI defaults)"
/usr/bin/time -v timeout 240 python3 -m shapecorr splat fit .gpu/data/textured/spot/cow.obj --out /tmp/fit_cuda --device cuda 2> $OUT/fit_cuda_stderr.log; echo "rc=$?"
tr '\r' '\n' < $OUT/fit_cuda_stderr.log | grep -E "fitting splats.*(500|1000|1500)/1500|held-out|fitted|Elapsed|Maximum resident|Error|error" | tail -12
cp /tmp/fit_cuda/fit.json $OUT/fit_cuda.json 2>/dev/null; cp /tmp/fit_cuda/preview.png $OUT/fit_cuda_preview.png 2>/dev/null
stamp done
