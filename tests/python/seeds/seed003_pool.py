# Seed 003, "Thread Pool" (as the tutorial has it).
from concurrent.futures import ThreadPoolExecutor
from threading import current_thread
import time
# Create a thread pool with 3 threads
pool = ThreadPoolExecutor(max_workers=3)
def task(x):
    time.sleep(1)
    print(f"Task {x} (Thread: {current_thread().name})")
    return x * 2
# Submit tasks (asynchronous)
for i in range(5):
    future = pool.submit(task, i)
    print(future.result()) # Wait for result (synchronous)
