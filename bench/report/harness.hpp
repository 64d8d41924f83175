// The report harness: one workload, one implementation, one timed run per
// process. The driver (bench/report/run.py) alternates implementations in
// rounds and computes ratios; this program only measures and checks.
//
// A workload is registered once per implementation with REPORT_CASE. Its
// function receives the parameters, runs the workload, checks the result
// (throwing WrongResult if it is wrong) and returns the measured time and the
// number of operations it counts (ns/op = seconds * 1e9 / ops).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace report {

/// Parameters of one run. `n` is the number of operations (iterations,
/// round trips, items, tasks); `threads` the thread count (threads, parties,
/// producer/consumer pairs, pool workers); `ms` a duration in milliseconds;
/// `grain` the largest range a fan-out task sums without splitting it.
struct Params {
  std::int64_t n = 1000;
  int threads = 2;
  int workers = 4;
  int ms = 10;
  std::int64_t grain = 1024;
};

/// What one run measured.
struct Sample {
  double seconds = 0;
  std::int64_t ops = 0;
};

/// Thrown when a run's result is wrong (a lost item, a miscounted lock).
struct WrongResult : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using CaseFn = Sample (*)(const Params&);

struct Case {
  std::string workload;
  std::string impl;
  CaseFn fn;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Register {
  Register(const char* workload, const char* impl, CaseFn fn) {
    registry().push_back({workload, impl, fn});
  }
};

#define REPORT_CAT2(a, b) a##b
#define REPORT_CAT(a, b) REPORT_CAT2(a, b)
/// REPORT_CASE("workload", "impl", function) registers one case.
#define REPORT_CASE(workload, impl, fn) \
  static ::report::Register REPORT_CAT(report_case_, __LINE__)(workload, impl, fn)

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw WrongResult(what);
}

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Keeps `v` alive and opaque to the optimiser.
template <class T>
inline void opaque(T& v) {
  asm volatile("" : "+r"(v) : : "memory");
}

/// Runs body(i) on `n` std::threads, all released together by a start gate;
/// returns the seconds from the gate opening until the last body returned.
/// Thread creation is not timed: the workload, not the thread library, is
/// measured (workloads that measure threads create their own).
template <class Body>
double gated(int n, Body body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(i);
    });
  }
  while (ready.load() != n) std::this_thread::yield();
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  return since(t0);
}

/// The seed 001 CPU-bound task: sum of i*i below n (mod 2^64, where Python
/// has big integers; the checked value is the same sum mod 2^64).
inline std::uint64_t cpu_bound_task(std::int64_t n) {
  std::uint64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::uint64_t>(i);
    count += u * u;
    opaque(count);  // one scalar step per iteration, as the seed's loop
  }
  return count;
}

inline std::uint64_t cpu_bound_expected(std::int64_t n) {
  const auto m = static_cast<unsigned __int128>(n);
  return static_cast<std::uint64_t>((m - 1) * m * (2 * m - 1) / 6);
}

}  // namespace report
