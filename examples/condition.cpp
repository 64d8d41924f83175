// threading.Condition in C++: a consumer waits for items that a producer
// adds, with wait_for(predicate) and notify().
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include "spindle/condition.hpp"

using namespace std::chrono_literals;

int main() {
  spindle::Condition cond;  // over a new RLock, as in Python
  std::deque<int> items;
  bool finished = false;

  std::thread consumer([&] {
    int total = 0;
    for (;;) {
      std::scoped_lock guard(cond);
      cond.wait_for([&] { return !items.empty() || finished; });
      if (items.empty()) break;
      total += items.front();
      items.pop_front();
    }
    std::printf("consumer: total %d\n", total);
  });

  for (int i = 1; i <= 10; ++i) {
    std::scoped_lock guard(cond);
    items.push_back(i);
    cond.notify();  // wake one waiter
  }
  {
    std::scoped_lock guard(cond);
    finished = true;
    cond.notify_all();
  }
  consumer.join();

  // wait(timeout) returns false when nobody notified in time.
  std::scoped_lock guard(cond);
  const bool notified = cond.wait(5ms);
  std::printf("wait(5ms) without notify: %s\n", notified ? "notified" : "timed out");
  return notified ? 1 : 0;
}
