// spindle/detail/queue_core.hpp - the part of a queue that does not depend
// on the item type: one lock, the counts, and three park words.
//
// CPython's Queue is one mutex and three conditions (not_empty, not_full,
// all_tasks_done). QueueCore is the same shape built on the park layer:
//
//   lock_          a spindle::Lock guarding the storage and every field below
//   count_         the number of items (written under the lock; read without
//                  it by qsize() and by spinners, hence atomic)
//   getters_       the getters parked for an item, oldest first
//   putters_       the putters parked for room, oldest first
//   all_done_      a sequence word join() parks on, with join_waiters_
//
// A getter or putter that must wait links a Waiter node (on its own stack)
// into its list while it holds the lock, releases the lock and parks on the
// node's own word until that word says "signalled" (or its deadline
// passes). A put that finds a getter listed unlinks the oldest one and marks
// it signalled before releasing the lock, and unparks it after; a get does
// the same for a putter. So:
//   - a put or get makes no system call when nobody waits, and exactly one
//     wake-up per waiter: a waiter that was signalled is no longer listed, so
//     the next put does not wake it again before it has run (with a counter
//     of waiters instead of a list, every put made between a wake-up and the
//     woken thread's return paid a useless FUTEX_WAKE);
//   - no wake-up is lost: the waiter is listed before it lets go of the
//     lock, and the signal is a store to the word it parks on;
//   - a waiter whose deadline passes unlinks itself under the lock if it is
//     still listed; if it was signalled meanwhile it re-checks and takes the
//     item (or room), so a signal is never spent on a thread that leaves;
//   - a get or put that fails after its wait (the item's copy/move or a
//     comparison threw, C81) leaves the item queued (the slot free), so it
//     passes a signal on to the next listed getter (putter): the wake-up it
//     consumed is not lost with it (pass_on_get / pass_on_put).
// A woken thread re-checks under the lock; a thread that arrives while
// others wait may take the item first (no FIFO fairness is promised), in
// which case the woken one waits again.
//
// The unpark after the unlock passes the address of a node that its owner
// may already have left (it saw the signal without sleeping). The kernel
// only uses the address to find sleepers: at worst another wait on the same
// address gets a spurious wake-up, which every park caller tolerates, or the
// call fails with EFAULT (Rust's parking_lot relies on the same property).
//
// shutdown() and the last task_done() wake every waiter.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "spindle/detail/park.hpp"
#include "spindle/errors.hpp"
#include "spindle/lock.hpp"

namespace spindle::detail {

class QueueCore {
 public:
  explicit QueueCore(std::ptrdiff_t maxsize) noexcept : maxsize_(maxsize) {}
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  [[nodiscard]] std::size_t qsize() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool empty() const noexcept { return qsize() == 0; }
  [[nodiscard]] bool full() const noexcept {
    return maxsize_ > 0 && qsize() >= static_cast<std::size_t>(maxsize_);
  }
  [[nodiscard]] std::ptrdiff_t maxsize() const noexcept { return maxsize_; }
  [[nodiscard]] bool is_shutdown() const noexcept {
    return shutdown_.load(std::memory_order_relaxed);
  }

  void task_done();
  void join();

 protected:
  /// lock_, held by the calling thread: taken at construction, released by
  /// unlock() or at destruction (so an exception thrown while it is held
  /// releases it). Unlike std::unique_lock it checks nothing: each use is
  /// paired by construction.
  class Held;
  /// Proof, in a helper's signature, that the caller holds lock_ through a
  /// Held (an empty value, free to pass: only Held::proof() makes one).
  /// A helper that waits releases lock_ and re-takes it before it returns
  /// or throws, so the caller's Held stays the one owner.
  class Locked {
    friend class Held;
    Locked() = default;
  };
  class Held {
   public:
    explicit Held(Lock& lock) : lock_(lock) { lock_.acquire(); }
    ~Held() {
      if (owns_) lock_.release();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    void unlock() {
      owns_ = false;
      lock_.release();
    }
    [[nodiscard]] Locked proof() const noexcept { return {}; }

   private:
    Lock& lock_;
    bool owns_ = true;
  };

