// Internal: what every reporting path of spindle shares - writing to stderr,
// describing an exception, and the slot a hook lives in. Used by
// excepthook (src/thread.cpp), the exit-time callbacks (src/registry.cpp) and
// the futures' unretrieved-exception and callback-exception hooks
// (src/future.cpp). Not installed.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "spindle/lock.hpp"

namespace spindle::detail {

/// Writes `text` to file descriptor 2 with write(2) (no stdio lock: safe in
/// a forked child and in a signal handler); never allocates, never throws.
void write_stderr(const char* text, std::size_t size) noexcept;
void write_stderr(const char* text) noexcept;
void write_stderr(const std::string& text) noexcept;

/// The exception's type, demangled ("spindle::ValueError", "int", ...);
/// "<no exception>" for a null pointer.
std::string exception_type_name(const std::exception_ptr& exc);
/// what() for a std::exception, else an empty string.
std::string exception_message(const std::exception_ptr& exc);
/// "TYPE: MESSAGE" (or "TYPE" without a message), as Python prints the last
/// line of a traceback. Every hook that prints an exception uses it.
std::string describe_exception(const std::exception_ptr& exc);

/// For a hook that threw: prints "HEADER:\n" and the description of the
/// exception being handled (call it inside a catch block), or a fixed
/// "<could not be described>" line if describing it runs out of memory.
void report_hook_failure(const char* header) noexcept;

/// Internal locks of every HookSlot (for the fork handler, which holds them
/// across fork() so that no slot is left locked by a vanished thread).
void hook_slots_acquire() noexcept;
void hook_slots_release() noexcept;
/// Adds a slot's lock to that list (HookSlot's constructor).
void link_hook_lock(Lock& lock) noexcept;

/// Where one user-installable hook lives. Slots are created once and never
/// destroyed (make() leaks on purpose), because hooks may run during process
/// exit, after static destructors: a thread or a future can die at any time.
/// Each slot links itself into the list the fork handler locks.
template <class Fn>
class HookSlot {
 public:
  /// A new immortal slot. Call it from a function-local static initialiser
  /// and touch that function at load time, so that no slot is ever made
  /// (allocated) inside a fork handler.
  static HookSlot& make() { return *new HookSlot; }

  /// A copy of the hook (empty: the default). May throw std::bad_alloc.
  Fn load() const {
    std::scoped_lock guard(lock_);
    return fn_;
  }
  /// Installs `fn` and returns the previous hook.
  Fn exchange(Fn fn) {
    std::scoped_lock guard(lock_);
    return std::exchange(fn_, std::move(fn));
  }

  HookSlot(const HookSlot&) = delete;
  HookSlot& operator=(const HookSlot&) = delete;

 private:
  HookSlot() noexcept { link_hook_lock(lock_); }
  ~HookSlot() = default;  // never runs

  mutable Lock lock_;
  Fn fn_;
};

}  // namespace spindle::detail
