"""Submit n tiny tasks to a ProcessPoolExecutor, then collect every result.

The same work as bench/bench_process.cpp's BM_Throughput_Submit (each task
returns its index; the sum is checked), and, with --chunksize, its map().
Run with /usr/bin/python3 (the system Python) or any CPython 3.8+:

    /usr/bin/python3 bench/python/process_tiny_tasks.py --n 100000 --workers 2
    /usr/bin/python3 bench/python/process_tiny_tasks.py --n 100000 --workers 2 --chunksize 1000
"""
import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor


def identity(i):
    return i


def run(n, workers, chunksize):
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(identity, i) for i in range(4 * workers)]:
            f.result()  # every worker is up
        t0 = time.perf_counter()
        if chunksize:
            total = sum(pool.map(identity, range(n), chunksize=chunksize))
        else:
            total = sum(f.result() for f in [pool.submit(identity, i) for i in range(n)])
        seconds = time.perf_counter() - t0
    if total != n * (n - 1) // 2:
        raise SystemExit("wrong sum")
    return seconds


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunksize", type=int, default=0)
    args = ap.parse_args()
    s = run(args.n, args.workers, args.chunksize)
    print(json.dumps({"workload": "process_tiny_tasks", "n": args.n, "workers": args.workers,
                      "chunksize": args.chunksize, "seconds": round(s, 4),
                      "tasks_per_s": round(args.n / s)}))
