// spindle/condition.hpp - threading.Condition.
//
// A condition variable bound to a lock: a Lock or an RLock given at
// construction, or by default a new RLock of its own (C15). As in Python the
// Condition is itself a lock: acquire()/release() (and lock()/unlock() for
// std::scoped_lock) act on the underlying lock.
//
//     spindle::Condition cond;
//     // consumer                              // producer
//     std::scoped_lock g(cond);                std::scoped_lock g(cond);
//     cond.wait_for([&] { return ready; });    ready = true; cond.notify();
//
// wait() releases the lock - every level of an RLock, however many times it
// is held (C13) - blocks until notified or until the timeout, and re-acquires
// the lock (restoring the same recursion level) before it returns, also when
// it times out. Calling wait or notify without holding the lock throws
// RuntimeError (C10, C11). With a plain Lock, "holding" can only be checked
// as "the lock is held by some thread", because a Lock has no owner.
//
// Timeouts follow Python's Condition.wait: a negative timeout acts as zero -
// the wait polls: it releases the lock, returns false unless a notify came
// in that moment, and re-acquires the lock, without an exception (C16). A
// timeout above TIMEOUT_MAX throws OverflowError when the call would wait
// (C05): always for wait(timeout), and for wait_for(pred, timeout) only if
// the predicate is false at first. A NaN timeout throws ValueError. The
// acquire(timeout) forms act on the underlying lock and keep the locks'
// rule: a negative timeout throws ValueError (C04).
//
// What is not promised (as in Python): wake-ups may be spurious, so wait in a
// loop or use wait_for(pred); notify(n) may wake more than n waiters; the
// order in which waiters wake is unspecified.
//
// Memory ordering: everything the notifying thread wrote before releasing
// the lock is visible to a waiter when its wait returns, because the waiter
// returns holding the same lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "spindle/detail/acquire.hpp"
#include "spindle/detail/park.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/lock.hpp"

namespace spindle {

class Condition : public detail::Acquirable<Condition> {
 public:
  /// A condition over a new RLock of its own (C15).
  Condition() : own_(std::in_place), rlock_(&*own_) {}
  /// A condition over `lock`, which must outlive it.
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  /// A condition over `lock`, which must outlive it.
  explicit Condition(RLock& lock) noexcept : rlock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // The underlying lock: acquire() in its four forms and the Lockable
  // names come from detail::Acquirable and act on the Lock or RLock.
  void release() { lock_ ? lock_->release() : rlock_->release(); }

  /// Releases the lock, blocks until notified, re-acquires the lock.
  /// Throws RuntimeError "cannot wait on un-acquired lock" (C10).
  void wait() { wait_until(detail::Deadline::never()); }

  /// As wait(), at most `timeout`. Returns false iff the timeout expired (C12).
  /// A zero or negative timeout polls (C16). Throws ValueError for NaN,
  /// RuntimeError if the lock is not held (C10), and OverflowError above
  /// TIMEOUT_MAX (C05), in that order.
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) {
    const detail::WaitTimeout t(timeout);
    check_owned("cannot wait on un-acquired lock");
    return wait_owned(t.deadline());
  }

  /// Waits until `pred()` is true, calling it with the lock held, first
  /// before any wait. Returns true.
  template <class Pred>
  bool wait_for(Pred pred) {
    check_owned("cannot wait on un-acquired lock");
    while (!pred()) wait_owned(detail::Deadline::never());
    return true;
  }

  /// As wait_for(pred), giving up when `timeout` has passed in total.
  /// Returns the predicate's last value (C14). As in Python, a false
  /// predicate is followed by at least one wait and one more call, also for
  /// a zero or negative timeout, which polls (C16). Throws as wait(timeout),
  /// OverflowError only if the predicate was false at first.
  template <class Pred, class Rep, class Period>
  bool wait_for(Pred pred, std::chrono::duration<Rep, Period> timeout) {
    const detail::WaitTimeout t(timeout);
    check_owned("cannot wait on un-acquired lock");
    bool result = pred();
    if (result) return result;
    const detail::Deadline d = t.deadline();
    do {
      wait_owned(d);
      result = pred();
    } while (!result && !d.expired());
    return result;
  }

  /// Wakes up to `n` threads waiting on this condition (possibly more, never
  /// fewer while that many wait). Throws RuntimeError "cannot notify on
  /// un-acquired lock" (C11). Makes no system call when nobody waits.
  void notify(int n = 1) {
    check_owned("cannot notify on un-acquired lock");
    if (n <= 0 || waiters_.load(std::memory_order_relaxed) == 0) return;
    seq_.fetch_add(1, std::memory_order_relaxed);
    detail::unpark(seq_, n);
  }

  /// Wakes every thread waiting on this condition. Throws as notify().
  void notify_all() { notify(std::numeric_limits<int>::max()); }

 private:
  friend class detail::Acquirable<Condition>;
  [[nodiscard]] bool acquire_until(detail::Deadline deadline) {
    return lock_ ? lock_->acquire_until(deadline) : rlock_->acquire_until(deadline);
  }
  bool try_acquire_now() { return lock_ ? lock_->try_acquire_now() : rlock_->try_acquire_now(); }
  bool wait_until(detail::Deadline deadline) {
    check_owned("cannot wait on un-acquired lock");
    return wait_owned(deadline);
  }
  // The wait itself; the caller has checked that the lock is held.
  bool wait_owned(detail::Deadline deadline);
  void check_owned(const char* message) const;

  std::optional<RLock> own_;
  Lock* lock_ = nullptr;
  RLock* rlock_ = nullptr;
  // seq_ changes on every notify that finds waiters; a waiter parks on the
  // value it read under the lock, so a notify between its unlock and its
  // park is never lost. waiters_ is changed with the lock held.
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace spindle
