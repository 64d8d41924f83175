"""Seed 004's shared counter: five threads each add 1000 under a Lock.
The whole program runs --n times; ops = programs."""
import threading
import time
from _common import expect, main


def program():
    counter = 0
    lock = threading.Lock()

    def increment_counter():
        nonlocal counter
        for _ in range(1000):
            with lock:
                counter += 1

    threads = []
    for _ in range(5):
        t = threading.Thread(target=increment_counter)
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    return counter


def run(args):
    t0 = time.perf_counter()
    counts = [program() for _ in range(args.n)]
    s = time.perf_counter() - t0
    expect(all(c == 5000 for c in counts), "lost increments")
    return s, args.n


main(run)
