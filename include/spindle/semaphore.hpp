// spindle/semaphore.hpp - threading.Semaphore and threading.BoundedSemaphore.
//
// A semaphore holds a counter of free units. acquire() takes one unit,
// blocking while the counter is zero; release(n) gives n units back and wakes
// up to n blocked threads. As in Python, nothing records who holds a unit:
// any thread may release, and a plain Semaphore may be released beyond its
// initial value (C23) - the counter simply grows. BoundedSemaphore refuses
// that with ValueError "Semaphore released too many times" (C24), which
// catches a release without a matching acquire.
//
//     spindle::Semaphore slots(3);              // at most 3 downloads at once
//     { std::scoped_lock guard(slots); download(url); }     // "with slots:"
//
// Python's three forms of acquire, and std::counting_semaphore's names:
//
//     sem.acquire();           // block until a unit is free; returns true
//     sem.acquire(false);      // take a unit only if one is free now
//     sem.acquire(2s);         // block at most 2 s; false if the time ran out
//     sem.acquire(-1s);        // a negative timeout acts as zero: one try (C26)
//     sem.try_acquire(); sem.try_acquire_for(2s); sem.try_acquire_until(tp);
//     sem.lock(); sem.unlock(); sem.try_lock();   // std::scoped_lock etc.
//
// Timeouts follow Python's Semaphore.acquire, which waits on a Condition: a
// negative timeout acts as zero - acquire(-1s) takes a free unit or returns
// false without parking, and without an exception (C26) - and a timeout above
// TIMEOUT_MAX throws OverflowError only when no unit is free, i.e. when the
// call would have to wait (C05). A NaN timeout throws ValueError.
//
// Memory ordering: a release(n) happens-before every acquire() that takes one
// of the units it released, so whatever the releasing thread wrote before
// release() is visible to the thread that acquires.
//
// Wake-ups: release(n) wakes at most n parked threads (C25), and makes no
// system call when nobody is parked. A woken thread competes with threads
// that arrive meanwhile: a newcomer may take the unit first ("barging"), and
// the woken thread then waits again. No order among waiters is promised.
//
// The counter is a 32-bit unsigned value: a release that would take it above
// 2^32 - 1 throws OverflowError and changes nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "spindle/detail/acquire.hpp"
#include "spindle/detail/park.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"

namespace spindle {

/// threading.Semaphore: a counter of free units (see the file comment).
class Semaphore : public detail::Acquirable<Semaphore, detail::TimeoutRule::wait> {
 public:
  /// A semaphore with `value` free units. Throws ValueError "semaphore
  /// initial value must be >= 0" if `value` is negative (C20), OverflowError
  /// if it does not fit in 32 bits.
  explicit Semaphore(std::ptrdiff_t value = 1) : value_(checked_initial(value)) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // acquire() in its four forms and the Lockable names ("with semaphore:")
  // come from detail::Acquirable; each takes one unit. A timeout with
  // blocking=false throws ValueError (C21); a negative timeout acts as zero
  // (C26); one above TIMEOUT_MAX throws OverflowError if no unit is free.

  /// Gives `n` units back and wakes at most `n` waiting threads (C25).
  /// Throws ValueError "n must be one or more" if n < 1 (C22), OverflowError
  /// if the counter would pass 2^32 - 1. Never blocks.
  void release(std::ptrdiff_t n = 1) {
    if (n < 1) throw_bad_n();
    std::uint32_t v = value_.load(std::memory_order_relaxed);
    do {
      if (static_cast<std::uint64_t>(v) + static_cast<std::uint64_t>(n) > bound_) throw_too_many();
    } while (!value_.compare_exchange_weak(v, v + static_cast<std::uint32_t>(n),
                                           std::memory_order_seq_cst, std::memory_order_relaxed));
    // seq_cst pairs with the waiter's seq_cst increment of waiters_ and its
    // re-read of value_ (Dekker): either we see the waiter, or it sees the units.
    if (waiters_.load(std::memory_order_seq_cst) != 0) wake(n);
  }

  /// A snapshot of the number of free units (for diagnostics and tests; it
  /// may be stale as soon as it is read).
  [[nodiscard]] std::uint32_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

  // std::counting_semaphore's names.
  [[nodiscard]] bool try_acquire() noexcept { return try_take(); }
  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(std::chrono::duration<Rep, Period> timeout) {
    return acquire(timeout < timeout.zero() ? timeout.zero() : timeout);
  }
  template <class ClockT, class Dur>
  [[nodiscard]] bool try_acquire_until(std::chrono::time_point<ClockT, Dur> tp) {
    return acquire_until(detail::deadline_at(tp));
  }

 protected:
  /// For BoundedSemaphore: the counter may never exceed `value`.
  struct Bounded {};
  Semaphore(std::ptrdiff_t value, Bounded)
      : value_(checked_initial(value)),
        bound_(value_.load(std::memory_order_relaxed)),
        bounded_(true) {}

 private:
  friend class detail::Acquirable<Semaphore, detail::TimeoutRule::wait>;
  // Blocks until a unit is taken or `deadline` passes (already validated).
  [[nodiscard]] bool acquire_until(detail::Deadline deadline) {
    return try_take() || acquire_slow(deadline);
  }
  bool try_acquire_now() noexcept { return try_take(); }
  bool try_take() noexcept {
    std::uint32_t v = value_.load(std::memory_order_relaxed);
    while (v != 0) {
      if (value_.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  static std::uint32_t checked_initial(std::ptrdiff_t value);
  bool acquire_slow(detail::Deadline deadline);
  void wake(std::ptrdiff_t n) noexcept;
  [[noreturn]] static void throw_bad_n();
  [[noreturn]] void throw_too_many() const;

  // value_ is the futex word: waiters park while it reads 0. waiters_ counts
  // threads in the slow path, so that release() skips the system call when it
  // is zero. Each on its own cache line: acquirers write value_, only
  // blocking acquirers write waiters_.
  alignas(64) std::atomic<std::uint32_t> value_;
  alignas(64) std::atomic<std::uint32_t> waiters_{0};
  // The largest value release() may reach: 2^32 - 1, or the initial value
  // of a BoundedSemaphore.
  const std::uint64_t bound_ = UINT32_MAX;
  const bool bounded_ = false;
};

/// threading.BoundedSemaphore: a Semaphore whose counter may never exceed
/// its initial value; release() beyond it throws ValueError "Semaphore
/// released too many times" (C24) and changes nothing.
class BoundedSemaphore : public Semaphore {
 public:
  /// As Semaphore(value); `value` is also the bound.
  explicit BoundedSemaphore(std::ptrdiff_t value = 1) : Semaphore(value, Bounded{}) {}
};

}  // namespace spindle
