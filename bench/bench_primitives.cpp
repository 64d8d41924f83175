// spindle's synchronization primitives beside their std counterparts and the
// floors they are built from, all in one run:
//
//   uncontended acquire+release   Lock, std::mutex, a bare exchange/store
//                                 pair (the floor); RLock, std::recursive_mutex;
//                                 Semaphore, std::counting_semaphore
//   contended short section       Lock, std::mutex (threads: 1, 2)
//   ping-pong round trip          Event, std::mutex + std::condition_variable,
//                                 a raw futex round trip (the floor)
//   semaphore hand-off            Semaphore, std::counting_semaphore
//   barrier cycle                 Barrier, std::barrier (parties: 2)
//   deadlock diagnostics          the detector's work for one untimed wait
//                                 (what a contended acquire that parks adds),
//                                 a Lock hand-off under the policies raise and
//                                 off, and acquire+release with lock-order
//                                 checking off and on (nothing held / one
//                                 lock held)
//
// Every two-thread benchmark runs its partner for exactly
// state.max_iterations rounds, so the partner never waits for a round that
// does not come. Results and the command: docs/bench/primitives.md.
#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <semaphore>
#include <thread>

#include "deadlock_internal.hpp"  // src/: detail::WatchedWait, to time it alone
#include "spindle/barrier.hpp"
#include "spindle/deadlock.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/event.hpp"
#include "spindle/lock.hpp"
#include "spindle/semaphore.hpp"

namespace {

// The floor for an uncontended lock: one atomic exchange to take it, one
// plain release store to give it back (no waiter bookkeeping at all).
class ExchangeStore {
 public:
  void lock() noexcept {
    while (word_.exchange(1, std::memory_order_acquire) != 0) spindle::detail::cpu_relax();
  }
  void unlock() noexcept { word_.store(0, std::memory_order_release); }

 private:
  std::atomic<std::uint32_t> word_{0};
};

template <class M>
void BM_uncontended(benchmark::State& state) {
  static M m;
  for (auto _ : state) {
    m.lock();
    benchmark::ClobberMemory();
    m.unlock();
  }
}
BENCHMARK(BM_uncontended<spindle::Lock>)->Name("uncontended/spindle::Lock");
BENCHMARK(BM_uncontended<std::mutex>)->Name("uncontended/std::mutex");
BENCHMARK(BM_uncontended<ExchangeStore>)->Name("uncontended/exchange_store_floor");
BENCHMARK(BM_uncontended<spindle::RLock>)->Name("uncontended/spindle::RLock");
BENCHMARK(BM_uncontended<std::recursive_mutex>)->Name("uncontended/std::recursive_mutex");

void BM_uncontended_semaphore(benchmark::State& state) {
  static spindle::Semaphore s(1);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    s.acquire();
    benchmark::ClobberMemory();
    s.release();
  }
}
void BM_uncontended_std_semaphore(benchmark::State& state) {
  static std::counting_semaphore<> s(1);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    s.acquire();
    benchmark::ClobberMemory();
    s.release();
  }
}
BENCHMARK(BM_uncontended_semaphore)->Name("uncontended/spindle::Semaphore");
BENCHMARK(BM_uncontended_std_semaphore)->Name("uncontended/std::counting_semaphore");

// Threads take turns on a short critical section (a few increments).
template <class M>
void BM_contended(benchmark::State& state) {
  static M m;
  static std::uint64_t shared[4];
  for (auto _ : state) {
    m.lock();
    for (auto& x : shared) ++x;
    m.unlock();
  }
  benchmark::DoNotOptimize(shared);
}
BENCHMARK(BM_contended<spindle::Lock>)
    ->Name("contended/spindle::Lock")
    ->ThreadRange(1, 2)
    ->UseRealTime();
BENCHMARK(BM_contended<std::mutex>)->Name("contended/std::mutex")->ThreadRange(1, 2)->UseRealTime();

// ---- ping-pong: one round trip per iteration between two threads ----------

template <class Pair>
void BM_ping_pong(benchmark::State& state) {
  Pair p;
  const auto rounds = state.max_iterations;
  std::thread partner([&] {
    for (benchmark::IterationCount i = 0; i < rounds; ++i) p.pong();
  });
  for (auto _ : state) p.ping();
  partner.join();
}

struct EventPair {
  spindle::Event ping_ev, pong_ev;
  void ping() {
    ping_ev.set();
    pong_ev.wait();
    pong_ev.clear();
  }
  void pong() {
    ping_ev.wait();
    ping_ev.clear();
    pong_ev.set();
  }
};

// The usual std way to signal a flag between threads.
struct StdCvPair {
  struct Flag {
    std::mutex m;
    std::condition_variable cv;
    bool set = false;
    void signal() {
      {
        std::lock_guard g(m);
        set = true;
      }
      cv.notify_one();
    }
    void take() {
      std::unique_lock g(m);
      cv.wait(g, [&] { return set; });
      set = false;
    }
  };
  Flag a, b;
  void ping() {
    a.signal();
    b.take();
  }
  void pong() {
    a.take();
    b.signal();
  }
};

