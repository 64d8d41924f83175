// spindle/detail/queue_core.hpp - the part of a queue that does not depend
// on the item type: one lock, the counts, and three park words.
//
// CPython's Queue is one mutex and three conditions (not_empty, not_full,
// all_tasks_done). QueueCore is the same shape built on the park layer:
//
//   lock_          a spindle::Lock guarding the storage and every field below
//   count_         the number of items (written under the lock; read without
//                  it by qsize() and by spinners, hence atomic)
//   not_empty_     a sequence word getters park on, with get_waiters_
//   not_full_      a sequence word putters park on, with put_waiters_
//   all_done_      a sequence word join() parks on, with join_waiters_
//
// A waiter registers itself (waiters + 1) and reads the sequence word while
// it holds the lock, then releases the lock and parks on "the word still
// holds what I read". A thread that makes the waited-for condition true does
// so under the lock, and if the waiter count is non-zero it bumps the word
// before releasing the lock and unparks after it. So a waiter either parks
// before the bump (and is woken) or finds the word changed (and does not
// park): no lost wake-up, and no system call when nobody waits.
//
// A put wakes one getter and a get wakes one putter, as Condition.notify()
// does in CPython; shutdown() and the last task_done() wake every waiter.
// A woken thread re-checks under the lock, so a wake-up taken by a thread
// that then finds nothing to do costs time, never an item.
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

  [[nodiscard]] std::size_t qsize() const noexcept { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool empty() const noexcept { return qsize() == 0; }
  [[nodiscard]] bool full() const noexcept {
    return maxsize_ > 0 && qsize() >= static_cast<std::size_t>(maxsize_);
  }
  [[nodiscard]] std::ptrdiff_t maxsize() const noexcept { return maxsize_; }
  [[nodiscard]] bool is_shutdown() const noexcept { return shutdown_.load(std::memory_order_relaxed); }

  void task_done();
  void join();

 protected:
  // All of the following are called with lock_ held.

  /// True if a put may go ahead now.
  [[nodiscard]] bool room_now() const noexcept {
    return !shutdown_.load(std::memory_order_relaxed) &&
           (maxsize_ <= 0 || count_.load(std::memory_order_relaxed) < static_cast<std::size_t>(maxsize_));
  }
  /// Waits (releasing and re-taking the lock) until room_now(). On ShutDown or
  /// Full it releases the lock and throws.
  void await_room(Deadline deadline, bool block);
  /// Waits until an item is there. On ShutDown or Empty it releases the lock
  /// and throws.
  void await_item(Deadline deadline, bool block);

  /// Books one item in; true if a getter must be unparked after the unlock.
  [[nodiscard]] bool note_put() noexcept {
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    ++unfinished_;
    return signal(not_empty_, get_waiters_);
  }
  /// Books one item out; true if a putter must be unparked after the unlock.
  [[nodiscard]] bool note_get() noexcept {
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return signal(not_full_, put_waiters_);
  }
  void wake_getter() noexcept { unpark_one(not_empty_); }
  void wake_putter() noexcept { unpark_one(not_full_); }

  /// Marks the queue shut down; `drained` items were removed (immediate).
  /// Releases the lock and wakes every waiter that must re-check.
  void finish_shutdown(std::size_t drained) noexcept;

  Lock lock_;

 private:
  static bool signal(std::atomic<std::uint32_t>& word, std::uint32_t waiters) noexcept {
    if (waiters == 0) return false;
    word.store(word.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return true;
  }
  void park_on(std::atomic<std::uint32_t>& word, std::uint32_t& waiters, Deadline deadline,
               const char* kind);

  std::atomic<std::size_t> count_{0};
  const std::ptrdiff_t maxsize_;
  std::atomic<bool> shutdown_{false};
  std::uint32_t get_waiters_ = 0;
  std::uint32_t put_waiters_ = 0;
  std::uint32_t join_waiters_ = 0;
  std::uint64_t unfinished_ = 0;
  std::atomic<std::uint32_t> not_empty_{0};
  std::atomic<std::uint32_t> not_full_{0};
  std::atomic<std::uint32_t> all_done_{0};
};

}  // namespace spindle::detail
