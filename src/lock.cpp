// Slow paths of Lock: spin with backoff, then park on the lock word.
//
// The word (lock.hpp) holds kLocked, two flags and a count of parked
// waiters:
//   kLocked   the lock is held.
//   kWoken    a release woke a waiter, which is now awake (spinning) and will
//             take the lock or park again; until then releases wake nobody
//             else. One wake-up at a time, none for a thread already awake.
//   kHandoff  eventual fairness: the heir, a waiter that has waited more than
//             kFairAfterNs, reserved the lock. Nobody else may take it; the
//             release that finds the flag wakes every parked waiter (the heir
//             sleeps among them) and the heir takes it. At most one hand-off
//             about every millisecond per lock (fair_tick_), so the lock
//             keeps the throughput of barging, as WebKit's WTF::Lock does
//             with its "time to be fair".
//   waiters   (kWaiter each) threads that gave up spinning: parked or about
//             to park. A spinning thread is not counted, so while nobody is
//             parked the holder's acquire and release stay on their fast
//             paths (0 -> kLocked -> 0) however many threads spin.
// A release that finds waiters and neither flag sets kWoken and wakes one,
// in the same CAS that frees the lock; a waiter that leaves (timeout,
// DeadlockError) while the lock is free does the same. After that CAS the
// releasing thread only wakes by address: the lock may be gone by then.
// Every parked waiter is thus either behind a holder (whose release wakes
// one), or a woken thread is awake, or the heir is being served.
#include "spindle/lock.hpp"

#include <pthread.h>
#include <sched.h>

#include <limits>

#include "deadlock_internal.hpp"
#include "spindle/detail/spin.hpp"

