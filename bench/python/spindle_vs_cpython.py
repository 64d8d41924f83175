"""spindle's Python module against CPython's own modules, side by side in one
run, on the interpreter that runs this script:

    PYTHONPATH=build/release/python python3 bench/python/spindle_vs_cpython.py [--quick] [--rounds R]

Workloads (each checks its own result):
  queue-1p1c, queue-8p8c   P producers and P consumers move N items through
                           queue.Queue / spindle.Queue (unbounded)
  pool-latency             submit(f).result() one at a time (round trip)
  pool-tiny-tasks          100k submits of a tiny function, then every result
  event-pingpong           two threads answering each other through two Events

The implementations alternate round by round (R rounds, 3 by default) and the
median is reported, so that a slow moment of the machine hits both. Times
are wall clock; ratio = CPython's time / spindle's (above 1: spindle faster).
No ratio is asserted: the numbers go in docs/bench/python.md.
"""
import argparse
import concurrent.futures
import queue
import statistics
import sys
import threading
import time

import spindle


def gated(n, body):
    """Runs body(i) on n Python threads released together; seconds from the
    release until the last ended (start-up not timed)."""
    gate = threading.Barrier(n + 1)

    def wrap(i):
        gate.wait()
        body(i)
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def queue_pairs(make, pairs, n):
    q = make()
    per = n // pairs
    sums = [0] * pairs

    def body(i):
        if i < pairs:
            put = q.put
            base = i * per
            for k in range(base, base + per):
                put(k)
        else:
            get = q.get
            s = 0
            for _ in range(per):
                s += get()
            sums[i - pairs] = s
    sec = gated(2 * pairs, body)
    total = per * pairs
    assert sum(sums) == total * (total - 1) // 2, "queue lost or duplicated items"
    return sec, total


def noop():
    return 1


def pool_latency(make, n):
    with make(2) as pool:
        pool.submit(noop).result()  # workers started
        t0 = time.perf_counter()
        for _ in range(n):
            assert pool.submit(noop).result() == 1
        sec = time.perf_counter() - t0
    return sec, n


def pool_tiny(make, n):
    with make(4) as pool:
        pool.submit(noop).result()
        t0 = time.perf_counter()
        fs = [pool.submit(noop) for _ in range(n)]
        total = sum(f.result() for f in fs)
        sec = time.perf_counter() - t0
    assert total == n
    return sec, n


def event_pingpong(make, n):
    ping, pong = make(), make()

    def body(i):
        if i == 0:
            for _ in range(n):
                ping.set()
                pong.wait()
                pong.clear()
        else:
            for _ in range(n):
                ping.wait()
                ping.clear()
                pong.set()
    return gated(2, body), n


WORKLOADS = [
    ("queue-1p1c", "item", lambda m, q: queue_pairs(m, 1, 200_000 // q),
     queue.Queue, spindle.Queue),
    ("queue-8p8c", "item", lambda m, q: queue_pairs(m, 8, 200_000 // q),
     queue.Queue, spindle.Queue),
    ("pool-latency", "round trip", lambda m, q: pool_latency(m, 5_000 // q),
     concurrent.futures.ThreadPoolExecutor, spindle.ThreadPoolExecutor),
    ("pool-tiny-tasks", "task", lambda m, q: pool_tiny(m, 100_000 // q),
     concurrent.futures.ThreadPoolExecutor, spindle.ThreadPoolExecutor),
    ("event-pingpong", "round trip", lambda m, q: event_pingpong(m, 20_000 // q),
     threading.Event, spindle.Event),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one round (a smoke run)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    scale = 20 if args.quick else 1
    rounds = 1 if args.quick else args.rounds
    print("Python %s, %s, %d rounds" % (sys.version.split()[0], sys.platform, rounds))
    print("%-16s %-11s %12s %12s %8s" % ("workload", "per", "CPython ns", "spindle ns", "ratio"))
    for name, unit, run, cpython, ours in WORKLOADS:
        times = {"cpython": [], "spindle": []}
        for _ in range(rounds):
            for label, make in (("cpython", cpython), ("spindle", ours)):
                sec, ops = run(make, scale)
                times[label].append(sec * 1e9 / ops)
        c = statistics.median(times["cpython"])
        s = statistics.median(times["spindle"])
        print("%-16s %-11s %12.0f %12.0f %7.1fx" % (name, unit, c, s, c / s), flush=True)


if __name__ == "__main__":
    main()
