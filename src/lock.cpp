// Slow paths of Lock: spin briefly, then park on the lock word.
#include "spindle/lock.hpp"
#include "spindle/detail/spin.hpp"

namespace spindle {

bool Lock::acquire_slow(detail::Deadline deadline) {
  // A short spin catches a holder running on another core (WebKit's
  // lockSlow, CPython's PyMutex). Only look, don't write, while spinning.
  if (detail::spin_until([this] { return word_.load(std::memory_order_relaxed) == kUnlocked; }) &&
      try_fast()) {
    return true;
  }
  // Drepper's "futexes are tricky" mutex 3: announce a waiter by storing
  // kContended; whoever releases a kContended lock wakes one waiter. A thread
  // that takes the lock this way leaves it kContended, which costs at most
  // one needless wake-up.
  const detail::WaitSite site{"Lock", this};
  while (word_.exchange(kContended, std::memory_order_acquire) != kUnlocked) {
    if (!detail::park(word_, kContended, deadline, site)) {
      // Timed out; one last try so a release that raced the timeout counts.
      return word_.exchange(kContended, std::memory_order_acquire) == kUnlocked;
    }
  }
  return true;
}

void Lock::release_slow(std::uint32_t prev) {
  if (prev == kUnlocked) throw_unlocked();
  detail::unpark_one(word_);
}

void Lock::throw_unlocked() {
  throw RuntimeError("release unlocked lock");
}

}  // namespace spindle
