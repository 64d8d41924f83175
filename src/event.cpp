// Slow path of Event: spin briefly, announce a waiter, park on the word.
#include "spindle/event.hpp"

namespace spindle {
namespace {
// The generation part of the word: every set() changes it.
constexpr std::uint32_t generation(std::uint32_t w) noexcept {
  return w >> 2;
}
}  // namespace

bool Event::wait_slow(std::uint32_t seen, detail::Deadline deadline) {
  // `seen` has the flag clear; any set() since then changed the generation.
  const std::uint32_t gen = generation(seen);
  if (detail::handoff_spin(
          [&] { return generation(word_.load(std::memory_order_relaxed)) != gen; })) {
    (void)word_.load(std::memory_order_acquire);
    return true;
  }
  const detail::WaitSite site{"Event", this};
  std::uint32_t w = word_.load(std::memory_order_acquire);
  while (generation(w) == gen) {
    if (!(w & kWaiters)) {
      if (!word_.compare_exchange_weak(w, w | kWaiters, std::memory_order_acquire,
                                       std::memory_order_acquire)) {
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

void Event::wake_all() noexcept {
  detail::unpark_all(word_);
}

}  // namespace spindle
