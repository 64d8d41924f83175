// The workloads, written once over small adapters so that every
// implementation runs the same code around its own primitive:
//
//   Lockable L       l.lock(); l.unlock();
//   Channel C        c.send(v); v = c.recv();          (one direction of a ping-pong)
//   Barrier B        B b(parties, cycles); b.arrive(cycle);
//   Queue Q          q.put(v); v = q.get();            (blocking, unbounded)
//   Threads T        auto h = T::spawn(fn); T::join(h);
//
// Each function checks its result and throws WrongResult if it is wrong.
#pragma once

#include <algorithm>
#include <memory>

#include "harness.hpp"

namespace report {

/// n lock/unlock pairs on one thread, a counter inside.
template <class L>
Sample lock_uncontended(const Params& p) {
  L lock;
  std::uint64_t counter = 0;
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < p.n; ++i) {
    lock.lock();
    ++counter;
    opaque(counter);
    lock.unlock();
  }
  const double s = since(t0);
  expect(counter == static_cast<std::uint64_t>(p.n), "lost increments");
  return {s, p.n};
}

/// p.threads threads share n lock/increment/unlock operations.
template <class L>
Sample lock_contended(const Params& p) {
  L lock;
  std::uint64_t counter = 0;
  const std::int64_t per = p.n / p.threads;
  const double s = gated(p.threads, [&](int) {
    for (std::int64_t i = 0; i < per; ++i) {
      lock.lock();
      ++counter;
      opaque(counter);
      lock.unlock();
    }
  });
  const auto total = static_cast<std::uint64_t>(per * p.threads);
  expect(counter == total,
         "lock lost increments: " + std::to_string(counter) + " of " + std::to_string(total));
  return {s, per * p.threads};
}

/// n round trips between two threads over two channels; every value sent
/// must arrive in order (this also checks the wake-up's memory ordering).
template <class C>
Sample pingpong(const Params& p) {
  C ping;
  C pong;
  bool ok_a = true;
  bool ok_b = true;
  const std::int64_t n = p.n;
  const double s = gated(2, [&](int who) {
    if (who == 0) {
      for (std::int64_t i = 1; i <= n; ++i) {
        ping.send(static_cast<std::uint64_t>(i));
        if (pong.recv() != static_cast<std::uint64_t>(i) + 1) ok_a = false;
      }
    } else {
      for (std::int64_t i = 1; i <= n; ++i) {
        const std::uint64_t v = ping.recv();
        if (v != static_cast<std::uint64_t>(i)) ok_b = false;
        pong.send(v + 1);
      }
    }
  });
  expect(ok_a && ok_b, "ping-pong value out of order");
  return {s, n};
}

/// p.threads parties pass n barrier cycles; after each cycle every party
/// checks that all parties arrived.
template <class B>
Sample barrier_cycles(const Params& p) {
  const int parties = p.threads;
  const std::int64_t cycles = p.n;
  B barrier(parties, cycles);
  std::atomic<std::int64_t> arrived{0};
  std::atomic<bool> ok{true};
  const double s = gated(parties, [&](int) {
    for (std::int64_t c = 0; c < cycles; ++c) {
      arrived.fetch_add(1, std::memory_order_relaxed);
      barrier.arrive(c);
      const std::int64_t a = arrived.load(std::memory_order_relaxed);
      if (a < (c + 1) * parties || a >= (c + 2) * parties) ok.store(false);
    }
  });
  expect(ok.load() && arrived.load() == cycles * parties, "a party passed the barrier early");
  return {s, cycles};
}

