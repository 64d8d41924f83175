// Slow paths of Semaphore: spin briefly, then park on the counter word.
#include "spindle/semaphore.hpp"

#include <thread>

namespace {
// Waiting here is for another thread's action (a release, a set, the last
// party), not for a short critical section to end, so the spin is shaped for
// that: a few pauses, then a few yields - on a loaded 2-core machine the
// thread we wait for often needs this very core - and only then park.
// Measured with bench/bench_primitives.cpp (docs/bench/primitives.md): 16
// pauses + 8 yields cut the waiting thread's CPU per round trip against
// parking at once / after 100 pauses: Event 3.5 / 4.4 -> 2.2 us, Barrier
// 5.5 / 5.5 -> 1.9 us, Semaphore 2.4 / 4.8 -> 2.3 us.
constexpr int kHandoffPauses = 16;
constexpr int kHandoffYields = 8;
template <class Pred>
bool handoff_spin(Pred done) noexcept {
  for (int i = 0; i < kHandoffPauses; ++i) {
    if (done()) return true;
    spindle::detail::cpu_relax();
  }
  for (int i = 0; i < kHandoffYields; ++i) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}
}  // namespace

namespace spindle {

std::uint32_t Semaphore::checked_initial(std::ptrdiff_t value) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (static_cast<std::uint64_t>(value) > UINT32_MAX) throw OverflowError("semaphore initial value is too large");
  return static_cast<std::uint32_t>(value);
}

bool Semaphore::acquire_slow(detail::Deadline deadline) {
  // A unit released by a thread on the other core usually arrives within a
  // short spin; look without writing while spinning.
  if (handoff_spin([this] { return value_.load(std::memory_order_relaxed) != 0; }) && try_take()) {
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

void Semaphore::throw_bad_n() { throw ValueError("n must be one or more"); }

void Semaphore::throw_too_many() const {
  if (bounded_) throw ValueError("Semaphore released too many times");
  throw OverflowError("semaphore value would exceed 2^32 - 1");
}

}  // namespace spindle
