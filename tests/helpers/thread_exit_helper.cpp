// Child program for the process-exit tests in tests/thread_test.cpp (C56,
// C58, C61): each mode sets up threads, then main returns (or exits) and the
// parent checks the output and the exit status.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "spindle/lock.hpp"
#include "spindle/thread.hpp"

namespace {

void say(const char* line) {
  std::fputs(line, stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// A non-daemon worker that waits for the exit to begin (main_thread() is
// marked terminated by then), then finishes.
int nondaemon() {
  spindle::Thread t([] {
    spindle::main_thread().join();
    say("worker finished");
  });
  t.start();
  say("main returns");
  return 0;
}

int daemon_mode() {
  spindle::Thread t({.daemon = true}, [] {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    say("daemon printed");
  });
  t.start();
  say("main returns");
  return 0;
}

int busy() {
  static std::atomic<int> running{0};
  static spindle::Lock lock;
  for (int i = 0; i < 40; ++i) {
    spindle::Thread t({.daemon = true}, [] {
      running.fetch_add(1);
      std::string s;
      for (unsigned long n = 0;; ++n) {
        lock.acquire();
        s = spindle::current_thread().name() + std::to_string(n);
        lock.release();
        (void)spindle::active_count();
        if (n % 64 == 0) (void)spindle::enumerate();
      }
    });
    t.start();
  }
  while (running.load() != 40) std::this_thread::yield();
  say("40 daemons busy");
  return 0;
}

int exception_mode() {
  spindle::Thread t([] { throw std::runtime_error("boom"); });
  t.start();
  t.join();
  say("main returns");
  return 0;
}

int names() {
  spindle::Thread a([] {});
  spindle::Thread b([] {});
  spindle::Thread c({.name = "named"}, [] {});
  spindle::Thread d([] {});
  for (auto* t : {&a, &b, &c, &d}) say(t->name().c_str());
  return 0;
}

int atexit_mode() {
  static std::atomic<int> callbacks{0};
  spindle::detail::register_atexit([] {
    say("first callback");
    callbacks.fetch_add(1);
  });
  spindle::detail::register_atexit([] {
    say("second callback");
    callbacks.fetch_add(1);
    try {
      spindle::detail::register_atexit([] {});
    } catch (const spindle::RuntimeError& e) {
      std::string line = std::string("late register: ") + e.what();
      say(line.c_str());
    }
  });
  spindle::Thread t([] {
    spindle::main_thread().join();
    if (callbacks.load() == 2) say("worker saw callbacks");
  });
  t.start();
  say("main returns");
  return 0;
}

int exit_mode() {
  spindle::Thread t([] {
    spindle::main_thread().join();
    say("worker finished");
  });
  t.start();
  std::exit(3);
}

void link(int n) {
  if (n < 5) {
    spindle::Thread next(link, n + 1);
    next.start();
  }
  spindle::main_thread().join();
  std::string line = "link " + std::to_string(n) + " done";
  say(line.c_str());
}

int chain() {
  spindle::Thread t(link, 1);
  t.start();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string mode = argv[1];
  if (mode == "nondaemon") return nondaemon();
  if (mode == "daemon") return daemon_mode();
  if (mode == "busy") return busy();
  if (mode == "exception") return exception_mode();
  if (mode == "names") return names();
  if (mode == "atexit") return atexit_mode();
  if (mode == "exit") return exit_mode();
  if (mode == "chain") return chain();
  return 2;
}
