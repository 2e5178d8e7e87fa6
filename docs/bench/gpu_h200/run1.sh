#!/bin/bash
# GPU checks for shapecorr (one prepared run; see the device tool's notes). Writes logs to $OUT.
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "=== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
export SHAPECORR_CACHE_DIR=/tmp/sccache
stamp installed
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch,sys;print(sys.version.split()[0], torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0))"
lscpu | grep -E "Model name|^CPU\(s\)"
# gsplat's CUDA kernels are compiled on first use: in the background on cores 4-15
( export TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=12; s=$(date +%s); timeout 330 taskset -c 4-15 python3 -c "from gsplat.cuda._backend import _C; print('gsplat ok', _C is not None)"; echo "gsplat build rc=$? $(( $(date +%s) - s )) s" ) > $OUT/gsplat_build.log 2>&1 &
BUILD=$!
P="taskset -c 0-3"
export OMP_NUM_THREADS=4
stamp tests
timeout 100 $P python3 -m pytest -q -p no:cacheprovider tests/spectral/test_eigen.py tests/learn/test_learn.py -k "cuda or gpu" -rs 2>&1 | tee $OUT/tests_cuda.log | tail -15
A=.gpu/data/FAUST_r/vtx_5k/tr_reg_080.off; B=.gpu/data/FAUST_r/vtx_5k/tr_reg_085.off
for dev in cuda cpu; do
  stamp "match $dev"
  /usr/bin/time -f "match $dev wall %e s, cpu %U+%S s, rss %M KB" timeout 60 $P python3 -m shapecorr match $A $B --out /tmp/m_$dev --device $dev --quiet 2>&1 | tail -2
  python3 -c "import json;d=json.load(open('/tmp/m_$dev/match.json'));print('confidence', d.get('confidence'), 'timings', d.get('timings'))" 2>&1 | tail -1
done
for dev in cuda cpu; do
  stamp "adapt $dev"
  rm -rf /tmp/sccache
  /usr/bin/time -f "adapt $dev wall %e s, cpu %U+%S s" timeout 70 $P python3 -m shapecorr match $A $B --out /tmp/a_$dev --adapt --device $dev --quiet 2>&1 | tail -2
  python3 -c "import json;d=json.load(open('/tmp/a_$dev/match.json'));print('adaptation', d.get('info',{}).get('adaptation'))" 2>&1 | tail -1
done
for dev in cuda cpu; do
  stamp "train $dev"
  /usr/bin/time -f "train $dev wall %e s" timeout 80 $P python3 -m shapecorr train .gpu/data/train10 --out /tmp/t_$dev/m.pt --steps 40 --augment 0 --device $dev --threads 4 2>&1 | tr '\r' '\n' | grep -v "^$" | tail -4
done
stamp bench
timeout 170 $P python3 scripts/bench_match.py .gpu/data/FAUST_r/vtx_5k --device cuda --shuffle 0 --limit 10 --no-warm --out $OUT/bench_cuda 2>&1 | tail -8
stamp "wait gsplat build"
wait $BUILD; cat $OUT/gsplat_build.log | tail -5
stamp "gsplat test"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/splat/test_gsplat_cuda.py -rs 2>&1 | tee $OUT/tests_gsplat.log | tail -8
stamp "splat speed"
timeout 60 python3 scripts/bench_splat.py .gpu/data --out $OUT/splat --only speed --speed-device cuda 2>&1 | tail -2
timeout 60 python3 scripts/bench_splat.py .gpu/data --out $OUT/splat --only speed --speed-threads 16 2>&1 | tail -1
stamp done
