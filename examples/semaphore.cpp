// threading.Semaphore in C++: at most 3 of 8 workers inside at once, and a
// BoundedSemaphore catching a release without an acquire.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/semaphore.hpp"

int main() {
  spindle::Semaphore slots(3);  // Semaphore(3): max 3 threads
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        std::scoped_lock guard(slots);  // with slots:
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --inside;
      }
    });
  }
  for (auto& t : workers) t.join();
  std::printf("at most %d workers were inside at once\n", most.load());

  spindle::BoundedSemaphore bounded(1);
  try {
    bounded.release();  // never acquired
  } catch (const spindle::ValueError& e) {
    std::printf("BoundedSemaphore: %s\n", e.what());
  }
  return most.load() <= 3 && slots.value() == 3 ? 0 : 1;
}
