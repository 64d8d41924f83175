"""n sequential threading.Thread start + join."""
import threading
import time
from _common import expect, main


def run(args):
    counter = [0]

    def body():
        counter[0] += 1

    t0 = time.perf_counter()
    for _ in range(args.n):
        t = threading.Thread(target=body)
        t.start()
        t.join()
    s = time.perf_counter() - t0
    expect(counter[0] == args.n, "a thread did not run")
    return s, args.n


main(run)
