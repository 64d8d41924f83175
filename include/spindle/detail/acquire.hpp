// spindle/detail/acquire.hpp - Python's forms of acquire, and C++'s Lockable
// names, written once for every lock-like type.
//
// Lock, RLock, Semaphore and Condition all offer
//
//     x.acquire();             // block until acquired; returns true
//     x.acquire(false);        // don't block; true if acquired
//     x.acquire(2s);           // block at most 2 s; false if the time ran out
//     x.acquire(true, 2s);     // Python's acquire(blocking, timeout)
//
// and lock() / unlock() / try_lock() / try_lock_for() / try_lock_until(), so
// std::scoped_lock and std::unique_lock work with them ("with x:"). Each type
// supplies two operations and this base derives the rest from them:
//
//     bool try_acquire_now();                     // take it if free, never block
//     bool acquire_until(detail::Deadline d);     // block until taken or d passes
//     release();                                  // give it back
//
// Timeouts are handled here, once for all types, under one of Python's two
// rules (time.hpp), chosen by the type:
//   TimeoutRule::lock  (Lock, RLock, and Condition's own acquire, which is
//                      its lock's): negative -> ValueError (C04), above
//                      TIMEOUT_MAX -> OverflowError (C05), checked up front.
//   TimeoutRule::wait  (Semaphore, whose Python acquire waits on a
//                      Condition): negative acts as zero - one try, false if
//                      nothing is free (C26); above TIMEOUT_MAX ->
//                      OverflowError only if the call has to wait (C05).
// Under both, a timeout with blocking=false -> ValueError "can't specify a
// timeout for a non-blocking call" (C03, C21). The Lockable names follow C++
// instead: a negative try_lock_for duration is treated as zero, as
// std::timed_mutex does.
#pragma once

#include <chrono>

#include "spindle/detail/park.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"

namespace spindle::detail {

/// Which of Python's timeout rules acquire(timeout) follows (see above).
enum class TimeoutRule { lock, wait };

template <class Derived, TimeoutRule Rule = TimeoutRule::lock>
class Acquirable {
 public:
  /// Blocks until acquired. Always returns true (as Python does).
  bool acquire() { return self().acquire_until(Deadline::never()); }

  /// blocking=false: acquires only if that needs no waiting; true if
  /// acquired. blocking=true: as acquire().
  [[nodiscard]] bool acquire(bool blocking) {
    return blocking ? acquire() : self().try_acquire_now();
  }

  /// Blocks at most `timeout`; true if acquired, false if the time ran out
  /// (C08). A negative timeout throws ValueError under TimeoutRule::lock and
  /// acts as zero under TimeoutRule::wait; above TIMEOUT_MAX throws
  /// OverflowError (under TimeoutRule::wait, only if it has to wait).
  template <class Rep, class Period>
  [[nodiscard]] bool acquire(std::chrono::duration<Rep, Period> timeout) {
    if constexpr (Rule == TimeoutRule::lock) {
      return self().acquire_until(deadline_after(timeout));
    } else {
      const WaitTimeout t(timeout);
      return self().try_acquire_now() || self().acquire_until(t.deadline());
    }
  }

  /// Python's acquire(blocking, timeout); ValueError if blocking is false.
  template <class Rep, class Period>
  [[nodiscard]] bool acquire(bool blocking, std::chrono::duration<Rep, Period> timeout) {
    if (!blocking) throw ValueError(kNonBlockingTimeout);
    return acquire(timeout);
  }

  // Lockable / TimedLockable.
  void lock() { acquire(); }
  void unlock() { self().release(); }
  [[nodiscard]] bool try_lock() { return self().try_acquire_now(); }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return acquire(timeout < timeout.zero() ? timeout.zero() : timeout);
  }
  template <class ClockT, class Dur>
  [[nodiscard]] bool try_lock_until(std::chrono::time_point<ClockT, Dur> tp) {
    return self().acquire_until(deadline_at(tp));
  }

 protected:
  Acquirable() = default;
  ~Acquirable() = default;

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

}  // namespace spindle::detail
