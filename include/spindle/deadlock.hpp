// spindle/deadlock.hpp - deadlock diagnostics: deadlocks named when they
// happen, find_deadlocks(), lock-order checking, a thread dump on SIGQUIT.
//
// Python can only hang, or give up after a timeout. spindle records, for
// every thread blocked without a timeout, what it waits for, and for every
// Lock, which thread acquired it; from that it builds the wait-for graph
// (as Java's ThreadMXBean.findDeadlockedThreads() does) and checks it at the
// moment a thread is about to block.
//
// ## What counts as a deadlock
//
// A cycle of two or more threads, each blocked in a call WITHOUT a timeout
// and waiting for something only the next thread of the cycle can give:
//
//   * a Lock or RLock the next thread acquired and has not released: from
//     acquire() / lock() (also through std::scoped_lock), a Condition's
//     acquire(), and the re-acquire at the end of Condition::wait();
//   * the end of the next thread: Thread::join() without a timeout.
//
// "Held by T" means "acquired by T and not released since". An RLock can be
// released only by its owner, and a thread only ends by itself, so those
// edges are certain. A Lock has no owner in Python's sense - any thread may
// release it, and Python code uses one as a signal that a third thread
// releases - so a Lock edge counts only in the shape of every lock-order
// deadlock: its acquirer is itself blocked acquiring a lock (Lock, RLock, a
// Condition's). A thread that acquired a Lock and then joins, or waits for
// a Lock it acquired itself, may be waiting for someone else to release it:
// never a cycle. What is left to chance: a thread outside the cycle that
// releases a Lock acquired by a thread of the cycle blocked in an acquire;
// a program that does that on purpose should choose DeadlockPolicy::report
// or off.
//
// Not counted, because they end by themselves or can be ended by any
// thread: every call with a timeout (acquire(2s), join(2s), ...), and
// waits that have no holder - Condition::wait() for a notify, Semaphore,
// Event, Barrier, queues, futures. Threads that merely wait for a
// deadlocked thread, without being in the cycle, are not part of it.
//
// ## When a call would close a cycle (the policy)
//
// The call that would close the cycle (the last of its threads to block)
// finds it before it blocks, and then, under the process-wide policy:
//
//   DeadlockPolicy::raise   (default) it throws DeadlockError - a
//                           RuntimeError naming each thread of the cycle,
//                           what it holds and what it waits for - without
//                           taking the lock (or joining). The other threads
//                           keep waiting; they go on once the thrower lets go
//                           of what it holds (its RAII guards do).
//                           Exception: some waits must not throw - the
//                           re-acquire at the end of Condition::wait() (it
//                           returns holding the lock), the joins of a
//                           ThreadPoolExecutor's shutdown and of ~Thread
//                           (destructors), and any wait made while an
//                           exception unwinds the stack (an RAII guard's
//                           destructor). When one of them closes a cycle,
//                           another thread of the cycle that waits in a
//                           Lock/RLock acquire() throws instead (it is woken
//                           for that; e.g. a pool task waiting for a lock
//                           that the thread shutting the pool down holds:
//                           its future gets the DeadlockError), or, if there
//                           is none, the cycle is reported as under `report`
//                           and the wait goes on. A destructor of your own
//                           that calls acquire() or join() outside unwinding
//                           should catch DeadlockError, as any exception.
//   DeadlockPolicy::report  the deadlock hook is called with the cycle
//                           (default: printed on stderr), then the call
//                           blocks as Python's would.
//   DeadlockPolicy::off     nothing is checked or recorded (waits that
//                           begin meanwhile are invisible to
//                           find_deadlocks()).
//
// Why raise by default: a cycle as defined above never ends by itself (short
// of the narrow case left to chance); a Python program hangs there forever,
// which is never the intended outcome, and the exception names the cause
// where it happens. A program that relies
// on timeouts never sees it (timed waits are never part of a cycle), and
// `except RuntimeError` handlers catch it. docs/design.md lists it as a
// departure from Python.
//
// ## Lock-order checking (opt-in, e.g. for test builds)
//
// set_lock_order_checking(true) records, for every Lock and RLock (spindle's
// internal ones too; their orders are consistent), the order in which each
// thread takes them (Linux's lockdep, Abseil's Mutex deadlock
// detection): "A then B" when a thread takes B while holding A. The first
// acquisition that contradicts an earlier order - a thread takes A while
// holding B after any thread took B while holding A (or through a chain
// B -> C -> A) - is reported through the lock-order hook (default: printed
// on stderr) with both orders and the names of the threads, even if this run
// did not deadlock. Each pair of locks is reported once. Non-blocking
// acquires (acquire(false), try_lock(), which std::scoped_lock uses to take
// several locks without deadlock) record what is held but no order; RLock
// re-entries add nothing. Memory is bounded (lock_order_stats()); a
// destroyed Lock is forgotten. Cost: docs/bench/primitives.md.
//
// ## Thread dump on a signal
//
// install_thread_dump_signal() (once, e.g. at the top of main) makes SIGQUIT
// (Ctrl-\ in a terminal) print thread_dump() - every thread, what it waits
// on, and any deadlock - on stderr; the process carries on, as the JVM's
// does.
//
// ## Not promised
//
// A cycle longer than 64 threads is not detected. A thread that blocks while
// the policy is off is not seen after it is switched on (set the policy
// before the threads start). Names are read when a report is made; a thread
// spindle never saw (a std::thread that never called current_thread()) is
// named by its ident.
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "spindle/errors.hpp"

