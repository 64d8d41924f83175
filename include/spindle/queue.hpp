// spindle/queue.hpp - Python's queue module: Queue, LifoQueue, PriorityQueue,
// SimpleQueue, and the exceptions Empty, Full and ShutDown (errors.hpp).
//
//     spindle::Queue<std::string> q;              // q = queue.Queue()
//     std::thread producer([&] { for (auto& u : urls) q.put(u); });
//     std::thread consumer([&] {
//       for (;;) {
//         std::string url = q.get();              // blocks until an item is there
//         fetch(url);
//         q.task_done();
//       }
//     });
//     q.join();                                   // every item put has been task_done()
//
// Python                          spindle
//   Queue(maxsize=0)                Queue<T>(maxsize = 0)        FIFO
//   LifoQueue(maxsize=0)            LifoQueue<T>(maxsize = 0)    last in, first out
//   PriorityQueue(maxsize=0)        PriorityQueue<T, Compare>    lowest first (C80)
//   SimpleQueue()                   SimpleQueue<T>               unbounded; no task_done,
//                                                                join or shutdown
//   q.put(x)                        q.put(x)                     blocks while full
//   q.put(x, block=False)           q.put(x, false) / q.put_nowait(x)   Full if full (C73)
//   q.put(x, timeout=2)             q.put(x, 2s)                 Full when the time runs out
//   q.get() / get(False) / get(timeout=2) / get_nowait()   the same forms; Empty (C72)
//   q.task_done(), q.join()         the same (C74, C75)
//   q.shutdown(immediate=False)     the same, Python 3.13 (C76-C78)
//   q.qsize(), empty(), full()      the same; approximate (C79)
//   q.maxsize                       q.maxsize()
//
// Items. T may be move-only (std::unique_ptr<Job> works). put takes the item
// by const& or && and copies or moves it into the queue only when the put
// succeeds: if put throws (Full, ShutDown, or the item's own constructor),
// the caller's item is untouched. get() returns the item by value.
// emplace(args...) builds the item in place (blocking form only).
//
// Timeouts are any std::chrono::duration from zero to TIMEOUT_MAX. A negative
// one throws ValueError "'timeout' must be a non-negative number" (C71), a
// larger one OverflowError. Unlike Python, the timeout is validated even
// when it would not be used (a put on an unbounded queue).
//
// Memory ordering: a put() happens-before the get() that receives that item.
// Everything the producer wrote before put(x) - including inside x - is
// visible to the consumer once get() returns x. Likewise every task_done()
// happens-before the join() it releases, and shutdown() happens-before the
// ShutDown that it causes another thread to throw.
//
// What is not promised, as in Python:
//   - qsize(), empty() and full() are snapshots that may be stale when they
//     return (C79): "empty() == false" does not mean a get will not block.
//   - Which of several blocked getters (or putters) receives an item (or a
//     free slot) is unspecified; a thread that arrives while others wait may
//     be served first. Wake-ups are not FIFO-fair.
//   - PriorityQueue is not stable: equal items come out in no set order.
//
// Exceptions from the items themselves (C81). If T's copy/move constructor,
// move assignment, or Compare throws inside put/get/emplace, the exception
// reaches the caller and the queue stays consistent: no other item is lost
// or duplicated, qsize() and the unfinished-task count are unchanged. A put
// that throws has not put; a get whose copy/move out throws leaves the item
// in the queue (for a move-only T whose move throws, in whatever state that
// failed move left it). Items whose moves may throw are kept boxed inside
// the queue so that growing and sifting never move them. No other waiter is
// stranded by such a throw: a getter that was woken for an item and then
// throws passes the wake-up on to the next blocked getter, which takes the
// item; likewise a putter woken for a free slot whose copy-in (or, in a
// PriorityQueue, comparison) throws passes it on to the next blocked putter.
//
// Lifetime. Destroying a queue while another thread is still inside any of
// its calls is undefined - and that includes shutdown(): it touches the
// queue after it has woken the blocked threads, so a getter may return with
// ShutDown, and its thread go on to destroy the queue, before shutdown() has
// returned in the thread that called it. shutdown() ends the waiting; it does
// not make destruction safe. The safe pattern:
//
//     q.shutdown();                        // wake and stop the workers
//     for (auto& t : workers) t.join();    // every thread that uses q,
//                                          // including the one calling shutdown
//     // only now may q be destroyed
//
// Speed. One spindle::Lock guards the storage; a getter or putter that must
// wait parks on a node of its own, and a put or get makes no system call
// unless a thread is parked on the other side - and then exactly one, for
// the oldest such thread. Before parking, the first getter to find the
// queue empty pauses and yields briefly, and the first putter to find it
// full pauses briefly (each only when the measurements said it pays on 2
// cores). The lock itself is a spindle::Lock (lock.hpp): a thread that finds
// it held spins a bounded while - one thread at a time pauses, the others
// yield - then parks, and a release wakes a parked thread only when no woken
// one is still on its way, so many more producers and consumers than cores
// do not turn every put and get into a futex wake-up. See
// docs/design/queues.md and docs/bench/queues.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "spindle/detail/queue_core.hpp"
#include "spindle/detail/queue_storage.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"

