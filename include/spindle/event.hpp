// spindle/event.hpp - threading.Event.
//
// An Event is a flag that threads wait for: set() raises it and wakes every
// waiting thread, clear() lowers it, wait() blocks until it is raised.
//
//     spindle::Event ready;
//     // worker                         // main
//     ready.wait();                     load_config(); ready.set();
//     use_config();
//
// wait(timeout) returns the flag as Python's does (C30): false only when the
// time ran out; true when the event was set - also if clear() ran before the
// waiting thread got to run again. The word a waiter parks on holds a
// generation that every set() advances, so a waiter tells "was set while I
// waited" from "is set now".
//
// Timeouts follow Python's Event.wait (a Condition.wait underneath): a
// negative timeout acts as zero - wait(-1s) returns the flag without parking or
// an exception (C31) - and a timeout above TIMEOUT_MAX throws OverflowError
// only when the flag is not set, i.e. when the call would wait (C05). A NaN
// timeout throws ValueError.
//
// Memory ordering: a set() happens-before every wait() that returns true
// because of it (and every is_set() that reads true), so whatever the setting
// thread wrote before set() is visible to those threads.
//
// Cost: set() makes no system call when nobody waits (a waiter bit beside the
// flag), and neither does set() on an event already set, nor clear(). A wait()
// spins briefly before it parks, so a set() from a thread running on another
// core is seen without a system call.
//
// What is not promised: the order in which waiters wake up. A waiter that
// sleeps through exactly 2^30 set() calls (a generation wrap) could miss that
// it was set; at one set per nanosecond that takes a second of sleeping
// through set/clear pairs with no gap.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "spindle/detail/park.hpp"
#include "spindle/detail/time.hpp"

namespace spindle {

/// threading.Event: a flag to wait for (see the file comment).
class Event {
 public:
  /// A new event, not set.
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// True if the flag is set (a snapshot; acquire ordering, see above).
  [[nodiscard]] bool is_set() const noexcept {
    return (word_.load(std::memory_order_acquire) & kFlag) != 0;
  }

  /// Sets the flag and wakes every thread waiting for it. Does nothing (and
  /// makes no system call) if the flag is already set. Never blocks.
  void set() noexcept {
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    do {
      if (w & kFlag) return;
    } while (!word_.compare_exchange_weak(w, ((w + kGeneration) | kFlag) & ~kWaiters,
                                          std::memory_order_release, std::memory_order_relaxed));
    // Every thread that announced itself saw the old generation, so each of
    // them returns once woken: the waiter bit starts afresh.
    if (w & kWaiters) wake_all();
  }

  /// Lowers the flag. Threads that wait() afterwards block until set() is
  /// called again. Never blocks.
  void clear() noexcept {
    if (word_.load(std::memory_order_relaxed) & kFlag)
      word_.fetch_and(~kFlag, std::memory_order_relaxed);
  }

  /// Blocks until the flag is set. Returns true.
  bool wait() {
    const std::uint32_t w = word_.load(std::memory_order_acquire);
    if (w & kFlag) return true;
    return wait_slow(w, detail::Deadline::never());
  }

  /// Blocks until the flag is set or `timeout` has passed. Returns true if
  /// the event was set (C30), false if the time ran out. A zero or negative
  /// timeout returns the flag without parking (C31). Throws OverflowError
  /// above TIMEOUT_MAX if the flag is not set (C05), ValueError for NaN.
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) {
    const detail::WaitTimeout t(timeout);
    const std::uint32_t w = word_.load(std::memory_order_acquire);
    if (w & kFlag) return true;
    return wait_slow(w, t.deadline());
  }

  /// As wait(timeout), until the time point `tp` on any clock (a point in
  /// the past acts as a zero timeout: returns the flag).
  template <class ClockT, class Dur>
  bool wait_until(std::chrono::time_point<ClockT, Dur> tp) {
    const std::uint32_t w = word_.load(std::memory_order_acquire);
    if (w & kFlag) return true;
    return wait_slow(w, detail::deadline_at(tp));
  }

 private:
  // word_ = generation << 2 | waiters << 1 | flag.
  static constexpr std::uint32_t kFlag = 1;
  static constexpr std::uint32_t kWaiters = 2;
  static constexpr std::uint32_t kGeneration = 4;

  bool wait_slow(std::uint32_t seen, detail::Deadline deadline);
  void wake_all() noexcept;

  alignas(64) std::atomic<std::uint32_t> word_{0};
};

}  // namespace spindle
