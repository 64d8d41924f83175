// spindle/lock.hpp - threading.Lock and threading.RLock.
//
// Lock is Python's primitive lock: a binary, ownerless lock. Any thread may
// release it, not only the one that acquired it (C02) - it behaves like a
// binary semaphore, not like std::mutex. RLock is the reentrant lock: it has
// an owner and a recursion count, and only the owner may release it (C06).
//
// Both offer Python's three forms of acquire:
//
//     lock.acquire();            // block until acquired; returns true
//     lock.acquire(false);       // don't block; true if acquired
//     lock.acquire(2s);          // block at most 2 s; false if the time ran out (C08)
//
// and C++'s Lockable/TimedLockable names, so std::scoped_lock,
// std::unique_lock and std::lock work with them ("with lock:" in Python):
//
//     { std::scoped_lock guard(lock); ++counter; }
//
// Timeouts are any std::chrono::duration from zero to TIMEOUT_MAX; a negative
// one throws ValueError (C04), a larger one OverflowError (C05).
//
// Memory ordering: a release() happens-before the acquire() that next takes
// the lock, so everything written before release() is visible to the thread
// that acquires it next.
//
// Waiting and fairness. A thread that finds the lock held spins for a bounded
// while - one thread at a time pauses between looks at the lock (exponential
// backoff, a few microseconds), the others only sched_yield() a few times -
// and then parks; it never burns a core for longer than that spin. A release
// wakes one parked waiter, and none while a woken one has not yet run.
// Barging is allowed: a thread that releases may take the lock straight
// back, and a thread that arrives may take it before a waiter that was
// woken for it; this keeps the lock fast under contention, as in WebKit's
// WTF::Lock and CPython's PyMutex. The fairness promised is WebKit's
// "eventual fairness": a waiter that has waited more than about 1 ms
// reserves the lock, and the next release hands it to that waiter directly
// (at most about one such hand-off per millisecond per lock), so no waiter
// starves while others hammer the lock. The order in which waiters are
// served is otherwise unspecified.
//
// fork(): in the child, a Lock or RLock held by a thread that did not survive
// the fork stays held, as in Python; the waiters, the woken waiter and the
// waiter it was reserved for (fairness) are forgotten, since none of them
// exists there, so the child's own threads are woken as usual.
//
// Destroying a held Lock or RLock is allowed (C07); destroying one while other
// threads wait on it is undefined, as for every C++ object in use.
//
// Deadlocks (spindle/deadlock.hpp). A Lock remembers which thread acquired
// it, so that a blocking acquire() without a timeout that would close a
// wait-for cycle - threads each waiting for a lock that the next one holds -
// throws DeadlockError (the default policy) instead of hanging; RLock and
// Condition, built on Lock, take part too. acquire() with a timeout, and the
// non-blocking forms, never throw it. Opt-in lock-order checking reports the
// first acquisition that takes two locks in the order opposite to an earlier
// one, even when that run does not deadlock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "spindle/detail/acquire.hpp"
#include "spindle/detail/lock_tracking.hpp"
#include "spindle/detail/park.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"

