// The README's first program: a named thread fed by a queue, then a pool.
#include <spindle/spindle.hpp>

#include <cstdio>

int main() {
  spindle::Queue<int> jobs;
  spindle::Thread worker({.name = "squarer"}, [&] {
    while (true) {
      int n = jobs.get();
      if (n < 0) break;  // the sentinel
      std::printf("%s: %d squared is %d\n", spindle::current_thread().name().c_str(), n, n * n);
    }
  });
  worker.start();
  for (int n : {1, 2, 3, -1}) jobs.put(n);
  worker.join();

  spindle::ThreadPoolExecutor pool(4);
  spindle::Future<int> sum = pool.submit([](int a, int b) { return a + b; }, 20, 22);
  std::printf("the pool says %d\n", sum.result());
}
