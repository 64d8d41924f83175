"""--threads parties pass n cycles of one threading.Barrier; after each
cycle every party checks that all parties arrived."""
import threading
from _common import expect, gated, main


def run(args):
    parties, cycles = args.threads, args.n
    barrier = threading.Barrier(parties)
    arrived = [0]
    count_lock = threading.Lock()
    ok = [True]

    def body(_):
        for c in range(cycles):
            with count_lock:
                arrived[0] += 1
            barrier.wait()
            a = arrived[0]
            if a < (c + 1) * parties or a >= (c + 2) * parties:
                ok[0] = False

    s = gated(parties, body)
    expect(ok[0] and arrived[0] == cycles * parties, "a party passed the barrier early")
    return s, cycles


main(run)
