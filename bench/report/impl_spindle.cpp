// spindle: the same workloads through spindle's Python-shaped API.
// Each family is compiled only if its header is present (and not
// excluded with -DREPORT_NO_<FAMILY>, e.g. REPORT_NO_FUTURES).
#include "spindle/lock.hpp"
#include "workloads.hpp"

#if __has_include("spindle/event.hpp") && !defined(REPORT_NO_EVENT)
#include "spindle/event.hpp"
#define REPORT_HAS_EVENT 1
#endif
#if __has_include("spindle/semaphore.hpp") && !defined(REPORT_NO_SEMAPHORE)
#include "spindle/semaphore.hpp"
#define REPORT_HAS_SEMAPHORE 1
#endif
#if __has_include("spindle/barrier.hpp") && !defined(REPORT_NO_BARRIER)
#include "spindle/barrier.hpp"
#define REPORT_HAS_BARRIER 1
#endif
#if __has_include("spindle/queue.hpp") && !defined(REPORT_NO_QUEUE)
#include "spindle/queue.hpp"
#define REPORT_HAS_QUEUE 1
#endif
#if __has_include("spindle/thread.hpp") && !defined(REPORT_NO_THREAD)
#include "spindle/thread.hpp"
#define REPORT_HAS_THREAD 1
#endif
#if __has_include("spindle/futures.hpp") && !defined(REPORT_NO_FUTURES)
#include "spindle/futures.hpp"
#define REPORT_HAS_FUTURES 1
#endif

namespace report {
namespace {

REPORT_CASE("lock_uncontended", "spindle", lock_uncontended<spindle::Lock>);
REPORT_CASE("lock_contended", "spindle", lock_contended<spindle::Lock>);

#ifdef REPORT_HAS_EVENT
// Python's ping-pong: set the other's event, wait on yours, clear it.
struct SpindleEvent {
  spindle::Event ev;
  std::uint64_t value = 0;
  void send(std::uint64_t v) {
    value = v;
    ev.set();
  }
  std::uint64_t recv() {
    ev.wait();
    ev.clear();
    return value;
  }
};
REPORT_CASE("event_pingpong", "spindle", pingpong<SpindleEvent>);
#endif

#ifdef REPORT_HAS_SEMAPHORE
struct SpindleSemaphore {
  spindle::Semaphore sem{0};
  std::uint64_t value = 0;
  void send(std::uint64_t v) {
    value = v;
    sem.release();
  }
  std::uint64_t recv() {
    sem.acquire();
    return value;
  }
};
REPORT_CASE("semaphore_handoff", "spindle", pingpong<SpindleSemaphore>);
#endif

#ifdef REPORT_HAS_BARRIER
struct SpindleBarrier {
  spindle::Barrier b;
  SpindleBarrier(int parties, std::int64_t) : b(parties) {}
  void arrive(std::int64_t) { (void)b.wait(); }
};
REPORT_CASE("barrier", "spindle", barrier_cycles<SpindleBarrier>);
#endif

#ifdef REPORT_HAS_QUEUE
struct SpindleQueue {
  spindle::Queue<std::uint64_t> q;
  void put(std::uint64_t v) { q.put(v); }
  std::uint64_t get() { return q.get(); }
};
REPORT_CASE("queue_mpmc", "spindle", queue_mpmc<SpindleQueue>);
REPORT_CASE("queue_pingpong", "spindle", pingpong<QueueChannel<SpindleQueue>>);
#endif

#ifdef REPORT_HAS_THREAD
struct SpindleThreads {
  using Handle = std::unique_ptr<spindle::Thread>;
  template <class F>
  static Handle spawn(F f) {
    auto t = std::make_unique<spindle::Thread>(std::move(f));
    t->start();
    return t;
  }
  static void join(Handle& h) { h->join(); }
};
REPORT_CASE("thread_start_join", "spindle", thread_start_join<SpindleThreads>);
REPORT_CASE("seed001_cpu", "spindle", (seed001_cpu<SpindleThreads>));
REPORT_CASE("seed001_io", "spindle", (seed001_io<SpindleThreads>));
REPORT_CASE("seed004_counter", "spindle", (seed004_counter<SpindleThreads, spindle::Lock>));
#endif

#ifdef REPORT_HAS_FUTURES
struct SpindlePool {
  spindle::ThreadPoolExecutor pool;
  explicit SpindlePool(int workers) : pool(workers) {}
  std::uint64_t roundtrip(std::uint64_t v) {
    return pool.submit([v] { return v + 1; }).result();
  }
  void tiny(std::int64_t n, std::atomic<std::int64_t>& counter) {
    std::vector<spindle::Future<void>> fs;
    fs.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      fs.push_back(pool.submit([&counter] { counter.fetch_add(1); }));
    for (auto& f : fs) f.result();
  }
};
// Fan-out: each node submits its left half to the pool from inside a task,
// sums the right half itself, then waits (untimed result()) for the left.
struct SpindleFanout {
  spindle::ThreadPoolExecutor pool;
  explicit SpindleFanout(int workers) : pool(workers) {}
  std::uint64_t node(std::int64_t lo, std::int64_t hi, std::int64_t grain) {
    if (hi - lo <= grain) return fanout_leaf(lo, hi);
    const std::int64_t mid = lo + (hi - lo) / 2;
    spindle::Future<std::uint64_t> left =
        pool.submit([this, lo, mid, grain] { return node(lo, mid, grain); });
    const std::uint64_t right = node(mid, hi, grain);
    return left.result() + right;
  }
  std::uint64_t sum(std::int64_t n, std::int64_t grain) {
    return pool.submit([this, n, grain] { return node(0, n, grain); }).result();
  }
};

REPORT_CASE("pool_latency", "spindle", pool_latency<SpindlePool>);
REPORT_CASE("tiny_tasks", "spindle", tiny_tasks<SpindlePool>);
REPORT_CASE("fanout", "spindle", fanout<SpindleFanout>);
#endif

}  // namespace
}  // namespace report
