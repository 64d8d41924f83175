// Slow paths of the queues: waiting for an item, for room, for join().
#include "spindle/detail/queue_core.hpp"

namespace spindle::detail {

void QueueCore::park_on(std::atomic<std::uint32_t>& word, std::uint32_t& waiters, Deadline deadline,
                        const char* kind) {
  ++waiters;
  const std::uint32_t seen = word.load(std::memory_order_relaxed);
  lock_.release();
  park(word, seen, deadline, WaitSite{kind, this});
  lock_.acquire();
  --waiters;
}

void QueueCore::await_item(Deadline deadline, bool block) {
  bool spun = false;
  while (count_.load(std::memory_order_relaxed) == 0) {
    // Python checks shutdown before blocking: a shut-down queue still hands
    // out what it holds, and only an empty one throws (C77).
    if (shutdown_.load(std::memory_order_relaxed)) {
      lock_.release();
      throw ShutDown();
    }
    if (!block || deadline.expired()) {
      lock_.release();
      throw Empty();  // C72
    }
    if (!spun) {
      // A producer on the other core usually delivers within a few hundred
      // nanoseconds; a short look without the lock saves two system calls.
      spun = true;
      lock_.release();
      spin_until([this] {
        return count_.load(std::memory_order_relaxed) != 0 || shutdown_.load(std::memory_order_relaxed);
      });
      lock_.acquire();
      continue;
    }
    park_on(not_empty_, get_waiters_, deadline, "Queue.get");
  }
}

void QueueCore::await_room(Deadline deadline, bool block) {
  bool spun = false;
  while (!room_now()) {
    if (shutdown_.load(std::memory_order_relaxed)) {
      lock_.release();
      throw ShutDown();  // C76
    }
    if (!block || deadline.expired()) {
      lock_.release();
      throw Full();  // C73
    }
    if (!spun) {
      spun = true;
      lock_.release();
      spin_until([this] {
        return count_.load(std::memory_order_relaxed) < static_cast<std::size_t>(maxsize_) ||
               shutdown_.load(std::memory_order_relaxed);
      });
      lock_.acquire();
      continue;
    }
    park_on(not_full_, put_waiters_, deadline, "Queue.put");
  }
}

void QueueCore::task_done() {
  lock_.acquire();
  if (unfinished_ == 0) {
    lock_.release();
    throw ValueError("task_done() called too many times");  // C74
  }
  const bool wake = --unfinished_ == 0 && signal(all_done_, join_waiters_);
  lock_.release();
  if (wake) unpark_all(all_done_);
}

void QueueCore::join() {
  lock_.acquire();
  while (unfinished_ != 0) park_on(all_done_, join_waiters_, Deadline::never(), "Queue.join");
  lock_.release();
}

void QueueCore::finish_shutdown(std::size_t drained) noexcept {
  shutdown_.store(true, std::memory_order_relaxed);
  // C78: the drained items count as done, releasing join() at zero.
  unfinished_ -= drained < unfinished_ ? drained : unfinished_;
  const bool wake_get = signal(not_empty_, get_waiters_);
  const bool wake_put = signal(not_full_, put_waiters_);
  const bool wake_join = unfinished_ == 0 && signal(all_done_, join_waiters_);
  count_.store(count_.load(std::memory_order_relaxed) - drained, std::memory_order_relaxed);
  lock_.release();
  if (wake_get) unpark_all(not_empty_);
  if (wake_put) unpark_all(not_full_);
  if (wake_join) unpark_all(all_done_);
}

}  // namespace spindle::detail
