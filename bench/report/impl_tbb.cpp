// oneTBB 2021 (libtbb-dev): its mutex and spin_mutex, concurrent_bounded_queue
// and task_group (TBB's way to run tasks and wait for them).
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/mutex.h>
#include <oneapi/tbb/spin_mutex.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "workloads.hpp"

namespace report {
namespace {

struct TbbQueue {
  tbb::concurrent_bounded_queue<std::uint64_t> q;
  void put(std::uint64_t v) { q.push(v); }
  std::uint64_t get() {
    std::uint64_t v = 0;
    q.pop(v);
    return v;
  }
};

// A task arena of `workers` threads; submit = task_group::run, result =
// task_group::wait. Note that wait() lets the waiting thread run the task
// itself (work stealing), so a round trip may never cross threads.
struct TbbPool {
  tbb::global_control allow;  // TBB otherwise caps its workers at the core count
  tbb::task_arena arena;
  tbb::task_group group;
  explicit TbbPool(int workers)
      : allow(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(workers) + 1),
        arena(workers) {}
  ~TbbPool() {
    arena.execute([&] { group.wait(); });
  }
  std::uint64_t roundtrip(std::uint64_t v) {
    std::uint64_t r = 0;
    arena.execute([&] {
      group.run([&r, v] { r = v + 1; });
      group.wait();
    });
    return r;
  }
  void tiny(std::int64_t n, std::atomic<std::int64_t>& counter) {
    arena.execute([&] {
      for (std::int64_t i = 0; i < n; ++i) group.run([&counter] { counter.fetch_add(1); });
      group.wait();
    });
  }
};

// Fan-out: a task_group per node (run(left); right; wait()); wait() lets the
// waiting thread run queued tasks (work stealing), so nesting never blocks a
// worker. The arena has `workers` threads, the one that enters it included.
struct TbbFanout {
  tbb::global_control allow;  // TBB otherwise caps its workers at the core count
  tbb::task_arena arena;
  explicit TbbFanout(int workers)
      : allow(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(workers) + 1),
        arena(workers) {}
  static std::uint64_t node(std::int64_t lo, std::int64_t hi, std::int64_t grain) {
    if (hi - lo <= grain) return fanout_leaf(lo, hi);
    const std::int64_t mid = lo + (hi - lo) / 2;
    std::uint64_t left = 0;
    tbb::task_group g;
    g.run([&left, lo, mid, grain] { left = node(lo, mid, grain); });
    const std::uint64_t right = node(mid, hi, grain);
    g.wait();
    return left + right;
  }
  std::uint64_t sum(std::int64_t n, std::int64_t grain) {
    std::uint64_t r = 0;
    arena.execute([&] { r = node(0, n, grain); });
    return r;
  }
};

REPORT_CASE("lock_uncontended", "tbb", lock_uncontended<tbb::mutex>);
REPORT_CASE("lock_contended", "tbb", lock_contended<tbb::mutex>);
REPORT_CASE("lock_uncontended", "tbb_spin", lock_uncontended<tbb::spin_mutex>);
REPORT_CASE("lock_contended", "tbb_spin", lock_contended<tbb::spin_mutex>);
REPORT_CASE("queue_mpmc", "tbb", queue_mpmc<TbbQueue>);
REPORT_CASE("queue_pingpong", "tbb", pingpong<QueueChannel<TbbQueue>>);
REPORT_CASE("pool_latency", "tbb", pool_latency<TbbPool>);
REPORT_CASE("tiny_tasks", "tbb", tiny_tasks<TbbPool>);
REPORT_CASE("fanout", "tbb", fanout<TbbFanout>);

}  // namespace
}  // namespace report
