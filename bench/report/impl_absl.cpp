// Abseil (libabsl-dev): Mutex, Notification, Barrier, BlockingCounter.
// Notification and Barrier are one-shot, so a run allocates one per use
// before the clock starts, as a program using them would.
#include <absl/synchronization/barrier.h>
#include <absl/synchronization/blocking_counter.h>
#include <absl/synchronization/mutex.h>
#include <absl/synchronization/notification.h>

#include <deque>
#include <thread>

#include "workloads.hpp"

namespace report {
namespace {

struct AbslMutex {
  absl::Mutex m;
  void lock() { m.Lock(); }
  void unlock() { m.Unlock(); }
};

// One Notification per message; a side's index walks through them.
struct AbslNotifications {
  static inline std::size_t capacity = 0;  // set from n before a run
  std::vector<absl::Notification> notes;
  std::vector<std::uint64_t> values;
  std::size_t sent = 0;
  std::size_t received = 0;
  AbslNotifications() : notes(capacity), values(capacity) {}
  void send(std::uint64_t v) {
    values[sent] = v;
    notes[sent++].Notify();
  }
  std::uint64_t recv() {
    notes[received].WaitForNotification();
    return values[received++];
  }
};

Sample absl_pingpong(const Params& p) {
  AbslNotifications::capacity = static_cast<std::size_t>(p.n);
  return pingpong<AbslNotifications>(p);
}

// absl::Barrier is single-use: Block() returns true in exactly one thread,
// which deletes it.
struct AbslBarrier {
  std::vector<absl::Barrier*> barriers;
  AbslBarrier(int parties, std::int64_t cycles) {
    barriers.reserve(static_cast<std::size_t>(cycles));
    for (std::int64_t c = 0; c < cycles; ++c) barriers.push_back(new absl::Barrier(parties));
  }
  void arrive(std::int64_t c) {
    absl::Barrier* b = barriers[static_cast<std::size_t>(c)];
    if (b->Block()) delete b;
  }
};

// What an Abseil user writes for a queue: a deque under a Mutex with Await.
struct AbslQueue {
  absl::Mutex m;
  std::deque<std::uint64_t> d;
  void put(std::uint64_t v) {
    absl::MutexLock g(&m);
    d.push_back(v);
  }
  std::uint64_t get() {
    absl::MutexLock g(&m);
    m.Await(absl::Condition(
        +[](std::deque<std::uint64_t>* q) { return !q->empty(); }, &d));
    const std::uint64_t v = d.front();
    d.pop_front();
    return v;
  }
};

struct StdThreads {
  using Handle = std::thread;
  template <class F>
  static Handle spawn(F f) {
    return std::thread(std::move(f));
  }
  static void join(Handle& h) { h.join(); }
};

REPORT_CASE("lock_uncontended", "absl", lock_uncontended<AbslMutex>);
REPORT_CASE("lock_contended", "absl", lock_contended<AbslMutex>);
REPORT_CASE("event_pingpong", "absl", absl_pingpong);
REPORT_CASE("barrier", "absl", barrier_cycles<AbslBarrier>);
REPORT_CASE("queue_mpmc", "absl", queue_mpmc<AbslQueue>);
REPORT_CASE("queue_pingpong", "absl", pingpong<QueueChannel<AbslQueue>>);
REPORT_CASE("seed004_counter", "absl", (seed004_counter<StdThreads, AbslMutex>));

}  // namespace
}  // namespace report
