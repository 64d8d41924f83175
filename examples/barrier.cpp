// threading.Barrier in C++: three workers meet at the end of each phase; the
// action runs once per phase; abort() frees a waiter when a party is missing.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "spindle/barrier.hpp"

int main() {
  int phase = 0;
  spindle::Barrier barrier(3, [&] { std::printf("-- phase %d done\n", ++phase); });
  std::atomic<int> leaders{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      for (int p = 0; p < 3; ++p) {
        if (barrier.wait() == 0) ++leaders;  // exactly one index 0 per cycle
      }
    });
  }
  for (auto& t : workers) t.join();

  // A party that never comes: abort() turns the wait into BrokenBarrierError.
  spindle::Barrier pair(2);
  std::thread lonely([&] {
    try {
      pair.wait();
    } catch (const spindle::BrokenBarrierError&) {
      std::printf("lonely waiter: barrier broken\n");
    }
  });
  while (pair.n_waiting() == 0) std::this_thread::yield();
  pair.abort();
  lonely.join();
  return phase == 3 && leaders == 3 && pair.broken() ? 0 : 1;
}
