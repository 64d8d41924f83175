// Boost.Thread 1.74 (libboost-thread-dev).
#include <boost/thread/barrier.hpp>
#include <boost/thread/concurrent_queues/sync_queue.hpp>
#include <boost/thread/condition_variable.hpp>
#include <boost/thread/mutex.hpp>
#include <boost/thread/thread.hpp>

#include "workloads.hpp"

namespace report {
namespace {

struct BoostEvent {
  boost::mutex m;
  boost::condition_variable cv;
  bool set = false;
  std::uint64_t value = 0;
  void send(std::uint64_t v) {
    {
      boost::lock_guard<boost::mutex> g(m);
      value = v;
      set = true;
    }
    cv.notify_one();
  }
  std::uint64_t recv() {
    boost::unique_lock<boost::mutex> g(m);
    while (!set) cv.wait(g);
    set = false;
    return value;
  }
};

struct BoostBarrier {
  boost::barrier b;
  BoostBarrier(int parties, std::int64_t) : b(static_cast<unsigned>(parties)) {}
  void arrive(std::int64_t) { b.wait(); }
};

struct BoostQueue {
  boost::concurrent::sync_queue<std::uint64_t> q;
  void put(std::uint64_t v) { q.push(v); }
  std::uint64_t get() { return q.pull(); }
};

struct BoostThreads {
  using Handle = boost::thread;
  template <class F>
  static Handle spawn(F f) {
    return boost::thread(std::move(f));
  }
  static void join(Handle& h) { h.join(); }
};

REPORT_CASE("lock_uncontended", "boost", lock_uncontended<boost::mutex>);
REPORT_CASE("lock_contended", "boost", lock_contended<boost::mutex>);
REPORT_CASE("event_pingpong", "boost", pingpong<BoostEvent>);
REPORT_CASE("barrier", "boost", barrier_cycles<BoostBarrier>);
REPORT_CASE("thread_start_join", "boost", thread_start_join<BoostThreads>);
REPORT_CASE("queue_mpmc", "boost", queue_mpmc<BoostQueue>);
REPORT_CASE("queue_pingpong", "boost", pingpong<QueueChannel<BoostQueue>>);
REPORT_CASE("seed001_cpu", "boost", (seed001_cpu<BoostThreads>));
REPORT_CASE("seed001_io", "boost", (seed001_io<BoostThreads>));
REPORT_CASE("seed004_counter", "boost", (seed004_counter<BoostThreads, boost::mutex>));

}  // namespace
}  // namespace report
