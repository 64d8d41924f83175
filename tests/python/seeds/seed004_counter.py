# Seed 004, "Example 1: Shared Counter with Lock" (as the tutorial has it).
import threading
counter = 0 # Shared global variable
lock = threading.Lock() # Synchronization lock
def increment_counter():
    global counter
    for _ in range(1000):
        with lock: # Acquire lock automatically
            counter += 1
    # Lock released when block exits
# Create and start threads
threads = []
for i in range(5):
    t = threading.Thread(target=increment_counter)
    threads.append(t)
    t.start()
# Wait for all threads
for t in threads:
    t.join()
print(f"Final counter value: {counter}") # Always 5000
