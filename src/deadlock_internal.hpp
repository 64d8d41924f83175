// Internal interface of the deadlock detector (src/deadlock.cpp) for the
// blocking calls that take part in it: Lock's untimed slow path (which RLock
// and Condition use), Condition's re-acquire, and Thread::join. Not
// installed. Design: docs/design/deadlock.md.
#pragma once

#include <atomic>
#include <cstdint>

namespace spindle::detail {

class ThreadCore;
struct Record;

// The policy as a number (spindle::DeadlockPolicy: 0 raise, 1 report, 2 off).
extern std::atomic<int> g_deadlock_policy;

/// True unless the policy is off: untimed waits are then watched.
[[nodiscard]] inline bool deadlock_watch_on() noexcept {
  return g_deadlock_policy.load(std::memory_order_relaxed) != 2;
}

/// What a watched wait waits for: a Lock (who holds it: its owner token) or
/// the end of a thread (Thread::join).
struct WaitTarget {
  enum class Kind : std::uint8_t { lock, join };
  Kind kind;
  bool owned;                                // lock: an RLock's, released only by its owner
  const void* object;                        // the Lock, or the joined ThreadCore
  const std::atomic<std::uintptr_t>* owner;  // lock: its owner token
  const std::atomic<std::uint32_t>* word;    // lock: its futex word

  static WaitTarget lock(const void* lock, const std::atomic<std::uintptr_t>* owner,
                         const std::atomic<std::uint32_t>* word, bool owned) noexcept {
    return WaitTarget{Kind::lock, owned, lock, owner, word};
  }
  static WaitTarget join(const ThreadCore* core) noexcept {
    return WaitTarget{Kind::join, true, core, nullptr, nullptr};
  }
};

/// A blocking wait without a deadline, seen by the deadlock detector for as
/// long as the object lives. The constructor checks whether this wait closes
/// a wait-for cycle; under the raise policy it then throws DeadlockError
/// (nothing is published), under report it calls the hook and the wait goes
/// on. Otherwise it publishes the wait, so that the thread that closes a
/// cycle later finds it, and find_deadlocks() sees it. The destructor
/// withdraws it. No-op while the policy is off.
class WatchedWait {
 public:
  explicit WatchedWait(const WaitTarget& target);
  ~WatchedWait();
  WatchedWait(const WatchedWait&) = delete;
  WatchedWait& operator=(const WatchedWait&) = delete;

  /// Call after each wake-up of a Lock wait: if another thread closed a
  /// cycle through this wait but could not back out itself (it was
  /// re-acquiring a Condition's lock), this thread is the one to throw
  /// DeadlockError, if the cycle is still there.
  void woken();

 private:
  Record* record_ = nullptr;
};

/// While alive, the calling thread's watched waits must not throw
/// DeadlockError: Condition::wait()'s re-acquire (wait() returns holding the
/// lock), and joins made on the way to a destructor's end (a pool's
/// shutdown, ~Thread). If such a wait closes a cycle, another thread of the
/// cycle that waits in a Lock acquire throws instead (see woken()); if there
/// is none, the cycle is reported and the wait goes on. Waits made while an
/// exception unwinds the stack are treated the same way.
class NoDeadlockErrorScope {
 public:
  NoDeadlockErrorScope() noexcept;
  ~NoDeadlockErrorScope();
  NoDeadlockErrorScope(const NoDeadlockErrorScope&) = delete;
  NoDeadlockErrorScope& operator=(const NoDeadlockErrorScope&) = delete;

 private:
  bool previous_;
};

}  // namespace spindle::detail