namespace spindle {

namespace detail {
class WatchedWait;  // src/deadlock_internal.hpp
}  // namespace detail

/// threading.Lock: binary, ownerless.
class Lock : public detail::Acquirable<Lock> {
 public:
  Lock() noexcept = default;
  /// Lock-order checking, once used, forgets the destroyed lock.
  ~Lock() {
    if (detail::g_lock_order_used.load(std::memory_order_relaxed))
      detail::lock_order_forget(this, owner_.load(std::memory_order_relaxed));
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // acquire() in its four forms and the Lockable names come from
  // detail::Acquirable (see the file comment for the forms). The blocking
  // forms without a timeout throw DeadlockError if waiting would close a
  // wait-for cycle (spindle/deadlock.hpp), without taking the lock.

  /// Releases the lock. Any thread may call it (C02). Throws RuntimeError
  /// "release unlocked lock" if the lock is not held (C01).
  void release() {
    if (detail::lock_order_on()) [[unlikely]]
      detail::lock_order_released(this, owner_.load(std::memory_order_relaxed));
    owner_.store(0, std::memory_order_relaxed);  // no longer "held by" anyone
    std::uint32_t expected = kLocked;
    if (word_.compare_exchange_strong(expected, kUnlocked, std::memory_order_release,
                                      std::memory_order_relaxed))
      return;
    release_slow(expected);
  }

  /// True if some thread holds the lock (a snapshot).
  [[nodiscard]] bool locked() const noexcept {
    return (word_.load(std::memory_order_relaxed) & kLocked) != 0;
  }

 private:
  friend class detail::Acquirable<Lock>;
  friend class Condition;
  friend class RLock;
  // Blocks until acquired or `deadline` (already validated). True if
  // acquired. Users have try_lock_until(time_point).
  [[nodiscard]] bool acquire_until(detail::Deadline deadline) {
    if (detail::lock_order_on()) [[unlikely]]
      return acquire_checked(deadline);
    return try_fast() || acquire_slow(deadline);
  }
  bool try_acquire_now() noexcept {
    if (!try_fast()) return false;
    if (detail::lock_order_on()) [[unlikely]]
      detail::lock_order_acquired(this);
    return true;
  }
  // The lock word (src/lock.cpp explains the protocol). 0 is free with
  // nobody waiting, kLocked held with nobody waiting: the two states of the
  // fast paths, one CAS each.
  static constexpr std::uint32_t kUnlocked = 0;
  static constexpr std::uint32_t kLocked = 1;   // held
  static constexpr std::uint32_t kWoken = 2;    // a woken waiter is awake; releases wake nobody
  static constexpr std::uint32_t kHandoff = 4;  // reserved for a waiter that waited too long
  static constexpr std::uint32_t kWaiter = 8;   // one parked waiter, of a count in the bits above

  // The Lock inside an RLock: only its owner can release it, which the
  // deadlock detector relies on (src/deadlock.cpp).
  struct OwnedTag {};
  explicit constexpr Lock(OwnedTag) noexcept : owned_(true) {}

  bool try_fast() noexcept {
    std::uint32_t expected = kUnlocked;
    if (!word_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return false;
    own();
    return true;
  }
  // Records the calling thread as the one that acquired the lock. Release
  // order: a deadlock detector that reads this token also sees everything
  // the thread did before (src/deadlock.cpp, docs/design/deadlock.md).
  void own() noexcept { owner_.store(detail::owner_token(), std::memory_order_release); }
  bool acquire_slow(detail::Deadline deadline);
  bool spin(bool woken) noexcept;
  bool wait_parked(detail::Deadline deadline, detail::WatchedWait* watch, bool& heir);
  void leave(bool heir) noexcept;
  bool acquire_checked(detail::Deadline deadline);
  [[noreturn]] static void throw_unlocked();
  void release_slow(std::uint32_t prev);
  void heal_after_fork() noexcept;

  std::atomic<std::uint32_t> word_{kUnlocked};
  // When the next hand-off to a waiter that has waited too long is allowed
  // (in ticks of 2^20 ns, wrapping): at most about one per millisecond.
  std::atomic<std::uint32_t> fair_tick_{0};
  // A thread is in the pausing part of the spin (src/lock.cpp; a hint).
  std::atomic<bool> spinning_{false};
  const bool owned_ = false;  // inside an RLock
  // The fork generation (src/lock.cpp) the waiter state of word_ belongs to.
  std::atomic<std::uint32_t> epoch_{0};
  // detail::owner_token() of the thread that acquired the lock and has not
  // released it; 0 while free (and for a moment around each change).
  std::atomic<std::uintptr_t> owner_{0};
};

/// threading.RLock: reentrant; the owner may acquire it again, and must
/// release it as many times. Only the owner may release it (C06).
class RLock : public detail::Acquirable<RLock> {
 public:
  RLock() noexcept = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  // acquire() in its four forms and the Lockable names come from
  // detail::Acquirable; each returns at once (count + 1) if the caller
  // already owns the lock.

  /// Drops one level; the lock is free when the count reaches zero.
  /// Throws RuntimeError "cannot release un-acquired lock" if the caller is
  /// not the owner (C06).
  void release() {
    if (!is_owned()) throw RuntimeError("cannot release un-acquired lock");
    if (--count_ == 0) {
      owner_.store(nullptr, std::memory_order_relaxed);
      lock_.release();
    }
  }

  /// True if some thread holds the lock (a snapshot).
  [[nodiscard]] bool locked() const noexcept { return lock_.locked(); }
  /// True if the calling thread owns the lock.
  [[nodiscard]] bool is_owned() const noexcept {
    return owner_.load(std::memory_order_relaxed) == detail::thread_token();
  }

 private:
  // Blocks until acquired or `deadline` (already validated). True if
  // acquired. Users have try_lock_until(time_point).
  [[nodiscard]] bool acquire_until(detail::Deadline deadline) {
    if (reenter()) return true;
    if (!lock_.acquire_until(deadline)) return false;
    own(1);
    return true;
  }
  friend class detail::Acquirable<RLock>;
  friend class Condition;
  bool try_acquire_now() noexcept {
    if (reenter()) return true;
    if (!lock_.try_acquire_now()) return false;
    own(1);
    return true;
  }
  bool reenter() noexcept {
    if (!is_owned()) return false;
    ++count_;
    return true;
  }
  void own(std::uint32_t count) noexcept {
    owner_.store(detail::thread_token(), std::memory_order_relaxed);
    count_ = count;
  }
  // Condition support (Python's _release_save / _acquire_restore, C13):
  // release every level at once and restore them after the wait.
  std::uint32_t release_all() noexcept {
    const std::uint32_t n = count_;
    count_ = 0;
    owner_.store(nullptr, std::memory_order_relaxed);
    lock_.release();
    return n;
  }
  void restore(std::uint32_t count) {
    lock_.acquire();
    own(count);
  }

  Lock lock_{Lock::OwnedTag{}};
  // Written only by the owner; read by any thread to ask "is it me?" - a
  // thread only ever finds its own token there if it stored it itself.
  std::atomic<const void*> owner_{nullptr};
  std::uint32_t count_ = 0;  // touched only by the owner
};

}  // namespace spindle
