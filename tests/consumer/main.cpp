// Counts to 4 x 10,000 under a spindle::Lock and prints the total.
#include <spindle/condition.hpp>
#include <spindle/lock.hpp>

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

int main() {
  spindle::Lock lock;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        std::scoped_lock guard(lock);
        ++counter;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::printf("counter=%ld\n", counter);
  return counter == 40'000 ? 0 : 1;
}
