"""Submit n tiny tasks to a ThreadPoolExecutor, then wait for all of them."""
import itertools
import time
from concurrent.futures import ThreadPoolExecutor, wait
from _common import expect, main


def run(args):
    counter = itertools.count()  # next() on it is atomic in CPython
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        wait([pool.submit(next, counter) for _ in range(16)])
        start = next(counter)
        t0 = time.perf_counter()
        futures = [pool.submit(next, counter) for _ in range(args.n)]
        wait(futures)
        s = time.perf_counter() - t0
    expect(next(counter) - start - 1 == args.n, "tasks lost")
    return s, args.n


main(run)
