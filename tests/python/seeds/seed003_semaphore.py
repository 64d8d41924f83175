# Seed 003, "Semaphore" (as the tutorial has it).
from threading import Thread, Semaphore
import time
import random
sem = Semaphore(3) # Allow 3 concurrent threads
def task(name):
    with sem: # Acquire/release automatically
        print(f"{name} is working")
        time.sleep(random.randint(1, 2))
        print(f"{name} finished")
for i in range(10):
    t = Thread(target=task, args=(f"Task-{i}",))
    t.start()
