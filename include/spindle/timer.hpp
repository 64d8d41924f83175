// spindle/timer.hpp - threading.Timer: call a function after an interval,
// unless cancelled first.
//
//     spindle::Timer t(30s, send_reminder, user);
//     t.start();          // the interval starts when the thread's body starts
//     t.cancel();         // stops it only while it is still waiting (C62)
//
// A Timer is a Thread (name, daemon, join, is_alive all apply). Like any
// Thread it is a handle: dropping a started Timer does not cancel it, it
// still fires (Python's behaviour; keep the handle to cancel). Its thread
// waits on a futex word with an absolute CLOCK_MONOTONIC deadline, so
// cancel() wakes it at once and wall-clock changes do not move the deadline.
//
// Memory ordering: everything before cancel() happens-before the timer thread
// sees the cancellation; everything before start() happens-before the call.
//
// Not promised: how late after the interval the function runs (that is the
// scheduler's; see docs/bench/threads.md for measured lateness).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "spindle/thread.hpp"

namespace spindle {
namespace detail {

class TimerControl {
 public:
  explicit TimerControl(std::chrono::nanoseconds interval) noexcept : interval_(interval) {}
  /// In the timer thread: waits for the interval; true if the function may
  /// run (the timer was not cancelled before the interval passed).
  bool wait_and_claim() noexcept;
  /// Cancels if still waiting; true if this call cancelled it.
  bool cancel() noexcept;
  [[nodiscard]] std::chrono::nanoseconds interval() const noexcept { return interval_; }
  [[nodiscard]] bool cancelled() const noexcept {
    return word_.load(std::memory_order_acquire) == kCancelled;
  }

  /// Negative acts as 0 (as Python's Event.wait does); above TIMEOUT_MAX
  /// throws OverflowError.
  template <class Rep, class Period>
  static std::shared_ptr<TimerControl> make(std::chrono::duration<Rep, Period> interval) {
    if (interval < interval.zero()) interval = interval.zero();
    (void)deadline_after(
        interval);  // validates: ValueError on NaN, OverflowError above TIMEOUT_MAX
    return std::make_shared<TimerControl>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(interval));
  }

 private:
  static constexpr std::uint32_t kWaiting = 0, kCancelled = 1, kFired = 2;
  std::atomic<std::uint32_t> word_{kWaiting};
  const std::chrono::nanoseconds interval_;
};

template <class F, class... Args>
struct TimerBody {
  std::shared_ptr<TimerControl> control;
  Invoker<F, Args...> call;
  void operator()() {
    if (control->wait_and_claim()) call();
  }
};

}  // namespace detail

/// threading.Timer.
class Timer : public Thread {
 public:
  /// A timer that calls fn(args...) (decay-copied) `interval` after its
  /// thread starts. Negative intervals act as 0; above TIMEOUT_MAX throws
  /// OverflowError. Not started.
  template <class Rep, class Period, class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  Timer(std::chrono::duration<Rep, Period> interval, F&& fn, Args&&... args)
      : Timer(detail::TimerControl::make(interval), ThreadOptions{}, std::forward<F>(fn),
              std::forward<Args>(args)...) {}
  /// As above, with a name and/or daemon flag.
  template <class Rep, class Period, class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  Timer(ThreadOptions opts, std::chrono::duration<Rep, Period> interval, F&& fn, Args&&... args)
      : Timer(detail::TimerControl::make(interval), std::move(opts), std::forward<F>(fn),
              std::forward<Args>(args)...) {}

  /// Stops the timer if it is still waiting: the function will not run, and
  /// the thread ends at once. No effect once the function has started or
  /// finished (C62). May be called from any thread, any number of times,
  /// before or after start().
  void cancel() noexcept { control_->cancel(); }

  /// True if cancel() stopped the timer before it fired.
  [[nodiscard]] bool cancelled() const noexcept { return control_->cancelled(); }
  /// The interval given at construction (negative clamped to 0).
  [[nodiscard]] std::chrono::nanoseconds interval() const noexcept { return control_->interval(); }

 private:
  template <class F, class... Args>
  Timer(std::shared_ptr<detail::TimerControl> control, ThreadOptions opts, F&& fn, Args&&... args)
      : Thread(std::move(opts),
               detail::TimerBody<std::decay_t<F>, std::decay_t<Args>...>{
                   control,
                   {std::forward<F>(fn),
                    std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)}}),
        control_(std::move(control)) {}

  std::shared_ptr<detail::TimerControl> control_;
};

}  // namespace spindle
