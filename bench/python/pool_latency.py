"""Submit one task to a ThreadPoolExecutor and wait for its result, n times."""
import time
from concurrent.futures import ThreadPoolExecutor
from _common import expect, main


def inc(v):
    return v + 1


def run(args):
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for i in range(16):
            expect(pool.submit(inc, i).result() == i + 1, "wrong task result")
        ok = True
        t0 = time.perf_counter()
        for i in range(args.n):
            if pool.submit(inc, i).result() != i + 1:
                ok = False
        s = time.perf_counter() - t0
    expect(ok, "wrong task result")
    return s, args.n


main(run)