/// p.threads producers and p.threads consumers move n items. A consumer
/// claims an item (a shared count) before each get, so exactly n gets happen
/// and no sentinel is needed (a sentinel is unsound for queues that keep
/// FIFO order only per producer, such as moodycamel's).
template <class Q>
Sample queue_mpmc(const Params& p) {
  Q q;
  const int pairs = p.threads;
  const std::int64_t per = p.n / pairs;
  const std::int64_t total = per * pairs;
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(pairs) * 16, 0);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(pairs) * 16, 0);
  alignas(64) std::atomic<std::int64_t> claimed{0};
  const double s = gated(2 * pairs, [&](int i) {
    if (i < pairs) {
      const std::int64_t base = i * per;
      for (std::int64_t k = 1; k <= per; ++k) q.put(static_cast<std::uint64_t>(base + k));
    } else {
      const auto slot = static_cast<std::size_t>(i - pairs) * 16;
      std::uint64_t sum = 0;
      std::int64_t count = 0;
      while (claimed.fetch_add(1, std::memory_order_relaxed) < total) {
        sum += q.get();
        ++count;
      }
      sums[slot] = sum;
      counts[slot] = count;
    }
  });
  std::uint64_t sum = 0;
  std::int64_t count = 0;
  for (int c = 0; c < pairs; ++c) {
    sum += sums[static_cast<std::size_t>(c) * 16];
    count += counts[static_cast<std::size_t>(c) * 16];
  }
  const auto t = static_cast<std::uint64_t>(total);
  expect(
      count == total && sum == t * (t + 1) / 2,
      "queue lost or duplicated items: " + std::to_string(count) + " of " + std::to_string(total));
  return {s, total};
}

/// A queue used as one direction of a ping-pong.
template <class Q>
struct QueueChannel {
  Q q;
  void send(std::uint64_t v) { q.put(v); }
  std::uint64_t recv() { return q.get(); }
};

/// n sequential thread start + join, each thread incrementing a counter.
template <class T>
Sample thread_start_join(const Params& p) {
  std::atomic<std::int64_t> counter{0};
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < p.n; ++i) {
    auto h = T::spawn([&counter] { counter.fetch_add(1, std::memory_order_relaxed); });
    T::join(h);
  }
  const double s = since(t0);
  expect(counter.load() == p.n, "a thread did not run");
  return {s, p.n};
}

/// Seed 001's CPU-bound program: two threads each run cpu_bound_task(n).
/// The whole program is timed (start, work, join); ops = 1 program.
template <class T>
Sample seed001_cpu(const Params& p) {
  std::uint64_t r1 = 0;
  std::uint64_t r2 = 0;
  const auto t0 = Clock::now();
  auto a = T::spawn([&] { r1 = cpu_bound_task(p.n); });
  auto b = T::spawn([&] { r2 = cpu_bound_task(p.n); });
  T::join(a);
  T::join(b);
  const double s = since(t0);
  expect(r1 == cpu_bound_expected(p.n) && r2 == r1, "wrong sum of squares");
  return {s, 1};
}

/// Seed 001's I/O-bound program: five threads each "fetch" (sleep p.ms).
template <class T>
Sample seed001_io(const Params& p) {
  std::atomic<int> fetched{0};
  const auto t0 = Clock::now();
  std::vector<decltype(T::spawn([] {}))> threads;
  for (int i = 0; i < 5; ++i) {
    threads.push_back(T::spawn([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(p.ms));
      fetched.fetch_add(1);
    }));
  }
  for (auto& h : threads) T::join(h);
  const double s = since(t0);
  expect(fetched.load() == 5 && s >= p.ms / 1000.0, "a fetch was lost or too short");
  return {s, 1};
}

/// Seed 004's shared counter: five threads each add 1000 under a lock.
/// The whole program (start, count, join) runs p.n times; ops = programs.
template <class T, class L>
Sample seed004_counter(const Params& p) {
  constexpr std::int64_t kPerThread = 1000;  // the seed's count
  bool ok = true;
  const auto t0 = Clock::now();
  for (std::int64_t rep = 0; rep < p.n; ++rep) {
    L lock;
    std::int64_t counter = 0;
    std::vector<decltype(T::spawn([] {}))> threads;
    for (int i = 0; i < 5; ++i) {
      threads.push_back(T::spawn([&] {
        for (std::int64_t k = 0; k < kPerThread; ++k) {
          lock.lock();
          counter += 1;
          lock.unlock();
        }
      }));
    }
    for (auto& h : threads) T::join(h);
    if (counter != 5 * kPerThread) ok = false;
  }
  const double s = since(t0);
  expect(ok, "counter lost increments");
  return {s, p.n};
}

}  // namespace report

