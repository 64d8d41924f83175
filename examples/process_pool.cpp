// concurrent.futures.ProcessPoolExecutor in C++: tasks in worker processes.
//
// Workers are this program started again (or forked): they run its static
// initializers, never main(). Functions cross by address, arguments and
// results through cereal - standard types as they are, your own types with a
// serialize() member.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "spindle/process.hpp"

struct Order {
  std::string item;
  int quantity = 0;
  double unit_price = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(item, quantity, unit_price);
  }
};

double order_total(Order o) {
  return o.quantity * o.unit_price;
}

long collatz_steps(long n) {
  long steps = 0;
  for (; n != 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

int main() {
  spindle::ProcessPoolExecutor pool(2);

  // submit: a Future per call, computed in another process.
  spindle::Future<int> pid = pool.submit([] { return static_cast<int>(::getpid()); });
  std::printf("main process %d, worker process %d\n", static_cast<int>(::getpid()), pid.result());

  // A type of your own crosses with its serialize() member.
  double total = pool.submit(order_total, Order{"spindle", 3, 2.5}).result();
  std::printf("order total = %.2f\n", total);

  // map: results in input order; chunksize sends several inputs per task.
  std::vector<long> starts{27, 97, 871, 6171};
  long longest = 0;
  for (long steps : pool.map(collatz_steps, starts, spindle::ProcessMapOptions{.chunksize = 2}))
    longest = std::max(longest, steps);
  std::printf("longest Collatz chain: %ld steps\n", longest);

  // A task's exception comes back with its type.
  auto bad = pool.submit(
      [](std::string s) -> int { throw std::invalid_argument("bad input: " + s); }, "xyz");
  try {
    bad.result();
  } catch (const std::invalid_argument& e) {
    std::printf("caught invalid_argument: %s\n", e.what());
  }

  // A worker that crashes breaks the pool, not the program.
  spindle::ProcessPoolExecutor fragile(1);
  auto crash = fragile.submit([] { ::_exit(3); });
  try {
    crash.result();
  } catch (const spindle::BrokenProcessPool& e) {
    std::printf("BrokenProcessPool: %s\n", e.what());
  }
  return total == 7.5 && longest == 261 ? 0 : 1;
}
