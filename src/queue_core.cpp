// QueueCore (detail/queue_core.hpp): the slow paths of the queues - waiting
// for an item, for room, for join() - and shutdown.
#include "spindle/detail/queue_core.hpp"

#include <mutex>
#include "spindle/detail/spin.hpp"

namespace spindle::detail {

void QueueCore::wait_in(Locked /*held*/, WaitList& list, Deadline deadline, const char* kind) {
  Waiter self;
  list.push_back(&self);
  lock_.release();
  const WaitSite site{kind, this};
  while (self.signalled.load(std::memory_order_acquire) == 0) {
    if (!park(self.signalled, 0, deadline, site)) break;  // deadline passed
  }
  lock_.acquire();
  // Signals are stored under the lock, so this reading is exact: either a
  // signaller unlinked us, or we are still listed and leave on our own.
  if (self.signalled.load(std::memory_order_relaxed) == 0) list.remove(&self);
}

void QueueCore::signal_all(WaitList& list) noexcept {
  // Called with the lock held, and wakes while still holding it: once a
  // waiter sees its signal it may return and free its node, so the list
  // cannot be walked after the unlock. Only shutdown() comes here.
  while (list.head != nullptr) {
    Waiter* w = list.head;
    list.remove(w);
    w->signalled.store(1, std::memory_order_release);
    unpark_one(w->signalled);
  }
}

void QueueCore::await_item(Locked held, Deadline deadline, bool block) {
  bool spun = false;
  while (count_.load(std::memory_order_relaxed) == 0) {
    // Python checks shutdown before blocking: a shut-down queue still hands
    // out what it holds, and only an empty one throws (C77).
    if (shutdown_.load(std::memory_order_relaxed)) throw ShutDown();
    if (!block || deadline.expired()) throw Empty();  // C72
    if (!spun && getters_.head == nullptr && putters_.head == nullptr) {
      // Only the first getter spins, and not while producers are parked on
      // a full queue: without that rule, spinning getters took the bounded
      // 2P/2C and 8P/8C runs from ~5-6 to ~1-2 M items/s in some rounds
      // (docs/design/queues.md).
      spun = true;
      lock_.release();
      handoff_spin([this] {
        return count_.load(std::memory_order_relaxed) != 0 ||
               shutdown_.load(std::memory_order_relaxed);
      });
      lock_.acquire();
      continue;
    }
    wait_in(held, getters_, deadline, "Queue.get");
  }
}

void QueueCore::await_room(Locked held, Deadline deadline, bool block) {
  bool spun = false;
  while (!room_now()) {
    if (shutdown_.load(std::memory_order_relaxed)) throw ShutDown();  // C76
    if (!block || deadline.expired()) throw Full();                   // C73
    if (!spun && putters_.head == nullptr) {
      // A full queue is different: its consumers are running (or it would
      // not have filled), so room usually appears within a few hundred
      // nanoseconds. The first putter to find it full looks for a while
      // before parking; later ones park at once. Measured at 1P/1C with
      // maxsize 1024 (docs/design/queues.md).
      spun = true;
      lock_.release();
      spin_until([this] {
        return count_.load(std::memory_order_relaxed) < static_cast<std::size_t>(maxsize_) ||
               shutdown_.load(std::memory_order_relaxed);
      });
      lock_.acquire();
      continue;
    }
    wait_in(held, putters_, deadline, "Queue.put");
  }
}

void QueueCore::task_done() {
  bool wake_join = false;
  {
    std::scoped_lock guard(lock_);
    if (unfinished_ == 0) throw ValueError("task_done() called too many times");  // C74
    wake_join = --unfinished_ == 0 && bump(all_done_, join_waiters_);
  }
  if (wake_join) unpark_all(all_done_);
}

void QueueCore::join() {
  std::scoped_lock guard(lock_);
  while (unfinished_ != 0) {
    ++join_waiters_;
    const std::uint32_t seen = all_done_.load(std::memory_order_relaxed);
    lock_.release();
    park(all_done_, seen, Deadline::never(), WaitSite{"Queue.join", this});
    lock_.acquire();
    --join_waiters_;
  }
}

void QueueCore::finish_shutdown(Held& held, std::size_t drained) noexcept {
  shutdown_.store(true, std::memory_order_relaxed);
  // C78: the drained items count as done, releasing join() at zero.
  unfinished_ -= drained < unfinished_ ? drained : unfinished_;
  count_.store(count_.load(std::memory_order_relaxed) - drained, std::memory_order_relaxed);
  signal_all(getters_);
  signal_all(putters_);
  const bool wake_join = unfinished_ == 0 && bump(all_done_, join_waiters_);
  held.unlock();
  if (wake_join) unpark_all(all_done_);
}

}  // namespace spindle::detail
