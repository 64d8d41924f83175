// Slow path of Event: spin briefly, announce a waiter, park on the word.
#include "spindle/event.hpp"
#include "spindle/detail/spin.hpp"

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
  return detail::wait_word(
      word_, kWaiters, [gen](std::uint32_t w) { return generation(w) != gen; }, deadline,
      detail::WaitSite{"Event", this});
}

void Event::wake_all() noexcept {
  detail::unpark_all(word_);
}

}  // namespace spindle
