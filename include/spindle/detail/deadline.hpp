// spindle/detail/deadline.hpp - turning a user's timeout into a Deadline.
//
// Python accepts any non-negative float of seconds up to TIMEOUT_MAX; spindle
// accepts any std::chrono::duration. Validation is shared by every timed call
// so that the error contracts (C03-C05, C21, C71) hold everywhere alike.
#pragma once

#include <chrono>

#include "spindle/detail/park.hpp"
#include "spindle/errors.hpp"

namespace spindle {

/// The largest timeout a timed call accepts (Python's threading.TIMEOUT_MAX
/// on 64-bit Linux: 2^63 ns expressed in whole seconds). Exactly TIMEOUT_MAX
/// is allowed; anything larger throws OverflowError (C05).
inline constexpr std::chrono::seconds TIMEOUT_MAX{9'223'372'036};

namespace detail {

inline constexpr const char* kNegativeTimeout = "timeout value must be a non-negative number";
inline constexpr const char* kNonBlockingTimeout = "can't specify a timeout for a non-blocking call";

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
  if (s > Seconds(TIMEOUT_MAX)) throw OverflowError("timeout value is too large");
  return Deadline::after(std::chrono::duration_cast<std::chrono::nanoseconds>(s));
}

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
