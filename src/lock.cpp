// Slow paths of Lock: spin briefly, then park on the lock word.
#include "spindle/lock.hpp"

#include "deadlock_internal.hpp"
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
  if (word_.exchange(kContended, std::memory_order_acquire) == kUnlocked) {
    own();
    return true;
  }
  if (deadline.is_never() && detail::deadlock_watch_on()) {
    // A wait without a deadline: the deadlock detector checks that it does
    // not close a wait-for cycle (may throw DeadlockError) and shows it to
    // the other threads until it ends.
    detail::WatchedWait watch(detail::WaitTarget::lock(this, &owner_, &word_, owned_));
    do {
      detail::park(word_, kContended, deadline, site);
      watch.woken();
    } while (word_.exchange(kContended, std::memory_order_acquire) != kUnlocked);
    own();
    return true;
  }
  do {
    if (!detail::park(word_, kContended, deadline, site)) {
      // Timed out; one last try so a release that raced the timeout counts.
      if (word_.exchange(kContended, std::memory_order_acquire) != kUnlocked) return false;
      break;
    }
  } while (word_.exchange(kContended, std::memory_order_acquire) != kUnlocked);
  own();
  return true;
}

bool Lock::acquire_checked(detail::Deadline deadline) {
  detail::lock_order_before_blocking(this);
  if (!(try_fast() || acquire_slow(deadline))) return false;
  detail::lock_order_acquired(this);
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
