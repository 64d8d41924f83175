"""--threads threads share n lock/increment/unlock operations."""
import threading
from _common import expect, gated, main


def run(args):
    lock = threading.Lock()
    counter = [0]
    per = args.n // args.threads

    def body(_):
        for _ in range(per):
            with lock:
                counter[0] += 1

    s = gated(args.threads, body)
    expect(counter[0] == per * args.threads, "lost increments")
    return s, per * args.threads


main(run)
