# Seed 001, "ThreadPoolExecutor (easier threading)" (as the tutorial has it).
import time
from concurrent.futures import ThreadPoolExecutor
def fetch_url_simulation(url):
    time.sleep(0.5)
    return f"Content from {url}"
urls = [f"http://example.com/{i}" for i in range(10)]
# Using ThreadPoolExecutor
start = time.time()
with ThreadPoolExecutor(max_workers=5) as executor:
    results = list(executor.map(fetch_url_simulation, urls))
pool_time = time.time() - start
print(f"\nThreadPoolExecutor: {pool_time:.2f}s")
print(f"Fetched {len(results)} URLs")
