// Slow paths of Semaphore: spin briefly, then park on the counter word.
#include "spindle/semaphore.hpp"
#include "spindle/detail/spin.hpp"

namespace spindle {

std::uint32_t Semaphore::checked_initial(std::ptrdiff_t value) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (static_cast<std::uint64_t>(value) > UINT32_MAX)
    throw OverflowError("semaphore initial value is too large");
  return static_cast<std::uint32_t>(value);
}

bool Semaphore::acquire_slow(detail::Deadline deadline) {
  // A unit released by a thread on the other core usually arrives within a
  // short spin; look without writing while spinning.
  if (detail::handoff_spin([this] { return value_.load(std::memory_order_relaxed) != 0; }) &&
      try_take()) {
    return true;
  }
  const detail::WaitSite site{"Semaphore", this};
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool taken = true;
  while (!try_take()) {
    // seq_cst load: pairs with release()'s update and waiters_ read.
    if (value_.load(std::memory_order_seq_cst) != 0) continue;
    if (!detail::park(value_, 0, deadline, site)) {
      taken = try_take();  // a release that raced the timeout still counts
      break;
    }
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return taken;
}

void Semaphore::wake(std::ptrdiff_t n) noexcept {
  // At most n wake-ups per release of n units (C25).
  detail::unpark(value_, n > INT32_MAX ? INT32_MAX : static_cast<int>(n));
}

void Semaphore::throw_bad_n() {
  throw ValueError("n must be one or more");
}

void Semaphore::throw_too_many() const {
  if (bounded_) throw ValueError("Semaphore released too many times");
  throw OverflowError("semaphore value would exceed 2^32 - 1");
}

}  // namespace spindle
