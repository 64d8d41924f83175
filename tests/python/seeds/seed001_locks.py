# Seed 001, "Thread Synchronization with Locks" (as the tutorial has it).
import threading
import time
# === Race condition example (without lock) ===
shared_counter = 0
def increment_unsafe():
    """Unsafe increment (race condition)."""
    global shared_counter
    for _ in range(100000):
        shared_counter += 1
# Create threads
t1 = threading.Thread(target=increment_unsafe)
t2 = threading.Thread(target=increment_unsafe)
t1.start()
t2.start()
t1.join()
t2.join()
print(f"Unsafe counter: {shared_counter}") # Not 200000! Race condition!
# === Using Lock for safety ===
shared_counter = 0
counter_lock = threading.Lock()
def increment_safe():
    """Safe increment with lock."""
    global shared_counter
    for _ in range(100000):
        counter_lock.acquire()
        try:
            shared_counter += 1
        finally:
            counter_lock.release()
t1 = threading.Thread(target=increment_safe)
t2 = threading.Thread(target=increment_safe)
t1.start()
t2.start()
t1.join()
t2.join()
print(f"Safe counter: {shared_counter}") # 200000 - correct!
# === Using Lock with context manager ===
shared_list = []
list_lock = threading.Lock()
def add_items(items):
    """Add items to shared list safely."""
    for item in items:
        with list_lock: # Automatic acquire and release
            shared_list.append(item)
        time.sleep(0.01)
t1 = threading.Thread(target=add_items, args=([1, 2, 3],))
t2 = threading.Thread(target=add_items, args=([4, 5, 6],))
t1.start()
t2.start()
t1.join()
t2.join()
print(f"Shared list: {shared_list}")
# === RLock (Reentrant Lock) ===
rlock = threading.RLock()
def recursive_function(count):
    """Function that acquires lock multiple times."""
    with rlock:
        print(f"Count: {count}")
        if count > 0:
            recursive_function(count - 1) # Lock acquired again
thread = threading.Thread(target=recursive_function, args=(3,))
thread.start()
thread.join()
# === Semaphore (limited access) ===
semaphore = threading.Semaphore(3) # Max 3 threads
def access_limited_resource(thread_id):
    """Access resource with limited slots."""
    print(f"Thread {thread_id} waiting for access")
    with semaphore:
        print(f"Thread {thread_id} accessing resource")
        time.sleep(2)
        print(f"Thread {thread_id} releasing resource")
threads = []
for i in range(6):
    t = threading.Thread(target=access_limited_resource, args=(i,))
    threads.append(t)
    t.start()
for t in threads:
    t.join()
# === Event for signaling ===
event = threading.Event()
def waiter():
    """Wait for event signal."""
    print("Waiter: Waiting for event...")
    event.wait() # Block until event is set
    print("Waiter: Event received!")
def setter():
    """Set event after delay."""
    time.sleep(2)
    print("Setter: Setting event")
    event.set() # Signal waiting threads
t1 = threading.Thread(target=waiter)
t2 = threading.Thread(target=setter)
t1.start()
t2.start()
t1.join()
t2.join()
# === Condition variable ===
condition = threading.Condition()
data_ready = False
def consumer():
    """Wait for data to be ready."""
    with condition:
        print("Consumer: Waiting for data")
        condition.wait() # Wait for notification
        print("Consumer: Data received")
def producer():
    """Produce data and notify."""
    global data_ready
    time.sleep(1)
    with condition:
        data_ready = True
        print("Producer: Data ready, notifying")
        condition.notify() # Wake up waiting thread
t1 = threading.Thread(target=consumer)
t2 = threading.Thread(target=producer)
t1.start()
t2.start()
t1.join()
t2.join()
# === Barrier for synchronization points ===
barrier = threading.Barrier(3)
def worker_with_barrier(worker_id):
    """Worker that waits at barrier."""
    print(f"Worker {worker_id} doing initial work")
    time.sleep(worker_id) # Different durations
    print(f"Worker {worker_id} waiting at barrier")
    barrier.wait() # All threads must reach here
    print(f"Worker {worker_id} proceeding after barrier")
threads = []
for i in range(3):
    t = threading.Thread(target=worker_with_barrier, args=(i,))
    threads.append(t)
    t.start()
for t in threads:
    t.join()
