"""Seed 004's shared counter: five threads each add --n (1000) under a Lock."""
import threading
import time
from _common import expect, main


def run(args):
    counter = 0
    lock = threading.Lock()

    def increment_counter():
        nonlocal counter
        for _ in range(args.n):
            with lock:
                counter += 1

    t0 = time.perf_counter()
    threads = []
    for _ in range(5):
        t = threading.Thread(target=increment_counter)
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    s = time.perf_counter() - t0
    expect(counter == 5 * args.n, "lost increments")
    return s, 1


main(run)
