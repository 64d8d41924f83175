// spindle/detail/spin.hpp - every bounded spin in spindle, named once, next
// to the measurement that chose it.
//
// A thread that must wait first looks for a short while (the event it waits
// for is often a few hundred nanoseconds away, on the other core), then
// parks (park.hpp). Each policy below is used by the primitives named in its
// comment; nothing else in the library spins. The last one is spindle::mpi's
// (its own library, src/mpi), which polls MPI because MPI cannot wake a
// thread.
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace spindle::detail {

/// One pause of a spin-wait loop (x86 `pause`, ARM `yield`).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

/// How many pauses a primitive spins before parking. Measured on 2 cores
/// (bench/bench_primitives.cpp): a short spin catches a lock released by a
/// thread on the other core without a system call, and costs little when
/// the holder was descheduled.
inline constexpr int kSpinLimit = 100;

/// Lock's spin (src/lock.cpp) before a waiter parks: one thread at a time
/// looks at the word with exponential backoff (1, 2, 4, ... pauses between
/// looks) for about kLockSpinPauses pauses; then it, and every other
/// spinner straight away, looks kLockSpinYields times, each after a
/// sched_yield(). Measured with bench/report (2 cores, docs/bench/
/// primitives.md and queues.md): without the yields a contended lock's
/// waiters parked and were woken all the time (a first version of this
/// lock made 7155 futex calls per million acquisitions at 8 threads, 159
/// with 16 yields); 4 yields did as well
/// as 16 on lock_contended and better on queue_32p32c (146-181 against
/// 211-225 ns/item); letting only one thread pause took queue_32p32c from
/// 242 to 169 ns/item with lock_contended unchanged.
inline constexpr int kLockSpinPauses = 128;
inline constexpr int kLockSpinYields = 4;

/// Spins at most kSpinLimit times until `done()` is true. Returns done().
template <class Pred>
inline bool spin_until(Pred done) noexcept {
  for (int i = 0; i < kSpinLimit; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  return done();
}

/// Spins for a hand-off: waiting for another thread's action (a release, a
/// set, the last party of a barrier), not for a short critical section to
/// end. A few pauses, then a few yields - on a loaded 2-core machine the
/// thread we wait for often needs this very core - and only then the caller
/// parks. Measured with bench/bench_primitives.cpp (docs/bench/primitives.md):
/// 16 pauses + 8 yields cut the waiting thread's CPU per round trip against
/// parking at once / after 100 pauses: Event 3.5 / 4.4 -> 2.2 us, Barrier
/// 5.5 / 5.5 -> 1.9 us, Semaphore 2.4 / 4.8 -> 2.3 us. Returns done().
template <class Pred>
inline bool handoff_spin(Pred done) noexcept {
  constexpr int kPauses = 16;
  constexpr int kYields = 8;
  for (int i = 0; i < kPauses; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  for (int i = 0; i < kYields; ++i) {
    if (done()) return true;
    sched_yield();
  }
  return done();
}

/// Spins in rounds - `pauses` pauses, then a yield of the CPU - at most
/// `rounds` times until `done()` is true. Returns done(). For waits whose end
/// is usually microseconds away but may need this very core (a task running
/// on a loaded machine): the yields let it run.
template <class Pred>
inline bool spin_rounds(int rounds, int pauses, Pred done) noexcept {
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < pauses; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    sched_yield();
  }
  return done();
}

/// Future.result()/wait() before parking: 4 rounds of kSpinLimit pauses and a
/// yield. A running task usually finishes within microseconds, and a
/// completion that finds nobody parked costs the completing thread no system
/// call (bench/bench_futures.cpp, submit -> result).
inline constexpr int kFutureWaitRounds = 4;

/// An idle ThreadPoolExecutor worker before it parks: 16 rounds of 64 pauses
/// and a yield, by at most half the CPUs at a time. Tiny tasks then flow
/// without a system call on either side, because submit() wakes nobody while
/// a spinner is looking; without it every submit paid a futex wake and every
/// worker a futex wait (bench/bench_futures.cpp, tiny tasks).
inline constexpr int kIdleWorkerRounds = 16;
inline constexpr int kIdleWorkerPauses = 64;

/// spindle::mpi's pollers: the client's communication thread
/// (src/mpi/client.cpp) and an idle worker rank (src/mpi/worker.cpp). Each
/// polls MPI after its last activity - with cpu_relax() for the first
/// kMpiClientTightPollNs (only while a result is due) or
/// kMpiWorkerTightPollNs, then with a sched_yield() at each poll - until
/// kMpiPollNs has passed, then parks (with a deadline: nothing can wake a
/// rank for a message) for spells that grow by mpi_next_sleep_ns(), as
/// mpi4py.futures' backoff does (it stops at 1 ms too). Measured with
/// bench/bench_mpi.cpp (docs/design/mpi.md, "Waiting without blocking"): at a
/// load average of 13 on 2 cores a 2 ms poll instead of 50 us took the
/// median submit -> result round trip from 170-380 us to 27-100 us; not
/// yielding while a result is due took it (with 2 ranks, rank 0 bound to one
/// core) from 30-34 us to 7.6-10.7 us.
inline constexpr std::int64_t kMpiPollNs = 2'000'000;
inline constexpr std::int64_t kMpiClientTightPollNs = 50'000;
inline constexpr std::int64_t kMpiWorkerTightPollNs = 20'000;
inline constexpr std::int64_t kMpiFirstSleepNs = 16'000;
inline constexpr std::int64_t kMpiLongestSleepNs = 1'000'000;

/// The next sleep of the MPI pollers' backoff after a sleep of `prev_ns` (0:
/// none yet): twice as long, from kMpiFirstSleepNs up to kMpiLongestSleepNs.
constexpr std::int64_t mpi_next_sleep_ns(std::int64_t prev_ns) noexcept {
  return std::clamp(prev_ns * 2, kMpiFirstSleepNs, kMpiLongestSleepNs);
}

}  // namespace spindle::detail
