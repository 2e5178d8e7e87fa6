#!/bin/bash
# GPU checks, 2026-12-04 (second session): ARAP on CUDA, the CUDA tests, the large-mesh row that went wrong.
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "=== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD SHAPECORR_CACHE_DIR=/tmp/sccache OMP_NUM_THREADS=4
P="taskset -c 0-3"
stamp installed
python3 -c "import torch, cholespy; print(torch.__version__, torch.cuda.get_device_name(0))"
lscpu | grep -E "Model name|^CPU\(s\)"
stamp tests
timeout 150 $P python3 -m pytest -q -p no:cacheprovider tests/deform/test_arap.py tests/spectral/test_eigen.py tests/learn/test_learn.py -k "cuda or gpu or torch" -rs 2>&1 | tee $OUT/tests_cuda.log | tail -8
stamp arap
timeout 200 $P python3 scripts/bench_arap.py --spot .gpu/data/textured/spot/cow.obj --sizes 10k 100k 187k --devices cpu cuda --devices-only --frames 12 --out $OUT/arap 2>&1 | grep -v Warning | tail -8
stamp large
timeout 200 $P python3 scripts/bench_large.py --faust .gpu/data/FAUST_r/vtx_5k --pairs holdout --limit 1 --sizes 20k 125k --device cuda --timeout 150 --out $OUT/large_cuda 2>&1 | tail -10
stamp done
