// Futures and thread pools, spindle beside its peers in one run:
//
//   Latency    submit an empty task to a 1-worker pool and wait for its
//              result, one at a time; against the floor of a raw futex
//              ping-pong between two threads (no spinning), which is the
//              least a cross-thread round trip with sleeping threads costs.
//   Throughput 100,000 tiny tasks (each returns its index) submitted, then
//              every result collected and summed; workers = hardware threads.
//
// Peers: Asio's thread_pool + std::packaged_task, oneTBB's task_group (no
// per-task future: results go into an array), std::async (launch::async, in
// batches of 1,000 so that at most 1,000 threads exist at once), and a naive
// pool (std::mutex + std::condition_variable + std::deque of
// std::function wrapping a shared std::packaged_task) as the baseline.
#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/futures.hpp"

#if SPINDLE_BENCH_HAVE_ASIO
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#endif
#if SPINDLE_BENCH_HAVE_TBB
#include <tbb/task_group.h>
#endif

namespace {

constexpr int kTasks = 100'000;

int workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

// ---- the floor: a raw futex ping-pong ---------------------------------------

long futex(std::atomic<std::uint32_t>& w, int op, std::uint32_t v) {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), op | FUTEX_PRIVATE_FLAG, v,
                   nullptr, nullptr, 0);
}

void BM_Latency_FutexPingPongFloor(benchmark::State& state) {
  std::atomic<std::uint32_t> word{0};
  std::atomic<bool> stop{false};
  std::thread peer([&] {
    std::uint32_t expect = 1;
    for (;;) {
      std::uint32_t v;
      while ((v = word.load(std::memory_order_acquire)) != expect) {
        if (stop.load()) return;
        futex(word, FUTEX_WAIT, v);
      }
      word.store(expect + 1, std::memory_order_release);
      futex(word, FUTEX_WAKE, 1);
      expect += 2;
    }
  });
  std::uint32_t next = 1;
  for (auto _ : state) {
    word.store(next, std::memory_order_release);
    futex(word, FUTEX_WAKE, 1);
    std::uint32_t v;
    while ((v = word.load(std::memory_order_acquire)) != next + 1) futex(word, FUTEX_WAIT, v);
    next += 2;
  }
  stop.store(true);
  word.fetch_add(2);
  futex(word, FUTEX_WAKE, 1);
  peer.join();
}

// ---- the naive pool -------------------------------------------------------

class NaivePool {
 public:
  explicit NaivePool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~NaivePool() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  template <class F>
  auto submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto fut = task->get_future();
    {
      std::lock_guard<std::mutex> g(m_);
      q_.emplace_back([task] { (*task)(); });
    }
    cv_.notify_one();
    return fut;
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [this] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        job = std::move(q_.front());
        q_.pop_front();
      }
      job();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// ---- latency -----------------------------------------------------------

void BM_Latency_Spindle(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool(1);
  for (auto _ : state) pool.submit([] {}).result();
}

void BM_Latency_NaivePool(benchmark::State& state) {
  NaivePool pool(1);
  for (auto _ : state) pool.submit([] {}).get();
}

void BM_Latency_StdAsync(benchmark::State& state) {
  for (auto _ : state) std::async(std::launch::async, [] {}).get();
}

#if SPINDLE_BENCH_HAVE_ASIO
void BM_Latency_Asio(benchmark::State& state) {
  asio::thread_pool pool(1);
  for (auto _ : state) {
    std::packaged_task<void()> task([] {});
    auto fut = task.get_future();
    asio::post(pool, std::move(task));
    fut.get();
  }
  pool.join();
}
#endif

#if SPINDLE_BENCH_HAVE_TBB
void BM_Latency_TBB(benchmark::State& state) {
  tbb::task_group g;
  for (auto _ : state) {
    g.run([] {});
    g.wait();  // may run the task in the waiting thread
  }
}
#endif