namespace spindle {
namespace detail {

inline constexpr const char* kQueueNegativeTimeout = "'timeout' must be a non-negative number";

/// The interface Queue, LifoQueue and PriorityQueue share (Python's Queue
/// class with its _put/_get hooks as the Storage policy).
template <class T, class Storage>
class BasicQueue : public QueueCore {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                "queue items must be non-const objects");
  static_assert(std::is_nothrow_destructible_v<T>, "queue items must have a noexcept destructor");

 public:
  using value_type = T;

  /// A queue holding at most `maxsize` items; maxsize <= 0 means unbounded
  /// (C70). Never throws except std::bad_alloc from the comparator's copy.
  explicit BasicQueue(std::ptrdiff_t maxsize = 0) : QueueCore(maxsize) {}
  template <class Compare>
  BasicQueue(std::ptrdiff_t maxsize, Compare comp)
      : QueueCore(maxsize), storage_(std::move(comp)) {}

  // ---- put ---------------------------------------------------------------

  /// Puts `item`, blocking while the queue is full. Throws ShutDown if the
  /// queue is or becomes shut down while waiting (C76).
  void put(const T& item) { put_impl(Deadline::never(), true, item); }
  void put(T&& item) { put_impl(Deadline::never(), true, std::move(item)); }

  /// block=false: puts if there is room now, else throws Full (C73).
  /// block=true: as put(item).
  void put(const T& item, bool block) { put_impl(Deadline::never(), block, item); }
  void put(T&& item, bool block) { put_impl(Deadline::never(), block, std::move(item)); }

  /// Blocks at most `timeout` for room; throws Full when it runs out (C73),
  /// ValueError if negative (C71), OverflowError above TIMEOUT_MAX.
  template <class Rep, class Period>
  void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
    put_impl(deadline_after(timeout, kQueueNegativeTimeout), true, item);
  }
  template <class Rep, class Period>
  void put(T&& item, std::chrono::duration<Rep, Period> timeout) {
    put_impl(deadline_after(timeout, kQueueNegativeTimeout), true, std::move(item));
  }

  /// put(item, false).
  void put_nowait(const T& item) { put(item, false); }
  void put_nowait(T&& item) { put(std::move(item), false); }

  /// Builds the item in the queue from `args`, blocking while full; throws
  /// as put(item).
  template <class... Args>
  void emplace(Args&&... args) {
    put_impl(Deadline::never(), true, std::forward<Args>(args)...);
  }

  // ---- get ---------------------------------------------------------------

  /// Removes and returns the next item, blocking while the queue is empty.
  /// Throws ShutDown once the queue is shut down and empty (C77).
  T get() { return get_impl(Deadline::never(), true); }
  /// block=false: throws Empty at once if there is no item (C72).
  T get(bool block) { return get_impl(Deadline::never(), block); }
  /// Blocks at most `timeout`; throws Empty when it runs out (C72),
  /// ValueError if negative (C71), OverflowError above TIMEOUT_MAX.
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {
    return get_impl(deadline_after(timeout, kQueueNegativeTimeout), true);
  }
  /// get(false).
  T get_nowait() { return get_impl(Deadline::never(), false); }

  // ---- shutdown (Python 3.13) ---------------------------------------------

  /// Shuts the queue down: later puts throw ShutDown and blocked putters wake
  /// and throw it (C76); getters take what is left and then throw ShutDown,
  /// blocked getters wake (C77). immediate=true also destroys every item
  /// still queued and lowers the unfinished-task count by as many, which
  /// releases join() when it reaches zero (C78). Calling it again is allowed
  /// (an immediate second call drains what is there). Destroying the queue
  /// while shutdown() runs in another thread is undefined: join the threads
  /// that use the queue first (see "Lifetime" at the top of this file).
  void shutdown(bool immediate = false) noexcept {
    Held held(lock_);
    const std::size_t drained = immediate ? storage_.clear() : 0;
    finish_shutdown(held, drained);
  }

  // From QueueCore (documented here):
  //   qsize()       the number of items, approximate (C79)
  //   empty()       qsize() == 0, approximate
  //   full()        maxsize() > 0 && qsize() >= maxsize(), approximate
  //   maxsize()     the maxsize given at construction, as given
  //   is_shutdown() true once shutdown() has been called
  //   task_done()   one earlier-got item is finished; ValueError
  //                 "task_done() called too many times" if the count of
  //                 unfinished items is zero (C74)
  //   join()        blocks until every item put has had its task_done()
  //                 (or was drained by shutdown(true)) (C75, C78)
  //   join(timeout) the same, at most `timeout`: true if all were done in
  //                 time (not in Python; ValueError if negative)
  //   unfinished_tasks()  items put and not yet task_done() (a snapshot;
  //                 Python's q.unfinished_tasks attribute)

