"""Seed 001's I/O-bound program: five threads each "fetch" (sleep --ms)."""
import threading
import time
from _common import expect, main


def run(args):
    fetched = []

    def io_bound_task(url):
        time.sleep(args.ms / 1000)
        fetched.append(url)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=io_bound_task, args=(f"http://example.com/{i}",))
               for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = time.perf_counter() - t0
    expect(len(fetched) == 5 and s >= args.ms / 1000, "a fetch was lost or too short")
    return s, 1


main(run)