// ---- throughput -----------------------------------------------------------

void finish(benchmark::State& state, long sum) {
  if (sum != static_cast<long>(kTasks) * (kTasks - 1) / 2) state.SkipWithError("wrong sum");
  state.SetItemsProcessed(state.items_processed() + kTasks);
}

void BM_Throughput_Spindle(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool(workers());
  std::vector<spindle::Future<long>> fs;
  fs.reserve(kTasks);
  for (auto _ : state) {
    fs.clear();
    for (long i = 0; i < kTasks; ++i) fs.push_back(pool.submit([i] { return i; }));
    long sum = 0;
    for (auto& f : fs) sum += f.result();
    finish(state, sum);
  }
}

void BM_Throughput_NaivePool(benchmark::State& state) {
  NaivePool pool(workers());
  std::vector<std::future<long>> fs;
  fs.reserve(kTasks);
  for (auto _ : state) {
    fs.clear();
    for (long i = 0; i < kTasks; ++i) fs.push_back(pool.submit([i] { return i; }));
    long sum = 0;
    for (auto& f : fs) sum += f.get();
    finish(state, sum);
  }
}

void BM_Throughput_StdAsync(benchmark::State& state) {
  constexpr int kBatch = 1000;
  std::vector<std::future<long>> fs;
  fs.reserve(kBatch);
  for (auto _ : state) {
    long sum = 0;
    for (long base = 0; base < kTasks; base += kBatch) {
      fs.clear();
      for (long i = base; i < base + kBatch; ++i)
        fs.push_back(std::async(std::launch::async, [i] { return i; }));
      for (auto& f : fs) sum += f.get();
    }
    finish(state, sum);
  }
}

#if SPINDLE_BENCH_HAVE_ASIO
void BM_Throughput_Asio(benchmark::State& state) {
  asio::thread_pool pool(static_cast<std::size_t>(workers()));
  std::vector<std::future<long>> fs;
  fs.reserve(kTasks);
  for (auto _ : state) {
    fs.clear();
    for (long i = 0; i < kTasks; ++i) {
      std::packaged_task<long()> task([i] { return i; });
      fs.push_back(task.get_future());
      asio::post(pool, std::move(task));
    }
    long sum = 0;
    for (auto& f : fs) sum += f.get();
    finish(state, sum);
  }
  pool.join();
}
#endif

#if SPINDLE_BENCH_HAVE_TBB
void BM_Throughput_TBB(benchmark::State& state) {
  std::vector<long> results(kTasks);
  tbb::task_group g;
  for (auto _ : state) {
    for (long i = 0; i < kTasks; ++i)
      g.run([&results, i] { results[static_cast<std::size_t>(i)] = i; });
    g.wait();
    long sum = 0;
    for (long r : results) sum += r;
    finish(state, sum);
  }
}
#endif

}  // namespace

BENCHMARK(BM_Latency_FutexPingPongFloor)->UseRealTime();
BENCHMARK(BM_Latency_Spindle)->UseRealTime();
BENCHMARK(BM_Latency_NaivePool)->UseRealTime();
#if SPINDLE_BENCH_HAVE_ASIO
BENCHMARK(BM_Latency_Asio)->UseRealTime();
#endif
#if SPINDLE_BENCH_HAVE_TBB
BENCHMARK(BM_Latency_TBB)->UseRealTime();
#endif
BENCHMARK(BM_Latency_StdAsync)->UseRealTime();

BENCHMARK(BM_Throughput_Spindle)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Throughput_NaivePool)->UseRealTime()->Unit(benchmark::kMillisecond);
#if SPINDLE_BENCH_HAVE_ASIO
BENCHMARK(BM_Throughput_Asio)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
#if SPINDLE_BENCH_HAVE_TBB
BENCHMARK(BM_Throughput_TBB)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
BENCHMARK(BM_Throughput_StdAsync)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK_MAIN();
