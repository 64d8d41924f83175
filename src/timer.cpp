// Timer's wait: park on the control word with an absolute deadline.
#include "spindle/timer.hpp"

#include "spindle/detail/park.hpp"

namespace spindle::detail {

bool TimerControl::wait_and_claim() noexcept {
  const Deadline deadline = Deadline::after(interval_);
  const WaitSite site{"Timer", this};
  while (word_.load(std::memory_order_acquire) == kWaiting) {
    if (!park(word_, kWaiting, deadline, site)) break;  // the interval passed
  }
  std::uint32_t expected = kWaiting;
  return word_.compare_exchange_strong(expected, kFired, std::memory_order_acq_rel);
}

bool TimerControl::cancel() noexcept {
  std::uint32_t expected = kWaiting;
  if (!word_.compare_exchange_strong(expected, kCancelled, std::memory_order_acq_rel)) return false;
  unpark_all(word_);
  return true;
}

}  // namespace spindle::detail
