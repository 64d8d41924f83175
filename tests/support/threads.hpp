// Test support built on spindle's public thread API: a gate threads block on,
// and ways to wait (without sleeping) until threads are parked.
#pragma once

#include <atomic>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "spindle/lock.hpp"
#include "spindle/thread.hpp"

namespace spindle_test {

/// A gate threads block on (parked, so their state is "blocked") until
/// opened.
struct Gate {
  spindle::Lock lock;
  Gate() { lock.acquire(); }
  void pass() {
    lock.acquire();
    lock.release();
  }
  void open() { lock.release(); }
};

/// Waits (yielding) until `pred` holds; a hang is caught by the test's
/// watchdog.
template <class Pred>
void eventually(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

/// Waits until `t` is parked in a spindle wait.
inline void wait_blocked(const spindle::Thread& t) {
  eventually([&] { return t.state() == spindle::ThreadState::blocked; });
}

/// Tells whether a set of threads (spindle threads or std::threads) are
/// parked on an object, through Thread::waiting_on(), so that a test can make
/// sure the wake-up it checks is a real one (a thread blocked in the kernel).
class ParkProbe {
 public:
  explicit ParkProbe(int threads) : threads_(static_cast<std::size_t>(threads)) {}
  /// Called by thread `i` before it blocks.
  void attach(int i) { threads_[static_cast<std::size_t>(i)].store(&spindle::current_thread()); }
  /// Waits until every attached thread is parked on `object` (any object if
  /// null) in a wait of `kind` (any kind if null), e.g. "Queue.get".
  void await_parked(const void* object, const char* kind = nullptr) {
    for (auto& t : threads_) {
      eventually([&] {
        const spindle::Thread* thread = t.load();
        if (thread == nullptr) return false;
        const std::optional<spindle::ThreadWait> w = thread->waiting_on();
        return w && (object == nullptr || w->object == object) &&
               (kind == nullptr || std::strcmp(w->kind, kind) == 0);
      });
    }
  }

 private:
  std::vector<std::atomic<const spindle::Thread*>> threads_;
};

}  // namespace spindle_test
