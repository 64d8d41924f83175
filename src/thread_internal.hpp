// Internal interface between src/thread.cpp, src/registry.cpp, src/local.cpp
// and src/timer.cpp. Not installed.
#pragma once

#include <memory>

#include "spindle/thread.hpp"

namespace spindle {

// The one friend of Thread inside the library: builds handles that share an
// existing core (aliases, the main thread, foreign threads' dummies).
struct ThreadAccess {
  static std::shared_ptr<Thread> alias(std::shared_ptr<detail::ThreadCore> core) {
    return std::shared_ptr<Thread>(new Thread(detail::AliasTag{}, std::move(core)));
  }
  static Thread* make_raw(std::shared_ptr<detail::ThreadCore> core) {
    return new Thread(detail::AliasTag{}, std::move(core));
  }
  static const std::shared_ptr<detail::ThreadCore>& core(const Thread& t) noexcept { return t.core_; }
  static void run(Thread& t) { t.run(); }
};

namespace detail {

// The calling thread's handle, when known (set by the trampoline, the main
// thread's registration and the dummy path). Trivial: safe during exit.
extern thread_local Thread* tls_current;
// The running spindle thread's own reference to its core (the trampoline's
// frame); null in other threads and after the body's exit sequence.
extern thread_local const std::shared_ptr<ThreadCore>* tls_core;

// A handle for a running thread's core, created once under the core's lock
// (current_thread() in a target thread, enumerate()). Requires core.self to
// be reset by the thread at exit (breaks the core <-> alias cycle).
Thread& handle_of(const std::shared_ptr<ThreadCore>& core);
std::shared_ptr<Thread> shared_handle_of(ThreadCore& core);

// Waits until `core` has terminated or `deadline`; true if terminated.
bool wait_terminated(ThreadCore& core, Deadline deadline) noexcept;

// Registry (src/registry.cpp).
void registry_add(ThreadCore* core);
void registry_remove(ThreadCore* core);
void ensure_exit_handler();
Thread& current_thread_slow();
// Monotonic "Thread-N" numbering (C58).
unsigned long next_thread_number() noexcept;

// local<T> (src/local.cpp): destroys the calling thread's instances.
void local_thread_exit() noexcept;

}  // namespace detail
}  // namespace spindle
