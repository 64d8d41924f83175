# Seed 003, "Deadlock" (as the tutorial has it: both threads take A then B,
# so it finishes).
from threading import Thread, Lock
import time
lock_a = Lock()
lock_b = Lock()
class DeadlockThread(Thread):
    def run(self):
        self.acquire_locks()
        self.release_locks()
    def acquire_locks(self):
        lock_a.acquire()
        print(f"{self.name} acquired Lock A")
        lock_b.acquire()
        print(f"{self.name} acquired Lock B")
    def release_locks(self):
        lock_b.release()
        lock_a.release()
for _ in range(2):
    t = DeadlockThread()
    t.start()
