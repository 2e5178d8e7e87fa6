# Ray against the single-process serial loop, all 100 FAUST_r shapes (issue 14), 2026-12-03.
# Each run cold (a fresh cache and output folder), nothing else running unless said in README.md.
set -x
cd /work/main
O=docs/bench/collection_cpu/serial100
ONE="OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1"
# the serial loop: one process, one core (taskset), one thread everywhere
taskset -c 0 env $ONE .venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 \
    --task-threads 1 --engine local --throughput --run-dir /tmp/s100/local_core0 --out $O/local_one_core_alone
# a local Ray with 2 workers, one thread each
env RAY_worker_niceness=0 $ONE .venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 \
    --task-threads 1 --engine ray --num-cpus 2 --throughput --run-dir /tmp/s100/ray --out $O/ray_two_workers
# a local Ray with its default threads (each match's feature network on all usable cores)
env RAY_worker_niceness=0 .venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 \
    --engine ray --num-cpus 2 --throughput --run-dir /tmp/s100/ray_default --out $O/ray_default
# the in-process loop as a user runs it (default threads, both cores)
.venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 --engine local \
    --throughput --run-dir /tmp/s100/local_default --out $O/local_default
.venv/bin/python scripts/bench_collection.py --compare /tmp/s100/local_core0 /tmp/s100/ray --out $O
