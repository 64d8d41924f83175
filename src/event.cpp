// Slow path of Event: spin briefly, announce a waiter, park on the word.
#include "spindle/event.hpp"

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
namespace {
// The generation part of the word: every set() changes it.
constexpr std::uint32_t generation(std::uint32_t w) noexcept { return w >> 2; }
}  // namespace

bool Event::wait_slow(std::uint32_t seen, detail::Deadline deadline) {
  // `seen` has the flag clear; any set() since then changed the generation.
  const std::uint32_t gen = generation(seen);
  if (handoff_spin([&] { return generation(word_.load(std::memory_order_relaxed)) != gen; })) {
    (void)word_.load(std::memory_order_acquire);
    return true;
  }
  const detail::WaitSite site{"Event", this};
  std::uint32_t w = word_.load(std::memory_order_acquire);
  while (generation(w) == gen) {
    if (!(w & kWaiters)) {
      if (!word_.compare_exchange_weak(w, w | kWaiters, std::memory_order_acquire, std::memory_order_acquire)) {
        continue;
      }
      w |= kWaiters;
    }
    if (!detail::park(word_, w, deadline, site)) {
      // Timed out: the flag is what a set() that raced the timeout made it.
      return generation(word_.load(std::memory_order_acquire)) != gen;
    }
    w = word_.load(std::memory_order_acquire);
  }
  return true;
}

void Event::wake_all() noexcept { detail::unpark_all(word_); }

}  // namespace spindle
