"""Shared driver for the Python workloads of the benchmark report.

Each bench/python/<workload>.py defines run(args) -> (seconds, ops), checks
its own result (raising WrongResult), and calls main(run). The command line
and the JSON line printed match the C++ harness (bench/report/main.cpp):

    python3 <workload>.py [--n N] [--threads T] [--workers W] [--ms MS] [--warmup K]
"""
import argparse
import json
import os
import sys
import threading
import time


class WrongResult(Exception):
    pass


def expect(ok, what):
    if not ok:
        raise WrongResult(what)


def gated(n, body):
    """Runs body(i) on n threads released together; returns the seconds from
    the release until the last thread finished (thread start not timed)."""
    gate = threading.Barrier(n + 1)

    def wrap(i):
        gate.wait()
        body(i)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def main(run):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--ms", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    workload = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    try:
        for _ in range(args.warmup):
            w = argparse.Namespace(**vars(args))
            w.n = max(1, args.n // 10)
            run(w)
        seconds, ops = run(args)
    except WrongResult as e:
        print(f"WRONG RESULT: {workload} python: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"workload": workload, "impl": "python", "seconds": seconds,
                      "ops": ops, "ns_per_op": seconds * 1e9 / ops}))
