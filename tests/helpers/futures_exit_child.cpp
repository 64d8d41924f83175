// Child program of the C103 test (tests/futures_exit.cmake): the process
// exits - by returning from main, or by std::exit with a pool still alive
// on the stack - while a ThreadPoolExecutor has work queued. The exit hook
// must run the queued work first; the last task prints the marker line.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spindle/futures.hpp"

namespace {

constexpr int kTasks = 100;
std::atomic<bool> gate{false};

// Registered with std::atexit after the pool's first worker started, so it
// runs before spindle's exit handler: only then may the first task finish,
// so all the other tasks are still queued when the exit begins.
void open_gate() {
  gate.store(true);
}

void submit_all(spindle::ThreadPoolExecutor& pool, std::atomic<int>& count) {
  (void)pool.submit([] {
    while (!gate.load()) {
    }
  });
  for (int i = 0; i < kTasks; ++i) {
    (void)pool.submit([&count] {
      if (count.fetch_add(1) + 1 == kTasks) {
        std::printf("all %d tasks ran\n", kTasks);
        std::fflush(stdout);
      }
    });
  }
  std::atexit(open_gate);
}

}  // namespace

int main(int argc, char** argv) {
  static std::atomic<int> count{0};
  if (argc > 1 && std::strcmp(argv[1], "exit") == 0) {
    spindle::ThreadPoolExecutor pool(1);  // never destroyed: std::exit skips it
    submit_all(pool, count);
    std::exit(0);
  }
  // Leaked on purpose; held by a static so that LeakSanitizer sees it reachable.
  static spindle::ThreadPoolExecutor* pool = new spindle::ThreadPoolExecutor(1);
  submit_all(*pool, count);
  return 0;
}
