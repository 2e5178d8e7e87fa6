#!/bin/bash
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "=== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
( export TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=8; s=$(date +%s); timeout 300 taskset -c 8-15 python3 -c "from gsplat.cuda._backend import _C; print('gsplat ok', _C is not None)"; echo "gsplat build rc=$? $(( $(date +%s) - s )) s" ) > /tmp/gsplat_build.log 2>&1 &
BUILD=$!
export OMP_NUM_THREADS=8
for dev in cuda cpu; do
  stamp "large $dev"
  timeout 190 taskset -c 0-7 python3 scripts/bench_large.py --faust .gpu/data/FAUST_r/vtx_5k --pairs holdout --limit 2 --sizes 5k 20k 125k --direct-sizes 20k --device $dev --timeout 120 --out $OUT/large_$dev 2>&1 | tail -12
done
stamp "wait gsplat"
wait $BUILD; tail -2 /tmp/gsplat_build.log
timeout 60 python3 scripts/bench_splat.py .gpu/data --out /tmp/splat --only speed --speed-device cuda 2>&1 | tail -1
stamp done