namespace spindle {
namespace {

// A waiter that has waited this long asks for a hand-off.
constexpr std::int64_t kFairAfterNs = 1'000'000;
// fair_tick_'s unit: 2^20 ns, about 1 ms; the tick wraps after 52 days and is
// compared by signed difference.
constexpr int kTickShift = 20;

std::uint32_t tick_now() noexcept {
  return static_cast<std::uint32_t>(detail::Deadline::now_ns() >> kTickShift);
}

// fork(): in the child only the forking thread exists, and it was in no
// Lock's slow path when it forked. So every waiter a Lock's word counts,
// a woken waiter (kWoken) and an heir (kHandoff) belonged to a thread that
// is gone: left alone, they would keep every later release from waking a
// real waiter, or reserve the lock for nobody. Each forked child bumps this
// generation; the first slow path of a Lock in a newer generation than its
// own (Lock::epoch_) clears that state before any thread of the child counts
// itself as a waiter. Whether the lock is held is kept: a Lock held by a
// thread that vanished stays held, as in Python.
std::atomic<std::uint32_t> g_fork_epoch{0};
constexpr std::uint32_t kEpochBusy = 0xFFFFFFFFu;  // a thread is clearing the state
void bump_fork_epoch() noexcept {
  std::uint32_t e = g_fork_epoch.load(std::memory_order_relaxed) + 1;
  if (e == kEpochBusy) e = 0;
  g_fork_epoch.store(e, std::memory_order_release);
}
// Registered at load time, so it runs before spindle's other child handlers.
[[maybe_unused]] const bool g_epoch_handler =
    (pthread_atfork(nullptr, nullptr, bump_fork_epoch), true);

}  // namespace

void Lock::heal_after_fork() noexcept {
  const std::uint32_t now = g_fork_epoch.load(std::memory_order_acquire);
  std::uint32_t e = epoch_.load(std::memory_order_acquire);
  while (e != now) {
    if (e == kEpochBusy) {  // another thread is clearing it: wait for that
      sched_yield();
      e = epoch_.load(std::memory_order_acquire);
      continue;
    }
    if (epoch_.compare_exchange_weak(e, kEpochBusy, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      std::uint32_t v = word_.load(std::memory_order_relaxed);
      while (!word_.compare_exchange_weak(v, v & kLocked, std::memory_order_relaxed,
                                          std::memory_order_relaxed)) {
      }
      spinning_.store(false, std::memory_order_relaxed);
      epoch_.store(now, std::memory_order_release);
      return;
    }
  }
}

bool Lock::acquire_slow(detail::Deadline deadline) {
  heal_after_fork();
  std::uint32_t v = word_.load(std::memory_order_relaxed);
  if ((v & kHandoff) == 0) {
    if (spin(false)) return true;  // else it has counted this thread as a waiter
  } else {
    for (;;) {  // reserved for the heir: no spinning, wait behind it
      if ((v & (kLocked | kHandoff)) == 0) {
        if (word_.compare_exchange_weak(v, v | kLocked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
          own();
          return true;
        }
        continue;
      }
      if (word_.compare_exchange_weak(v, v + kWaiter, std::memory_order_relaxed,
                                      std::memory_order_relaxed))
        break;
    }
  }
  bool heir = false;
  if (deadline.is_never() && detail::deadlock_watch_on()) {
    // A wait without a deadline: the deadlock detector checks that it does
    // not close a wait-for cycle (may throw DeadlockError) and shows it to
    // the other threads until it ends. A DeadlockError leaves the waiters
    // first.
    try {
      detail::WatchedWait watch(detail::WaitTarget::lock(this, &owner_, &word_, owned_));
      return wait_parked(deadline, &watch, heir);
    } catch (...) {
      leave(heir);
      throw;
    }
  }
  return wait_parked(deadline, nullptr, heir);
}

bool Lock::spin(bool woken) noexcept {
  // Look at the word (a load, never a CAS, so the holder keeps its cache
  // line) with exponential backoff - 1, 2, 4, ... pauses between looks, up
  // to kLockSpinPauses in all, about a short critical section on the other
  // core - then up to kLockSpinYields looks, each after a sched_yield(): the
  // holder may be waiting for this very core, and on a loaded machine the
  // other runnable threads get it meanwhile. Only one thread at a time
  // pauses; the others go straight to the yields.
  const std::uint32_t mine = woken ? kWoken : 0;  // the woken waiter clears kWoken when done
  std::uint32_t v = word_.load(std::memory_order_relaxed);
  int pauses = 1;
  int spent = 0;
  int yields = 0;
  // One thread at a time pauses (spinning_ is a hint, not part of the
  // protocol: a race lets two in); the others only yield, so a crowd of
  // waiters on a machine with fewer cores burns no core the holder needs.
  const bool pauser = !spinning_.load(std::memory_order_relaxed);
  if (pauser) {
    spinning_.store(true, std::memory_order_relaxed);
  } else {
    spent = detail::kLockSpinPauses;
  }
  struct EndSpin {
    std::atomic<bool>* flag;
    ~EndSpin() {
      if (flag != nullptr) flag->store(false, std::memory_order_relaxed);
    }
  } const end_spin{pauser ? &spinning_ : nullptr};
  for (;;) {
    while ((v & (kLocked | kHandoff)) == 0) {
      if (word_.compare_exchange_weak(v, (v | kLocked) & ~mine, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        own();
        return true;
      }
    }
    if (spent < detail::kLockSpinPauses) {
      for (int i = 0; i < pauses; ++i) detail::cpu_relax();
      spent += pauses;
      pauses *= 2;
    } else if (yields < detail::kLockSpinYields) {
      sched_yield();
      ++yields;
    } else {
      break;
    }
    v = word_.load(std::memory_order_relaxed);
  }
  // Give up: count this thread as a waiter (and drop kWoken) in one step
  // with having seen the lock held, so the holder's release wakes one.
  for (;;) {
    if ((v & (kLocked | kHandoff)) == 0) {
      if (word_.compare_exchange_weak(v, (v | kLocked) & ~mine, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        own();
        return true;
      }
      continue;
    }
    if (word_.compare_exchange_weak(v, (v + kWaiter) & ~mine, std::memory_order_relaxed,
                                    std::memory_order_relaxed))
      return false;
  }
}

bool Lock::wait_parked(detail::Deadline deadline, detail::WatchedWait* watch, bool& heir) {
  const detail::WaitSite site{"Lock", this};
  const std::int64_t since = detail::Deadline::now_ns();
  bool timed_out = false;
  std::uint32_t v = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((v & kLocked) == 0 && (heir || (v & kHandoff) == 0)) {
      // Whoever takes the lock is no longer "the woken waiter" (it may
      // have been woken for it): clear kWoken, or the next release would
      // wake nobody. If another thread held that role, the cost is one
      // needless wake-up.
      std::uint32_t next = ((v | kLocked) - kWaiter) & ~kWoken;
      if (heir) next &= ~kHandoff;
      if (word_.compare_exchange_weak(v, next, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        if (heir) fair_tick_.store(tick_now() + 1, std::memory_order_relaxed);
        own();
        return true;
      }
      continue;
    }
    if (timed_out) {
      // The look above was the last one (a release that raced the timeout
      // counts).
      leave(heir);
      return false;
    }
    if (!heir && (v & kHandoff) == 0) {
      if ((v & kWoken) != 0) {
        // Woken by a release (or it looks so): spin again, uncounted,
        // keeping kWoken so that releases meanwhile wake nobody else.
        if (!word_.compare_exchange_weak(v, v - kWaiter, std::memory_order_relaxed,
                                         std::memory_order_relaxed))
          continue;
        if (spin(true)) return true;
        v = word_.load(std::memory_order_relaxed);
        continue;
      }
      if (detail::Deadline::now_ns() - since >= kFairAfterNs &&
          static_cast<std::int32_t>(tick_now() - fair_tick_.load(std::memory_order_relaxed)) >= 0) {
        // Waited too long while others barged: reserve the lock.
        if (word_.compare_exchange_weak(v, v | kHandoff, std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
          heir = true;
          v |= kHandoff;
        }
        continue;
      }
    }
    if (!detail::park(word_, v, deadline, site)) timed_out = true;
    if (watch != nullptr) watch->woken();  // may throw DeadlockError
    v = word_.load(std::memory_order_relaxed);
  }
}

void Lock::leave(bool heir) noexcept {
  std::uint32_t v = word_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint32_t next = (v - kWaiter) & ~kWoken;  // it may have been the woken one
    if (heir) next &= ~kHandoff;
    bool wake = false;
    if ((next & (kLocked | kWoken | kHandoff)) == 0 && next >= kWaiter) {
      // The lock is free, waiters are parked and nobody is awake to take
      // it (this thread may have been woken for it): wake one.
      next |= kWoken;
      wake = true;
    }
    if (word_.compare_exchange_weak(v, next, std::memory_order_relaxed,
                                    std::memory_order_relaxed)) {
      if (wake) detail::unpark_one(word_);
      return;
    }
  }
}

bool Lock::acquire_checked(detail::Deadline deadline) {
  detail::lock_order_before_blocking(this);
  if (!(try_fast() || acquire_slow(deadline))) return false;
  detail::lock_order_acquired(this);
  return true;
}

void Lock::release_slow(std::uint32_t prev) {
  heal_after_fork();
  std::uint32_t v = word_.load(std::memory_order_relaxed);
  (void)prev;
  int wake = 0;
  for (;;) {
    if ((v & kLocked) == 0) throw_unlocked();
    std::uint32_t next = v & ~kLocked;
    wake = 0;
    if ((next & kHandoff) != 0) {
      wake = std::numeric_limits<int>::max();  // the heir sleeps among the waiters
    } else if (next >= kWaiter && (next & kWoken) == 0) {
      next |= kWoken;
      wake = 1;
    }
    if (word_.compare_exchange_weak(v, next, std::memory_order_release, std::memory_order_relaxed))
      break;
  }
  // The lock may be gone by now: wake by address only.
  if (wake != 0) detail::unpark(word_, wake);
}

void Lock::throw_unlocked() {
  throw RuntimeError("release unlocked lock");
}

}  // namespace spindle
