"""n round trips between two threads over two threading.Semaphore(0)
(release the other's, acquire yours): two hand-offs per round trip."""
import threading
from _common import main
from event_pingpong import pingpong


class Channel:
    def __init__(self):
        self.sem = threading.Semaphore(0)
        self.value = 0

    def send(self, v):
        self.value = v
        self.sem.release()

    def recv(self):
        self.sem.acquire()
        return self.value


main(lambda args: pingpong(args, Channel))
