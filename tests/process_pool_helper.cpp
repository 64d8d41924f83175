// Child program of the process-pool tests (tests/process_pool.cmake):
//   exit-return   a leaked pool has 20 tasks queued when main returns
//   exit-exit     a pool on the stack has 20 tasks queued at std::exit
//   exit-nowait   a leaked pool was shut down with wait=false, then main returns
//       The exit hook must run the queued work first (C103; cpython
//       gh-119592 for the last): the last task's done-callback prints
//       "all 20 tasks ran".
//   orphan        starts a pool whose task prints the worker's pid and then
//       never returns, and waits for it: the test kills this process with
//       SIGKILL once the line is out, and the worker must die too
//       (PR_SET_PDEATHSIG).
// Its spawned workers are this program too; they run its static initializers
// (none here) and never main().
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "spindle/process.hpp"

namespace {

constexpr int kTasks = 20;
std::atomic<int> g_done{0};
// The pools left alive at exit, on purpose; held here so that LeakSanitizer
// sees them reachable.
spindle::ProcessPoolExecutor* g_left_alive = nullptr;

int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return x * x;
}
[[noreturn]] int announce_and_wait_forever() {
  std::printf("%d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  for (;;) ::pause();
}

void submit_all(spindle::ProcessPoolExecutor& pool) {
  for (int i = 0; i < kTasks; ++i) {
    auto f = pool.submit(slow_square, i);
    f.add_done_callback([](spindle::Future<int>& g) {
      if (!g.cancelled() && g.exception() == nullptr && g_done.fetch_add(1) + 1 == kTasks) {
        std::printf("all %d tasks ran\n", kTasks);
        std::fflush(stdout);
      }
    });
  }
}

[[noreturn]] void exit_with_pool_on_stack() {
  spindle::ProcessPoolExecutor pool(1);
  submit_all(pool);
  std::exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "exit-return") == 0) {
    g_left_alive = new spindle::ProcessPoolExecutor(1);
    submit_all(*g_left_alive);
    return 0;
  }
  if (std::strcmp(mode, "exit-exit") == 0) exit_with_pool_on_stack();
  if (std::strcmp(mode, "exit-nowait") == 0) {
    g_left_alive = new spindle::ProcessPoolExecutor(1);
    submit_all(*g_left_alive);
    g_left_alive->shutdown(false);
    return 0;
  }
  if (std::strcmp(mode, "orphan") == 0) {
    g_left_alive = new spindle::ProcessPoolExecutor(1);        // dies with us
    g_left_alive->submit(announce_and_wait_forever).result();  // never returns
  }
  std::fprintf(stderr, "usage: process_pool_helper exit-return|exit-exit|exit-nowait|orphan\n");
  return 2;
}
