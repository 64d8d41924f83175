# Seed 004, "Event Objects" for stopping a worker (the tutorial's fragment
# with the thread it implies: start it, let it work, then signal stop).
import threading
import time
stop_event = threading.Event()
def worker():
    while not stop_event.is_set():
        # Do work
        time.sleep(1)
t = threading.Thread(target=worker)
t.start()
time.sleep(1.5)
# In main thread:
stop_event.set() # Signal stop
t.join()
print("worker stopped")
