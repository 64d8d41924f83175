"""n round trips between two threads over two threading.Events
(set the other's, wait on yours, clear it)."""
import threading
from _common import expect, gated, main


class Channel:
    def __init__(self):
        self.ev = threading.Event()
        self.value = 0

    def send(self, v):
        self.value = v
        self.ev.set()

    def recv(self):
        self.ev.wait()
        self.ev.clear()
        return self.value


def pingpong(args, channel):
    ping, pong = channel(), channel()
    ok = [True, True]
    n = args.n

    def body(who):
        if who == 0:
            for i in range(1, n + 1):
                ping.send(i)
                if pong.recv() != i + 1:
                    ok[0] = False
        else:
            for i in range(1, n + 1):
                v = ping.recv()
                if v != i:
                    ok[1] = False
                pong.send(v + 1)

    s = gated(2, body)
    expect(all(ok), "ping-pong value out of order")
    return s, n


if __name__ == "__main__":
    main(lambda args: pingpong(args, Channel))
