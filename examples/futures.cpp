// concurrent.futures in C++: submit, map, as_completed, wait.
#include <cstdio>
#include <string>
#include <vector>

#include "spindle/futures.hpp"

using namespace std::chrono_literals;

int word_length(const std::string& w) {
  return static_cast<int>(w.size());
}

int main() {
  spindle::ThreadPoolExecutor pool({.max_workers = 4, .thread_name_prefix = "example"});

  // submit: a Future per call, its result type deduced.
  spindle::Future<int> f = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  std::printf("6 * 7 = %d\n", f.result(5s));

  // map: results in input order.
  std::vector<std::string> words{"spindle", "futures", "in", "C++"};
  for (int n : pool.map(word_length, words)) std::printf("length %d\n", n);

  // as_completed: whichever finishes first comes first.
  std::vector<spindle::Future<int>> fs;
  for (int i = 1; i <= 4; ++i) fs.push_back(pool.submit([i] { return i * i; }));
  int sum = 0;
  for (auto& g : spindle::as_completed(fs)) sum += g.result();
  std::printf("sum of squares = %d\n", sum);

  // A task's exception comes back through result().
  auto bad = pool.submit([]() -> int { throw std::runtime_error("task failed"); });
  try {
    bad.result();
  } catch (const std::exception& e) {
    std::printf("caught: %s\n", e.what());
  }

  auto [done, not_done] = spindle::wait(fs, 1s);
  std::printf("%zu done, %zu not done\n", done.size(), not_done.size());
  return sum == 30 && not_done.empty() ? 0 : 1;
}
