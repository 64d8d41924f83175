// spindle/barrier.hpp - threading.Barrier.
//
// A barrier for a fixed number of threads ("parties"): each calls wait(),
// which blocks until all parties have called it; then all are released at
// once and the barrier is ready for the next cycle.
//
//     spindle::Barrier phase(3);
//     // in each of 3 workers:
//     load_part(i);
//     if (phase.wait() == 0) log("all parts loaded");   // one thread logs
//     process_part(i);
//
// wait() returns the thread's arrival index in this cycle: a distinct number
// from 0 to parties-1 (C43). The optional action runs once per cycle, in the
// last thread to arrive, before any thread is released.
//
// Breaking. The barrier becomes *broken* when a wait times out, when the
// action throws, or when abort() is called. Every thread waiting then gets
// BrokenBarrierError, and so does every later wait() until reset() (C41).
// A timeout breaks the barrier for every waiter, as in Python. If the action
// throws, its exception propagates from wait() in the thread that ran it and
// the others get BrokenBarrierError (C42). reset() wakes the current waiters
// with BrokenBarrierError and makes the barrier usable again (C44).
//
// Timeouts follow Python's Barrier.wait, which waits through a Condition: a
// negative timeout (given to wait() or as the default at construction) acts
// as one that has already expired - a thread that would have to wait breaks
// the barrier at once, and it and every waiter get BrokenBarrierError (C45);
// the last party to arrive does not wait, so it passes whatever its timeout.
// A timeout above TIMEOUT_MAX is accepted at construction; a wait that would
// block with it throws OverflowError instead, leaving the barrier as it was
// (C05). A NaN timeout throws ValueError, at construction or in wait().
//
// Memory ordering: everything each party wrote before its wait() is visible
// to every party after its wait() returns (and to the action, which runs
// after all parties arrived).
//
// Differences from Python: a thread that calls wait() right after reset()
// joins the next cycle at once, rather than first waiting until the threads
// woken by reset() have left; the outcome for every thread is the same. The
// action runs with the barrier's internal lock held, as in Python: it may call
// parties(), n_waiting(), broken() and abort() on its own barrier (abort()
// breaks the cycle: every party, including the one running the action, gets
// BrokenBarrierError), but calling wait() or reset() on it from the action is
// refused with RuntimeError.
//
// Implementation: a small state machine under an internal Lock. Waiting
// threads queue a node on their own stack; the thread that ends a cycle
// (completes, breaks or resets it) writes each node's outcome, then advances
// a generation word and wakes everyone parked on it with one system call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "spindle/detail/park.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"
#include "spindle/lock.hpp"

namespace spindle {

/// threading.Barrier (see the file comment).
class Barrier {
 public:
  /// A barrier for `parties` threads, running `action` (if any) once per
  /// cycle, with `timeout` as the default for wait() (none: wait forever).
  /// Throws ValueError if parties < 1 (C40). Any timeout is accepted, as in
  /// Python: a negative one makes every wait() that would block break the
  /// barrier (C45), one above TIMEOUT_MAX makes it throw OverflowError.
  explicit Barrier(std::ptrdiff_t parties, std::function<void()> action = {},
                   std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  /// As above, with a timeout of any duration type (e.g. 0.5 s as a double).
  /// Throws ValueError for a NaN timeout.
  template <class Rep, class Period>
  Barrier(std::ptrdiff_t parties, std::function<void()> action,
          std::chrono::duration<Rep, Period> timeout)
      : Barrier(parties, std::move(action),
                std::optional<detail::WaitTimeout>(detail::WaitTimeout(timeout)), Checked{}) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// Waits until all parties have called wait() in this cycle, or the default
  /// timeout passes. Returns this thread's arrival index, 0..parties-1 (C43).
  /// Throws BrokenBarrierError if the barrier is or becomes broken, is reset
  /// or aborted while waiting, or the timeout passes (which breaks it) (C41);
  /// rethrows the action's exception in the thread that ran it (C42); throws
  /// OverflowError if the default timeout is above TIMEOUT_MAX and this
  /// thread would have to wait (the barrier is left as it was).
  std::size_t wait() {
    return timeout_ ? wait_timeout(*timeout_) : arrive(detail::Deadline::never(), false);
  }

  /// As wait(), waiting at most `timeout` instead of the default timeout.
  /// A zero or negative timeout breaks the barrier unless this thread is the
  /// last to arrive (C45). Throws OverflowError above TIMEOUT_MAX if this
  /// thread would have to wait, ValueError for NaN.
  template <class Rep, class Period>
  std::size_t wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_timeout(detail::WaitTimeout(timeout));
  }

  /// Returns the barrier to its initial state. Threads waiting now get
  /// BrokenBarrierError (C44); a broken barrier becomes usable again.
  void reset();

  /// Breaks the barrier: threads waiting now and every later wait() get
  /// BrokenBarrierError until reset(). Use it to let waiting threads out when
  /// one party cannot arrive.
  void abort();

  /// The number of threads required to pass the barrier.
  [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
  /// The number of threads waiting in the current cycle (0 if broken).
  [[nodiscard]] std::size_t n_waiting() const;
  /// True if the barrier is broken.
  [[nodiscard]] bool broken() const;

 private:
  enum Outcome : std::uint32_t { kPending = 0, kPassed = 1, kBroken = 2 };
  struct Waiter {
    std::atomic<std::uint32_t> outcome{kPending};
    Waiter* next = nullptr;
  };

  struct Checked {};
  Barrier(std::ptrdiff_t parties, std::function<void()> action,
          std::optional<detail::WaitTimeout> timeout, Checked);
  // A wait whose deadline starts now; a timeout above TIMEOUT_MAX is refused
  // only once this thread is known not to be the last to arrive.
  std::size_t wait_timeout(const detail::WaitTimeout& t) {
    return t.too_large() ? arrive(detail::Deadline::never(), true) : arrive(t.deadline(), false);
  }
  std::size_t arrive(detail::Deadline deadline, bool too_large);
  // Takes lock_, unless the caller is the action of this barrier, which
  // already holds it (then returns false). `what` names the call refused
  // from the action (nullptr: allowed there).
  bool enter(const char* refused_in_action) const;
  void leave(bool entered) const noexcept {
    if (entered) lock_.release();
  }
  // With lock_ held:
  void end_cycle(Outcome outcome) noexcept;
  std::size_t complete_cycle(std::size_t index);
  // Without it:
  std::size_t await(Waiter& self, std::uint32_t seen, std::size_t index, detail::Deadline deadline);

  const std::uint32_t parties_;
  const std::function<void()> action_;
  const std::optional<detail::WaitTimeout> timeout_;

  mutable Lock lock_;
  // Under lock_:
  std::uint32_t count_ = 0;  // arrivals in this cycle
  bool broken_ = false;
  Waiter* waiters_ = nullptr;  // threads parked in this cycle
  // The thread running the action (which holds lock_), if any. Written only
  // by that thread; a thread finds its own token here only if it stored it.
  std::atomic<const void*> action_thread_{nullptr};
  // The futex word: advances whenever a cycle ends (passed, broken, reset).
  alignas(64) std::atomic<std::uint32_t> generation_{0};
};

}  // namespace spindle
