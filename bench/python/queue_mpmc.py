"""--threads producers and --threads consumers move n items through one
queue.Queue; a consumer claims an item (a shared count) before each get."""
import itertools
import queue
from _common import expect, gated, main


def run(args):
    q = queue.Queue()
    pairs = args.threads
    per = args.n // pairs
    total = per * pairs
    sums = [0] * pairs
    counts = [0] * pairs
    claimed = itertools.count()  # next() on it is atomic in CPython

    def body(i):
        if i < pairs:
            base = i * per
            for k in range(1, per + 1):
                q.put(base + k)
        else:
            s = c = 0
            while next(claimed) < total:
                s += q.get()
                c += 1
            sums[i - pairs] = s
            counts[i - pairs] = c

    s = gated(2 * pairs, body)
    expect(sum(counts) == total and sum(sums) == total * (total + 1) // 2,
           "queue lost or duplicated items")
    return s, total


main(run)