  // All of the following are called with lock_ held.

  /// True if a put may go ahead now.
  [[nodiscard]] bool room_now() const noexcept {
    return !shutdown_.load(std::memory_order_relaxed) &&
           (maxsize_ <= 0 ||
            count_.load(std::memory_order_relaxed) < static_cast<std::size_t>(maxsize_));
  }
  /// Waits (releasing and re-taking the lock) until room_now(). Throws
  /// ShutDown or Full with the lock held.
  void await_room(Locked, Deadline deadline, bool block);
  /// Waits until an item is there. Throws ShutDown or Empty with the lock
  /// held.
  void await_item(Locked, Deadline deadline, bool block);

  /// A thread parked in a put or a get: a node on that thread's stack.
  struct Waiter {
    std::atomic<std::uint32_t> signalled{0};
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
  };
  /// Waiters oldest first (a doubly linked list guarded by lock_).
  struct WaitList {
    Waiter* head = nullptr;
    Waiter* tail = nullptr;
    void push_back(Waiter* w) noexcept {
      w->prev = tail;
      w->next = nullptr;
      (tail != nullptr ? tail->next : head) = w;
      tail = w;
    }
    void remove(Waiter* w) noexcept {
      (w->prev != nullptr ? w->prev->next : head) = w->next;
      (w->next != nullptr ? w->next->prev : tail) = w->prev;
    }
  };
  /// The address of the word to unpark after the unlock, or null. Only an
  /// address: its owner may have returned by then (see unpark_address).
  using Wake = const void*;

  /// Books one item in; returns the getter to unpark after the unlock.
  [[nodiscard]] Wake note_put() noexcept {
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    ++unfinished_;
    return signal_one(getters_);
  }
  /// Books one item out; returns the putter to unpark after the unlock.
  [[nodiscard]] Wake note_get() noexcept {
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return signal_one(putters_);
  }
  /// For a get that failed after its wait (the item's copy/move or a
  /// comparison threw): the item is still queued, so the next listed getter
  /// is signalled in this thread's place - it may have consumed the wake-up
  /// meant for that item. At most one needless wake-up when it had not.
  [[nodiscard]] Wake pass_on_get() noexcept {
    return count_.load(std::memory_order_relaxed) != 0 ? signal_one(getters_) : nullptr;
  }
  /// For a put that failed after its wait (the item's copy/move or a
  /// comparison threw): the slot is still free, so the next listed putter is
  /// signalled in this thread's place.
  [[nodiscard]] Wake pass_on_put() noexcept { return room_now() ? signal_one(putters_) : nullptr; }
  static void wake(Wake w) noexcept {
    if (w != nullptr) unpark_address(w, 1);
  }

  /// Marks the queue shut down; `drained` items were removed (immediate).
  /// Releases the lock and wakes every waiter that must re-check.
  void finish_shutdown(Held& held, std::size_t drained) noexcept;

  Lock lock_;

 private:
  static Wake signal_one(WaitList& list) noexcept {
    Waiter* w = list.head;
    if (w == nullptr) return nullptr;
    list.remove(w);
    w->signalled.store(1, std::memory_order_release);
    return &w->signalled;
  }
  static void signal_all(WaitList& list) noexcept;
  static bool bump(std::atomic<std::uint32_t>& word, std::uint32_t waiters) noexcept {
    if (waiters == 0) return false;
    word.store(word.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return true;
  }
  void wait_in(Locked, WaitList& list, Deadline deadline, const char* kind);

  std::atomic<std::size_t> count_{0};
  const std::ptrdiff_t maxsize_;
  std::atomic<bool> shutdown_{false};
  std::uint32_t join_waiters_ = 0;
  std::uint64_t unfinished_ = 0;
  WaitList getters_;
  WaitList putters_;
  std::atomic<std::uint32_t> all_done_{0};
};

}  // namespace spindle::detail
