# Seed 001, "Thread-Safe Communication with Queue" (as the tutorial has it;
# its consumer's `queue` parameter hides the module, so `except queue.Empty`
# fails there in CPython too - the tutorial's bug, kept).
import threading
import queue
import time
import random
# === Basic producer-consumer pattern ===
work_queue = queue.Queue()
def producer(queue, items):
    """Produce items and add to queue."""
    for item in items:
        print(f"Producer: Adding {item} to queue")
        queue.put(item)
        time.sleep(0.5)
    print("Producer: Done")
def consumer(queue, consumer_id):
    """Consume items from queue."""
    while True:
        try:
            item = queue.get(timeout=2)
            print(f"Consumer {consumer_id}: Processing {item}")
            time.sleep(1) # Simulate processing
            queue.task_done()
        except queue.Empty:
            print(f"Consumer {consumer_id}: Queue empty, exiting")
            break
# Create threads
producer_thread = threading.Thread(
    target=producer,
    args=(work_queue, [1, 2, 3, 4, 5])
)
consumer1 = threading.Thread(target=consumer, args=(work_queue, 1))
consumer2 = threading.Thread(target=consumer, args=(work_queue, 2))
# Start threads
producer_thread.start()
consumer1.start()
consumer2.start()
# Wait for completion
producer_thread.join()
work_queue.join() # Wait for all tasks to be processed
print("All tasks completed")
# === Queue with size limit ===
limited_queue = queue.Queue(maxsize=3)
def producer_with_limit(queue):
    """Producer with limited queue."""
    for i in range(10):
        print(f"Producing item {i}")
        queue.put(i) # Blocks if queue is full
        print(f"Item {i} added")
def consumer_with_limit(queue):
    """Consumer processing items."""
    while True:
        item = queue.get()
        if item is None: # Sentinel value
            break
        print(f"Consuming item {item}")
        time.sleep(1) # Slow consumer
        queue.task_done()
p_thread = threading.Thread(target=producer_with_limit, args=(limited_queue,))
c_thread = threading.Thread(target=consumer_with_limit, args=(limited_queue,))
p_thread.start()
c_thread.start()
p_thread.join()
limited_queue.put(None) # Sentinel to stop consumer
c_thread.join()
# === Priority Queue ===
priority_queue = queue.PriorityQueue()
def priority_producer():
    """Add items with priorities."""
    tasks = [
        (3, "Low priority task"),
        (1, "High priority task"),
        (2, "Medium priority task"),
    ]
    for priority, task in tasks:
        priority_queue.put((priority, task))
        print(f"Added: {task} (priority {priority})")
def priority_consumer():
    """Process items by priority."""
    while not priority_queue.empty():
        priority, task = priority_queue.get()
        print(f"Processing: {task}")
        priority_queue.task_done()
p_thread = threading.Thread(target=priority_producer)
c_thread = threading.Thread(target=priority_consumer)
p_thread.start()
p_thread.join()
c_thread.start()
c_thread.join()
# === LIFO Queue (Stack) ===
lifo_queue = queue.LifoQueue()
for i in range(5):
    lifo_queue.put(i)
print("LIFO Queue (Last In, First Out):")
while not lifo_queue.empty():
    print(lifo_queue.get()) # 4, 3, 2, 1, 0
# === Practical example: Web scraper ===
url_queue = queue.Queue()
results = []
results_lock = threading.Lock()
def fetch_url(url):
    """Simulate fetching URL."""
    time.sleep(random.uniform(0.5, 1.5))
    return f"Content from {url}"
def worker():
    """Worker thread fetching URLs."""
    while True:
        try:
            url = url_queue.get(timeout=1)
            print(f"Fetching {url}")
            content = fetch_url(url)
            with results_lock:
                results.append(content)
            url_queue.task_done()
        except queue.Empty:
            break
# Add URLs to queue
urls = [f"http://example.com/page{i}" for i in range(10)]
for url in urls:
    url_queue.put(url)
# Create worker threads
workers = []
for _ in range(3):
    t = threading.Thread(target=worker)
    t.start()
    workers.append(t)
# Wait for all URLs to be processed
url_queue.join()
# Wait for workers to finish
for t in workers:
    t.join()
print(f"\nFetched {len(results)} URLs")
