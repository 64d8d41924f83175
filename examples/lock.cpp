// threading.Lock and RLock in C++: counting with many threads, "with lock:",
// a timed acquire, and a reentrant lock taken twice by one thread.
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/lock.hpp"

using namespace std::chrono_literals;

int main() {
  spindle::Lock lock;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        std::scoped_lock guard(lock);  // with lock:
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::printf("counter = %ld\n", counter);

  lock.acquire();
  const bool got = lock.acquire(10ms);  // held: times out, returns false
  std::printf("second acquire within 10 ms: %s\n", got ? "acquired" : "timed out");
  std::thread([&] { lock.release(); }).join();  // a Lock may be released by any thread

  spindle::RLock rlock;
  {
    std::scoped_lock outer(rlock);
    std::scoped_lock inner(rlock);  // the owner may take it again
    std::printf("rlock held twice by one thread\n");
  }
  return counter == 40000 && !got && !lock.locked() && !rlock.locked() ? 0 : 1;
}
