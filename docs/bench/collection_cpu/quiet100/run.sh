set -x
cd /work/main
O=docs/bench/collection_cpu/quiet100
mkdir -p $O
date; uptime
.venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 --task-threads 1 --engine local --throughput --run-dir /tmp/q100/local_t1 --out $O/local_threads1
date; uptime
RAY_worker_niceness=0 .venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 --task-threads 1 --engine ray --num-cpus 2 --throughput --run-dir /tmp/q100/ray_t1 --out $O/ray_threads1
date; uptime
.venv/bin/python scripts/bench_collection.py ../shared/data/FAUST_r/vtx_5k --first 0 --count 100 --engine local --throughput --run-dir /tmp/q100/local_default --out $O/local_default
date; uptime
.venv/bin/python scripts/bench_collection.py --compare /tmp/q100/local_t1 /tmp/q100/ray_t1 --out $O
date