 private:
  template <class... Args>
  void put_impl(Deadline deadline, bool block, Args&&... args) {
    Held held(lock_);
    if (!room_now()) await_room(held.proof(), deadline, block);
    try {
      storage_.push(std::forward<Args>(args)...);
    } catch (...) {
      // The slot stays free: a wake-up this thread consumed goes to the next
      // parked putter (C81), as a timed-out waiter's does.
      const Wake putter = pass_on_put();
      held.unlock();
      wake(putter);
      throw;
    }
    const Wake getter = note_put();
    held.unlock();
    wake(getter);
  }

  // The item is returned as a prvalue built from the storage's top, so it is
  // constructed directly in the caller's object (guaranteed elision); only
  // once that succeeded does the Commit guard remove it from the storage.
  T get_impl(Deadline deadline, bool block) {
    Held held(lock_);
    if (storage_.empty()) await_item(held.proof(), deadline, block);
    Commit commit{*this, held, std::uncaught_exceptions(), {}};
    try {
      commit.plan = storage_.plan_pop();
    } catch (...) {
      commit.exceptions = -1;  // nothing to commit; just unlock
      throw;
    }
    return T(std::move_if_noexcept(storage_.top()));
  }

  struct Commit {
    BasicQueue& q;
    Held& held;
    int exceptions;
    typename Storage::Plan plan;
    ~Commit() {
      if (std::uncaught_exceptions() != exceptions) {
        // The item stays queued: a wake-up this thread consumed goes to the
        // next parked getter (C81), as a timed-out waiter's does.
        const Wake getter = q.pass_on_get();
        held.unlock();
        wake(getter);
        return;
      }
      q.storage_.pop(plan);
      const Wake putter = q.note_get();
      held.unlock();
      wake(putter);
    }
  };

  Storage storage_;
};

}  // namespace detail

/// queue.Queue: first in, first out. See the top of this file and
/// detail::BasicQueue for every member.
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoStorage<T>> {
 public:
  /// maxsize <= 0: unbounded (C70).
  explicit Queue(std::ptrdiff_t maxsize = 0)
      : detail::BasicQueue<T, detail::FifoStorage<T>>(maxsize) {}
};

/// queue.LifoQueue: last in, first out (C80).
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoStorage<T>> {
 public:
  explicit LifoQueue(std::ptrdiff_t maxsize = 0)
      : detail::BasicQueue<T, detail::LifoStorage<T>>(maxsize) {}
};

/// queue.PriorityQueue: the lowest item first (C80) - with the default
/// std::less, an item that no other queued item compares less than. Entries
/// shaped like Python's (priority, data) tuples work as std::pair<int, X> or
/// std::tuple. Use std::greater<T> for highest first. Not stable.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::HeapStorage<T, Compare>> {
  using Base = detail::BasicQueue<T, detail::HeapStorage<T, Compare>>;

 public:
  explicit PriorityQueue(std::ptrdiff_t maxsize = 0, Compare comp = Compare())
      : Base(maxsize, std::move(comp)) {}
};

/// queue.SimpleQueue: unbounded FIFO without task tracking or shutdown.
/// put never blocks; get has the same three forms as Queue::get. Same
/// ordering guarantees and the same C81 behaviour as Queue.
template <class T>
class SimpleQueue {
 public:
  using value_type = T;
  SimpleQueue() = default;

  /// Puts `item`; never blocks (the queue is unbounded).
  void put(const T& item) { q_.put(item); }
  void put(T&& item) { q_.put(std::move(item)); }
  /// Python's put(item, block, timeout): block and timeout are ignored.
  void put(const T& item, bool) { q_.put(item); }
  void put(T&& item, bool) { q_.put(std::move(item)); }
  void put_nowait(const T& item) { q_.put(item); }
  void put_nowait(T&& item) { q_.put(std::move(item)); }
  template <class... Args>
  void emplace(Args&&... args) {
    q_.emplace(std::forward<Args>(args)...);
  }

  /// As Queue::get (never throws ShutDown: a SimpleQueue has no shutdown).
  T get() { return q_.get(); }
  T get(bool block) { return q_.get(block); }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {
    return q_.get(timeout);
  }
  T get_nowait() { return q_.get_nowait(); }

  /// Approximate, as Queue's (C79).
  [[nodiscard]] std::size_t qsize() const noexcept { return q_.qsize(); }
  [[nodiscard]] bool empty() const noexcept { return q_.empty(); }

 private:
  Queue<T> q_;
};

}  // namespace spindle
