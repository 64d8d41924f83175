// Thread start+join against std::thread, std::jthread, raw pthread_create +
// pthread_join (and boost::thread when installed), all in the same run; and
// Timer firing lateness against clock_nanosleep on an absolute deadline.
//
//   build/<dir>/bench/bench_thread --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "spindle/thread.hpp"
#include "spindle/timer.hpp"

#ifdef SPINDLE_BENCH_HAVE_BOOST
#include <boost/thread/thread.hpp>
#endif

namespace {

std::atomic<long> g_sink{0};
void body() {
  g_sink.fetch_add(1, std::memory_order_relaxed);
}

void BM_spindle_Thread_start_join(benchmark::State& state) {
  for (auto _ : state) {
    spindle::Thread t(body);
    t.start();
    t.join();
  }
}
BENCHMARK(BM_spindle_Thread_start_join)->UseRealTime();

void BM_std_thread_create_join(benchmark::State& state) {
  for (auto _ : state) {
    std::thread t(body);
    t.join();
  }
}
BENCHMARK(BM_std_thread_create_join)->UseRealTime();

void BM_std_jthread_create_join(benchmark::State& state) {
  for (auto _ : state) {
    std::jthread t(body);
  }
}
BENCHMARK(BM_std_jthread_create_join)->UseRealTime();

void* pthread_body(void*) {
  body();
  return nullptr;
}
void BM_pthread_create_join(benchmark::State& state) {
  for (auto _ : state) {
    pthread_t t;
    pthread_create(&t, nullptr, pthread_body, nullptr);
    pthread_join(t, nullptr);
  }
}
BENCHMARK(BM_pthread_create_join)->UseRealTime();

#ifdef SPINDLE_BENCH_HAVE_BOOST
void BM_boost_thread_create_join(benchmark::State& state) {
  for (auto _ : state) {
    boost::thread t(body);
    t.join();
  }
}
BENCHMARK(BM_boost_thread_create_join)->UseRealTime();
#endif

// Lateness: how long after `interval` (measured from the call that arms the
// wait) the action runs. Reported as the counter late_us (mean).
constexpr auto kInterval = std::chrono::milliseconds(1);

void BM_spindle_Timer_lateness(benchmark::State& state) {
  double late_ns = 0;
  for (auto _ : state) {
    std::chrono::steady_clock::time_point fired;
    const auto t0 = std::chrono::steady_clock::now();
    spindle::Timer t(kInterval, [&fired] { fired = std::chrono::steady_clock::now(); });
    t.start();
    t.join();
    late_ns += static_cast<double>((fired - t0 - kInterval).count());
  }
  state.counters["late_us"] = late_ns / 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_spindle_Timer_lateness)->UseRealTime();

timespec to_timespec(std::chrono::steady_clock::time_point tp) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

void BM_clock_nanosleep_lateness(benchmark::State& state) {
  double late_ns = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const timespec ts = to_timespec(t0 + kInterval);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    late_ns += static_cast<double>((std::chrono::steady_clock::now() - t0 - kInterval).count());
  }
  state.counters["late_us"] = late_ns / 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_clock_nanosleep_lateness)->UseRealTime();

// The same job as a Timer done by hand: a new std::thread sleeping until the
// deadline with clock_nanosleep, then acting (includes the thread start).
void BM_std_thread_clock_nanosleep_lateness(benchmark::State& state) {
  double late_ns = 0;
  for (auto _ : state) {
    std::chrono::steady_clock::time_point fired;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread t([&fired, t0] {
      const timespec ts = to_timespec(t0 + kInterval);
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      fired = std::chrono::steady_clock::now();
    });
    t.join();
    late_ns += static_cast<double>((fired - t0 - kInterval).count());
  }
  state.counters["late_us"] = late_ns / 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_std_thread_clock_nanosleep_lateness)->UseRealTime();

// Timer's own semantics by hand: the interval starts when the new thread's
// body starts (as in Python's Timer.run), so thread start-up is included.
void BM_std_thread_nanosleep_from_body_lateness(benchmark::State& state) {
  double late_ns = 0;
  for (auto _ : state) {
    std::chrono::steady_clock::time_point fired;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread t([&fired] {
      const timespec ts = to_timespec(std::chrono::steady_clock::now() + kInterval);
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      fired = std::chrono::steady_clock::now();
    });
    t.join();
    late_ns += static_cast<double>((fired - t0 - kInterval).count());
  }
  state.counters["late_us"] = late_ns / 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_std_thread_nanosleep_from_body_lateness)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