// The floor: a raw futex wait/wake per hand-off, no spinning, no waiter bits.
struct FutexPair {
  struct Flag {
    std::atomic<std::uint32_t> word{0};
    void signal() {
      word.store(1, std::memory_order_release);
      syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
    void take() {
      while (word.load(std::memory_order_acquire) == 0) {
        syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
      }
      word.store(0, std::memory_order_relaxed);
    }
  };
  Flag a, b;
  void ping() {
    a.signal();
    b.take();
  }
  void pong() {
    a.take();
    b.signal();
  }
};

struct SemaphorePair {
  spindle::Semaphore a{0}, b{0};
  void ping() {
    a.release();
    b.acquire();
  }
  void pong() {
    a.acquire();
    b.release();
  }
};
struct StdSemaphorePair {
  std::counting_semaphore<> a{0}, b{0};
  void ping() {
    a.release();
    b.acquire();
  }
  void pong() {
    a.acquire();
    b.release();
  }
};

BENCHMARK(BM_ping_pong<EventPair>)->Name("ping_pong/spindle::Event/threads:2")->UseRealTime();
BENCHMARK(BM_ping_pong<StdCvPair>)
    ->Name("ping_pong/std::mutex+condition_variable/threads:2")
    ->UseRealTime();
BENCHMARK(BM_ping_pong<FutexPair>)->Name("ping_pong/raw_futex_floor/threads:2")->UseRealTime();
BENCHMARK(BM_ping_pong<SemaphorePair>)->Name("handoff/spindle::Semaphore/threads:2")->UseRealTime();
BENCHMARK(BM_ping_pong<StdSemaphorePair>)
    ->Name("handoff/std::counting_semaphore/threads:2")
    ->UseRealTime();

// ---- barrier cycles: parties threads, one cycle per iteration -------------

template <class B>
void BM_barrier(benchmark::State& state) {
  const auto parties = static_cast<int>(state.range(0));
  B b(parties);
  const auto rounds = state.max_iterations;
  std::vector<std::thread> others;
  for (int t = 1; t < parties; ++t) {
    others.emplace_back([&] {
      for (benchmark::IterationCount i = 0; i < rounds; ++i) b.arrive_and_wait();
    });
  }
  for (auto _ : state) b.arrive_and_wait();
  for (auto& t : others) t.join();
}
struct SpindleBarrier {
  spindle::Barrier b;
  explicit SpindleBarrier(int parties) : b(parties) {}
  void arrive_and_wait() { (void)b.wait(); }
};
BENCHMARK(BM_barrier<SpindleBarrier>)
    ->Name("barrier/spindle::Barrier")
    ->ArgName("threads")
    ->Arg(2)
    ->UseRealTime();
BENCHMARK(BM_barrier<std::barrier<>>)
    ->Name("barrier/std::barrier")
    ->ArgName("threads")
    ->Arg(2)
    ->UseRealTime();

// ---- deadlock diagnostics ---------------------------------------------------

// The detector's bookkeeping for one wait without a deadline, alone: what a
// contended Lock acquire adds before it parks (check for a cycle, publish)
// and after it wakes (withdraw). The lock's owner is another thread that is
// running, as when a real acquire parks, so the walk ends after one lookup.
void BM_watched_wait(benchmark::State& state) {
  std::atomic<std::uintptr_t> owner{0};
  std::atomic<std::uint32_t> word{2};
  std::thread([&] { owner.store(spindle::detail::owner_token()); }).join();  // some thread's token
  const auto target = spindle::detail::WaitTarget::lock(&word, &owner, &word, false);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    const spindle::detail::WatchedWait watch(target);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_watched_wait)->Name("deadlock/watched_wait_bookkeeping");

// A Lock hand-off: each acquire waits for the other thread's release (a Lock
// used as a binary semaphore), so it spins and often parks. Under `raise`
// every acquire that gets past the spin is checked; `off` checks nothing.
template <spindle::DeadlockPolicy P>
void BM_lock_handoff(benchmark::State& state) {
  const spindle::DeadlockPolicy previous = spindle::set_deadlock_policy(P);
  spindle::Lock a, b;
  a.acquire();
  b.acquire();
  const auto rounds = state.max_iterations;
  std::thread partner([&] {
    for (benchmark::IterationCount i = 0; i < rounds; ++i) {
      a.acquire();
      b.release();
    }
  });
  for (auto _ : state) {
    a.release();
    b.acquire();
  }
  partner.join();
  a.release();
  b.release();
  spindle::set_deadlock_policy(previous);
}
BENCHMARK(BM_lock_handoff<spindle::DeadlockPolicy::raise>)
    ->Name("deadlock/lock_handoff/policy:raise/threads:2")
    ->UseRealTime();
BENCHMARK(BM_lock_handoff<spindle::DeadlockPolicy::off>)
    ->Name("deadlock/lock_handoff/policy:off/threads:2")
    ->UseRealTime();

// Uncontended acquire+release with lock-order checking, holding nothing
// else (held-slot bookkeeping only) or one other lock (plus the lookup of
// the known "outer, then inner" edge).
template <bool Nested>
void BM_order_checking(benchmark::State& state) {
  const bool on = state.range(0) != 0;
  spindle::set_lock_order_checking(on);
  spindle::Lock outer, inner;
  if (Nested) outer.acquire();
  for (auto _ : state) {
    inner.acquire();
    benchmark::ClobberMemory();
    inner.release();
  }
  if (Nested) outer.release();
  spindle::set_lock_order_checking(false);
}
BENCHMARK(BM_order_checking<false>)
    ->Name("deadlock/uncontended/spindle::Lock")
    ->ArgName("order_checking")
    ->Arg(0)
    ->Arg(1);
BENCHMARK(BM_order_checking<true>)
    ->Name("deadlock/uncontended_one_held/spindle::Lock")
    ->ArgName("order_checking")
    ->Arg(0)
    ->Arg(1);

}  // namespace

int main(int argc, char** argv) {
  // glibc takes std::mutex without atomic instructions while a process has
  // only ever had one thread (__libc_single_threaded). A program that needs
  // a lock has threads, so measure every lock in a multi-threaded process.
  std::thread([] {}).join();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
