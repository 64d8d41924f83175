// The C++ standard library (libstdc++ 12): what a C++ programmer writes
// without any library.
#include <barrier>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <semaphore>
#include <thread>

#include "workloads.hpp"

namespace report {
namespace {

// Event: a flag under a mutex, a condition_variable to wait on it.
struct StdEvent {
  std::mutex m;
  std::condition_variable cv;
  bool set = false;
  std::uint64_t value = 0;
  void send(std::uint64_t v) {
    {
      std::lock_guard<std::mutex> g(m);
      value = v;
      set = true;
    }
    cv.notify_one();
  }
  std::uint64_t recv() {
    std::unique_lock<std::mutex> g(m);
    cv.wait(g, [&] { return set; });
    set = false;
    return value;
  }
};

struct StdSemaphore {
  std::counting_semaphore<> sem{0};
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

struct StdBarrier {
  std::barrier<> b;
  StdBarrier(int parties, std::int64_t) : b(parties) {}
  void arrive(std::int64_t) { b.arrive_and_wait(); }
};

// Queue: std::deque under a mutex with a condition_variable.
struct StdQueue {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::uint64_t> d;
  void put(std::uint64_t v) {
    {
      std::lock_guard<std::mutex> g(m);
      d.push_back(v);
    }
    cv.notify_one();
  }
  std::uint64_t get() {
    std::unique_lock<std::mutex> g(m);
    cv.wait(g, [&] { return !d.empty(); });
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

struct AsyncThreads {
  using Handle = std::future<void>;
  template <class F>
  static Handle spawn(F f) {
    return std::async(std::launch::async, std::move(f));
  }
  static void join(Handle& h) { h.get(); }
};

// std has no thread pool; std::async(launch::async) starts a thread per task.
struct AsyncPool {
  explicit AsyncPool(int) {}
  std::uint64_t roundtrip(std::uint64_t v) {
    return std::async(std::launch::async, [v] { return v + 1; }).get();
  }
  // At most 256 tasks in flight: each unfinished std::async holds a thread.
  void tiny(std::int64_t n, std::atomic<std::int64_t>& counter) {
    std::deque<std::future<void>> inflight;
    for (std::int64_t i = 0; i < n; ++i) {
      if (inflight.size() == 256) {
        inflight.front().get();
        inflight.pop_front();
      }
      inflight.push_back(std::async(std::launch::async, [&counter] { counter.fetch_add(1); }));
    }
    for (auto& f : inflight) f.get();
  }
};

REPORT_CASE("lock_uncontended", "std", lock_uncontended<std::mutex>);
REPORT_CASE("lock_contended", "std", lock_contended<std::mutex>);
REPORT_CASE("event_pingpong", "std", pingpong<StdEvent>);
REPORT_CASE("semaphore_handoff", "std", pingpong<StdSemaphore>);
REPORT_CASE("barrier", "std", barrier_cycles<StdBarrier>);
REPORT_CASE("thread_start_join", "std", thread_start_join<StdThreads>);
REPORT_CASE("thread_start_join", "std::async", thread_start_join<AsyncThreads>);
REPORT_CASE("queue_mpmc", "std", queue_mpmc<StdQueue>);
REPORT_CASE("queue_pingpong", "std", pingpong<QueueChannel<StdQueue>>);
REPORT_CASE("pool_latency", "std::async", pool_latency<AsyncPool>);
REPORT_CASE("tiny_tasks", "std::async", tiny_tasks<AsyncPool>);
REPORT_CASE("seed001_cpu", "std", (seed001_cpu<StdThreads>));
REPORT_CASE("seed001_io", "std", (seed001_io<StdThreads>));
REPORT_CASE("seed004_counter", "std", (seed004_counter<StdThreads, std::mutex>));

}  // namespace
}  // namespace report
