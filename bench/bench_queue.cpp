// Queues beside their peers, same run, same workload.
//
//   spindle::Queue<int>(1024)           bounded FIFO, task tracking, shutdown
//   spindle::SimpleQueue<int>           unbounded FIFO
//   std_queue                           std::mutex + 2 std::condition_variable + std::deque, bounded 1024
//   tbb::concurrent_bounded_queue<int>  capacity 1024
//   moodycamel::BlockingConcurrentQueue<int>  unbounded, not strictly FIFO across producers
//   boost::sync_bounded_queue<int>      capacity 1024
//
// Workloads (items per second, wall clock):
//   mpmc/P/C     P producers put kItems in total, C consumers get them all
//   pingpong     two threads bounce one int over two queues (round trips/s)
//
// Run:  build/<dir>/bench/bench_queue --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/queue.hpp"

#if defined(SPINDLE_BENCH_HAVE_TBB)
#include <tbb/concurrent_queue.h>
#endif
#if defined(SPINDLE_BENCH_HAVE_MOODYCAMEL)
#include <concurrentqueue/blockingconcurrentqueue.h>
#endif
#if defined(SPINDLE_BENCH_HAVE_BOOST)
#include <boost/thread/concurrent_queues/sync_bounded_queue.hpp>
#endif

namespace {

constexpr std::size_t kCapacity = 1024;
constexpr long kItems = 200'000;
constexpr long kRoundTrips = 20'000;

// ---- adapters: push(int) blocks while full, pop() blocks while empty ------

struct SpindleQueue {
  spindle::Queue<int> q{static_cast<std::ptrdiff_t>(kCapacity)};
  void push(int v) { q.put(v); }
  int pop() { return q.get(); }
};

struct SpindleSimpleQueue {
  spindle::SimpleQueue<int> q;
  void push(int v) { q.put(v); }
  int pop() { return q.get(); }
};

// The baseline a C++ programmer writes first.
struct StdQueue {
  std::mutex m;
  std::condition_variable not_empty, not_full;
  std::deque<int> d;
  void push(int v) {
    std::unique_lock<std::mutex> lock(m);
    not_full.wait(lock, [&] { return d.size() < kCapacity; });
    d.push_back(v);
    lock.unlock();
    not_empty.notify_one();
  }
  int pop() {
    std::unique_lock<std::mutex> lock(m);
    not_empty.wait(lock, [&] { return !d.empty(); });
    const int v = d.front();
    d.pop_front();
    lock.unlock();
    not_full.notify_one();
    return v;
  }
};

#if defined(SPINDLE_BENCH_HAVE_TBB)
struct TbbQueue {
  tbb::concurrent_bounded_queue<int> q;
  TbbQueue() { q.set_capacity(static_cast<std::ptrdiff_t>(kCapacity)); }
  void push(int v) { q.push(v); }
  int pop() {
    int v = 0;
    q.pop(v);
    return v;
  }
};
#endif

#if defined(SPINDLE_BENCH_HAVE_MOODYCAMEL)
struct MoodycamelQueue {
  moodycamel::BlockingConcurrentQueue<int> q;
  void push(int v) { q.enqueue(v); }
  int pop() {
    int v = 0;
    q.wait_dequeue(v);
    return v;
  }
};
#endif

#if defined(SPINDLE_BENCH_HAVE_BOOST)
struct BoostQueue {
  boost::sync_bounded_queue<int> q{kCapacity};
  void push(int v) { q.push(v); }
  int pop() { return q.pull(); }
};
#endif

// ---- workloads -------------------------------------------------------------

template <class Q>
void BM_mpmc(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const int consumers = static_cast<int>(state.range(1));
  const long per_producer = kItems / producers;
  const long total = per_producer * producers;
  long checksum = 0;
  for (auto _ : state) {
    auto q = std::make_unique<Q>();
    std::atomic<long> remaining{total};
    std::atomic<long> sum{0};
    std::vector<std::thread> ts;
    for (int c = 0; c < consumers; ++c) {
      // Consumers split the items exactly (the last takes the remainder).
      const long mine = total / consumers + (c == consumers - 1 ? total % consumers : 0);
      ts.emplace_back([&, mine] {
        long s = 0;
        for (long i = 0; i < mine; ++i) s += q->pop();
        sum.fetch_add(s);
        remaining.fetch_sub(mine);
      });
    }
    for (int p = 0; p < producers; ++p) {
      ts.emplace_back([&] {
        for (long i = 0; i < per_producer; ++i) q->push(static_cast<int>(i));
      });
    }
    for (auto& t : ts) t.join();
    checksum += sum.load();
    if (remaining.load() != 0) state.SkipWithError("items lost");
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * total);
}

template <class Q>
void BM_pingpong(benchmark::State& state) {
  for (auto _ : state) {
    auto there = std::make_unique<Q>();
    auto back = std::make_unique<Q>();
    std::thread echo([&] {
      for (long i = 0; i < kRoundTrips; ++i) back->push(there->pop());
    });
    long s = 0;
    for (long i = 0; i < kRoundTrips; ++i) {
      there->push(static_cast<int>(i));
      s += back->pop();
    }
    echo.join();
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * kRoundTrips);
}

void workloads(benchmark::internal::Benchmark* b) {
  b->Args({1, 1})->Args({2, 2})->Args({8, 8})->ArgNames({"P", "C"})->UseRealTime()->MinTime(0.3);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_mpmc, SpindleQueue)->Apply(workloads);
BENCHMARK_TEMPLATE(BM_mpmc, SpindleSimpleQueue)->Apply(workloads);
BENCHMARK_TEMPLATE(BM_mpmc, StdQueue)->Apply(workloads);
#if defined(SPINDLE_BENCH_HAVE_TBB)
BENCHMARK_TEMPLATE(BM_mpmc, TbbQueue)->Apply(workloads);
#endif
#if defined(SPINDLE_BENCH_HAVE_MOODYCAMEL)
BENCHMARK_TEMPLATE(BM_mpmc, MoodycamelQueue)->Apply(workloads);
#endif
#if defined(SPINDLE_BENCH_HAVE_BOOST)
BENCHMARK_TEMPLATE(BM_mpmc, BoostQueue)->Apply(workloads);
#endif

BENCHMARK_TEMPLATE(BM_pingpong, SpindleQueue)->UseRealTime()->MinTime(0.3);
BENCHMARK_TEMPLATE(BM_pingpong, SpindleSimpleQueue)->UseRealTime()->MinTime(0.3);
BENCHMARK_TEMPLATE(BM_pingpong, StdQueue)->UseRealTime()->MinTime(0.3);
#if defined(SPINDLE_BENCH_HAVE_TBB)
BENCHMARK_TEMPLATE(BM_pingpong, TbbQueue)->UseRealTime()->MinTime(0.3);
#endif
#if defined(SPINDLE_BENCH_HAVE_MOODYCAMEL)
BENCHMARK_TEMPLATE(BM_pingpong, MoodycamelQueue)->UseRealTime()->MinTime(0.3);
#endif
#if defined(SPINDLE_BENCH_HAVE_BOOST)
BENCHMARK_TEMPLATE(BM_pingpong, BoostQueue)->UseRealTime()->MinTime(0.3);
#endif

BENCHMARK_MAIN();
