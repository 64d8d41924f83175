"""Seed 001's CPU-bound program: two threads each run cpu_bound_task(n)."""
import threading
import time
from _common import expect, main


def cpu_bound_task(n):
    count = 0
    for i in range(n):
        count += i ** 2
    return count


def run(args):
    results = [0, 0]

    def worker(k):
        results[k] = cpu_bound_task(args.n)

    t0 = time.perf_counter()
    thread1 = threading.Thread(target=worker, args=(0,))
    thread2 = threading.Thread(target=worker, args=(1,))
    thread1.start()
    thread2.start()
    thread1.join()
    thread2.join()
    s = time.perf_counter() - t0
    n = args.n
    expect(results[0] == results[1] == (n - 1) * n * (2 * n - 1) // 6, "wrong sum of squares")
    return s, 1


main(run)