namespace spindle {

/// What a blocking call without a timeout does when it would close a
/// wait-for cycle (see the file comment).
enum class DeadlockPolicy : std::uint8_t { raise, report, off };

/// One thread of a deadlock cycle.
struct DeadlockedThread {
  std::string name;         ///< its name, or "<thread 0x...>" if spindle never saw it
  std::uint64_t ident = 0;  ///< its get_ident()
  /// What the previous thread of the cycle waits for: "Lock" (a Lock, or the
  /// Lock inside an RLock or a Condition's lock) that this thread acquired,
  /// or "Thread" when the previous thread joins this one.
  const char* holds_kind = "";
  const void* holds = nullptr;  ///< that Lock, or this thread's core (as Thread::waiting_on)
  /// What this thread waits for: "Lock", or "Thread.join" (the next thread's end).
  const char* waits_kind = "";
  const void* waits_for = nullptr;  ///< that Lock, or the joined thread's core
};

/// A wait-for cycle: threads[i] waits for what threads[i + 1] holds, and the
/// last for what threads[0] holds.
struct Deadlock {
  std::vector<DeadlockedThread> threads;
  /// A line per thread: 'thread "w1" holds Lock 0x... and waits for Lock
  /// 0x... held by "w2"', after a first line counting the threads.
  [[nodiscard]] std::string describe() const;
};

/// Sets the policy (default raise) and returns the previous one. Meant to be
/// set before the threads it concerns start waiting: a wait that began
/// while the policy was off is not seen.
DeadlockPolicy set_deadlock_policy(DeadlockPolicy policy) noexcept;
/// The policy now.
[[nodiscard]] DeadlockPolicy deadlock_policy() noexcept;

/// The function called under DeadlockPolicy::report (and under raise when no
/// thread of the cycle can throw), in the thread that closed the cycle,
/// before it blocks. An empty function restores the default, which prints
/// "spindle: deadlock detected ..." and the cycle on stderr. If the hook
/// throws, the exception is printed on stderr and the thread blocks anyway.
void set_deadlock_hook(std::function<void(const Deadlock&)> hook);

/// The deadlock cycles present now (Java's findDeadlockedThreads): each
/// cycle once, each checked to be current when it was read. Any thread may
/// call it; it blocks only briefly on the detector's own lock. Waits that
/// began while the policy was off are not seen.
[[nodiscard]] std::vector<Deadlock> find_deadlocks();

// ---------------------------------------------------------------- lock order

/// One recorded order: `thread` took `then` while holding `first`.
struct LockOrderStep {
  const void* first = nullptr;
  const void* then = nullptr;
  std::string thread;  ///< its name when it did
};

/// An acquisition that contradicts an earlier order.
struct LockOrderViolation {
  std::string thread;  ///< the thread taking `acquiring` now
  const void* acquiring = nullptr;
  const void* held = nullptr;  ///< a lock it holds meanwhile
  /// The earlier order, from `acquiring` to `held`: steps[0].first is
  /// `acquiring`, steps.back().then is `held` (one step for two locks).
  std::vector<LockOrderStep> earlier;
  /// 'lock-order inversion: thread "w2" takes Lock 0x... while holding Lock
  /// 0x..., but earlier thread "w1" took Lock 0x... while holding Lock
  /// 0x...'.
  [[nodiscard]] std::string describe() const;
};

/// Switches lock-order checking on or off (default off); returns the
/// previous setting. Locks acquired while it was off are not known to it.
bool set_lock_order_checking(bool on) noexcept;
/// Whether lock-order checking is on.
[[nodiscard]] bool lock_order_checking() noexcept;

/// The function called with each violation, in the thread that makes the
/// acquisition, before it blocks (its own lock operations are not checked).
/// An empty function restores the default, which prints "spindle: " and
/// describe() on stderr. If the hook throws, the exception is printed on
/// stderr and the acquisition goes on.
void set_lock_order_hook(std::function<void(const LockOrderViolation&)> hook);

/// The order graph's size: the locks in it, its edges ("A then B" pairs),
/// and the pairs not recorded because it was full (at most 65536 edges; a
/// thread's held locks: at most 32 at a time are known).
struct LockOrderStats {
  std::size_t locks = 0;
  std::size_t edges = 0;
  std::size_t dropped = 0;
};
[[nodiscard]] LockOrderStats lock_order_stats();

// ---------------------------------------------------------------- thread dump

/// "Thread dump:", dump_threads(), then each deadlock of find_deadlocks()
/// (or "No deadlock found."), then "End of thread dump.".
[[nodiscard]] std::string thread_dump();

/// From now on, the signal `signo` (default SIGQUIT) prints thread_dump() on
/// stderr and the process carries on. The printing is done by a thread of
/// spindle's own (parked until a signal comes; not listed by enumerate()),
/// so the handler itself only wakes it. Calling it again, for the same or
/// another signal, is allowed. Replaces the signal's previous handler.
/// Throws ValueError for an invalid signal or SIGKILL/SIGSTOP, RuntimeError
/// if the handler or the thread cannot be installed.
void install_thread_dump_signal(int signo = SIGQUIT);

}  // namespace spindle