namespace report {

/// Submit one task, wait for its result, n times (the pool is warm).
/// P: P pool(workers); std::uint64_t v2 = pool.roundtrip(v) (task returns v+1).
template <class P>
Sample pool_latency(const Params& p) {
  P pool(p.workers);
  for (std::uint64_t i = 0; i < 16; ++i) expect(pool.roundtrip(i) == i + 1, "wrong task result");
  bool ok = true;
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < p.n; ++i) {
    const auto v = static_cast<std::uint64_t>(i);
    if (pool.roundtrip(v) != v + 1) ok = false;
  }
  const double s = since(t0);
  expect(ok, "wrong task result");
  return {s, p.n};
}

/// Submit n tiny tasks (each adds to a counter), then wait for all of them.
/// P: P pool(workers); pool.tiny(n, counter) returns when all n ran.
template <class P>
Sample tiny_tasks(const Params& p) {
  P pool(p.workers);
  std::atomic<std::int64_t> counter{0};
  pool.tiny(16, counter);
  counter.store(0);
  const auto t0 = Clock::now();
  pool.tiny(p.n, counter);
  const double s = since(t0);
  expect(counter.load() == p.n, "tasks lost: " + std::to_string(counter.load()));
  return {s, p.n};
}

/// A fan-out leaf: the sum of [lo, hi), one add per step (kept a loop).
inline std::uint64_t fanout_leaf(std::int64_t lo, std::int64_t hi) {
  std::uint64_t sum = 0;
  for (std::int64_t i = lo; i < hi; ++i) {
    sum += static_cast<std::uint64_t>(i);
    opaque(sum);
  }
  return sum;
}

/// The number of leaves fan-out splits [lo, hi) into (hi - lo <= grain: one).
inline std::int64_t fanout_leaves(std::int64_t lo, std::int64_t hi, std::int64_t grain) {
  if (hi - lo <= grain) return 1;
  const std::int64_t mid = lo + (hi - lo) / 2;
  return fanout_leaves(lo, mid, grain) + fanout_leaves(mid, hi, grain);
}

/// Recursive fan-out: the sum of [0, n) by halving down to p.grain. A task
/// for [lo, hi) wider than the grain submits a task for the left half, sums
/// the right half itself (recursively), then waits for the left task's
/// result and adds it. ops = leaves, so the time is per leaf.
/// P: P pool(workers); std::uint64_t pool.sum(n, grain) returns the sum of
/// [0, n), the whole tree run by the pool's workers (leaves: fanout_leaf).
template <class P>
Sample fanout(const Params& p) {
  P pool(p.workers);
  // Warm-up: a tree with 4 leaves per worker, so that a pool that starts its
  // workers lazily (spindle's, Python's rule) has them all before the clock.
  const std::int64_t warm = 4 * std::max<std::int64_t>(1, p.workers) * p.grain;
  expect(pool.sum(warm, p.grain) ==
             static_cast<std::uint64_t>(warm) * static_cast<std::uint64_t>(warm - 1) / 2,
         "wrong fan-out sum");
  const auto t0 = Clock::now();
  const std::uint64_t sum = pool.sum(p.n, p.grain);
  const double s = since(t0);
  const auto n = static_cast<unsigned __int128>(p.n);
  const auto want = static_cast<std::uint64_t>(n * (n - 1) / 2);
  expect(sum == want,
         "wrong fan-out sum: " + std::to_string(sum) + ", want " + std::to_string(want));
  return {s, fanout_leaves(0, p.n, p.grain)};
}

}  // namespace report
