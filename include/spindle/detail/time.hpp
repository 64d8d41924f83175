// spindle/detail/time.hpp - time in spindle: the clock, Deadline, TIMEOUT_MAX
// and the validation of a user's timeout.
//
// Every wait in spindle ends at an absolute Deadline on one clock (Clock,
// CLOCK_MONOTONIC), so a wait that wakes early and waits again never
// stretches its timeout.
//
// spindle accepts any std::chrono::duration as a timeout. Python has two
// rules for a bad one, and spindle follows each where Python does:
//
//   deadline_after   the locks' and the queues' rule (Lock.acquire,
//                    Queue.get/put): checked up front - negative or NaN ->
//                    ValueError (C04, C71), above TIMEOUT_MAX ->
//                    OverflowError (C05), even when the call would not wait.
//   WaitTimeout      Condition.wait's rule, which Event.wait,
//                    Semaphore.acquire and Barrier.wait inherit because they
//                    wait through a Condition in Python: a negative timeout
//                    acts as zero - the call polls (C16, C26, C31; for a
//                    Barrier an expired timeout breaks it, C45) - and a
//                    timeout above TIMEOUT_MAX throws OverflowError only when
//                    the call has to wait (C05), which is when Python checks
//                    it. NaN throws ValueError at once (Python would poll or
//                    spin; see the departures table in docs/design.md).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "spindle/errors.hpp"

namespace spindle {

/// The largest timeout a timed call accepts (Python's threading.TIMEOUT_MAX
/// on 64-bit Linux: 2^63 ns expressed in whole seconds). Exactly TIMEOUT_MAX
/// is allowed; anything larger throws OverflowError (C05) - under
/// Condition.wait's rule (Condition, Event, Semaphore, Barrier) only when the
/// call has to wait, as in Python.
inline constexpr std::chrono::seconds TIMEOUT_MAX{9'223'372'036};

namespace detail {

/// The clock every deadline is measured on: CLOCK_MONOTONIC
/// (libstdc++'s steady_clock), immune to wall-clock changes.
using Clock = std::chrono::steady_clock;

/// An absolute point on Clock, in nanoseconds since the clock's epoch, or
/// "never". A plain value, cheap to copy.
class Deadline {
 public:
  /// No deadline: wait until woken.
  static constexpr Deadline never() noexcept { return Deadline(kNever); }
  /// `timeout` from now, saturating to never() on overflow. `timeout` must be
  /// non-negative (callers validate user input first: deadline_after,
  /// WaitTimeout below).
  static Deadline after(std::chrono::nanoseconds timeout) noexcept {
    const std::int64_t now = now_ns();
    const std::int64_t t = timeout.count();
    if (t >= kNever - now) return never();
    return Deadline(now + t);
  }
  /// A point on Clock.
  static Deadline at(Clock::time_point tp) noexcept {
    return Deadline(
        std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
  }

  [[nodiscard]] constexpr bool is_never() const noexcept { return ns_ == kNever; }
  [[nodiscard]] bool expired() const noexcept { return !is_never() && now_ns() >= ns_; }
  [[nodiscard]] constexpr std::int64_t ns() const noexcept { return ns_; }
  /// Time left, zero if expired; meaningless for never().
  [[nodiscard]] std::chrono::nanoseconds remaining() const noexcept {
    const std::int64_t left = ns_ - now_ns();
    return std::chrono::nanoseconds(left > 0 ? left : 0);
  }

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }

 private:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  constexpr explicit Deadline(std::int64_t ns) noexcept : ns_(ns) {}
  std::int64_t ns_;
};

inline constexpr const char* kNegativeTimeout = "timeout value must be a non-negative number";
inline constexpr const char* kNonBlockingTimeout =
    "can't specify a timeout for a non-blocking call";
inline constexpr const char* kNaNTimeout = "timeout value must be a number, not NaN";
inline constexpr const char* kTimeoutTooLarge = "timeout value is too large";

/// Validates `timeout` and returns the deadline it denotes.
/// Throws ValueError(negative_message) if negative (C04, C71) and
/// OverflowError if above TIMEOUT_MAX (C05). Works for floating and integral
/// representations without overflowing.
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> timeout,
                        const char* negative_message = kNegativeTimeout) {
  using Seconds = std::chrono::duration<long double>;
  const Seconds s = std::chrono::duration_cast<Seconds>(timeout);
  if (!(s >= Seconds::zero())) throw ValueError(negative_message);  // also rejects NaN
  if (s > Seconds(TIMEOUT_MAX)) throw OverflowError(kTimeoutTooLarge);
  return Deadline::after(std::chrono::duration_cast<std::chrono::nanoseconds>(s));
}

/// A timeout under Condition.wait's rule (see the file comment): kept as a
/// length, turned into a Deadline only when the call has to wait.
class WaitTimeout {
 public:
  /// Throws ValueError for NaN; never for a negative or too large timeout.
  template <class Rep, class Period>
  explicit WaitTimeout(std::chrono::duration<Rep, Period> timeout) {
    using Seconds = std::chrono::duration<long double>;
    const Seconds s = std::chrono::duration_cast<Seconds>(timeout);
    if (std::isnan(s.count())) throw ValueError(kNaNTimeout);
    if (s > Seconds(TIMEOUT_MAX)) {
      too_large_ = true;
    } else if (s > Seconds::zero()) {
      ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(s);
    }  // else: zero or negative, which polls
  }

  /// True if above TIMEOUT_MAX: waiting with it throws OverflowError.
  [[nodiscard]] bool too_large() const noexcept { return too_large_; }
  /// The deadline of a wait starting now: already expired for a zero or
  /// negative timeout. Throws OverflowError if too_large() (C05).
  [[nodiscard]] Deadline deadline() const {
    if (too_large_) throw OverflowError(kTimeoutTooLarge);
    return Deadline::after(ns_);
  }

 private:
  std::chrono::nanoseconds ns_{0};
  bool too_large_ = false;
};

/// Deadline of a time point on any clock: steady_clock points are used as
/// they are; other clocks are converted through the time left now.
template <class ClockT, class Dur>
Deadline deadline_at(std::chrono::time_point<ClockT, Dur> tp) {
  if constexpr (std::is_same_v<ClockT, Clock>) {
    return Deadline::at(std::chrono::time_point_cast<Clock::duration>(tp));
  } else {
    const auto left = tp - ClockT::now();
    return left <= decltype(left)::zero() ? Deadline::after(std::chrono::nanoseconds(0))
                                          : deadline_after(left);
  }
}

}  // namespace detail
}  // namespace spindle
