"""n acquire/release pairs of threading.Lock on one thread (with lock:)."""
import time
from _common import expect, main
import threading


def run(args):
    lock = threading.Lock()
    counter = 0
    t0 = time.perf_counter()
    for _ in range(args.n):
        with lock:
            counter += 1
    s = time.perf_counter() - t0
    expect(counter == args.n, "lost increments")
    return s, args.n


main(run)
