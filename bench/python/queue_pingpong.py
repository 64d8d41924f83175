"""n round trips between two threads over two queue.Queue."""
import queue
from _common import main
from event_pingpong import pingpong


class Channel:
    def __init__(self):
        self.q = queue.Queue()

    def send(self, v):
        self.q.put(v)

    def recv(self):
        return self.q.get()


main(lambda args: pingpong(args, Channel))
