// spindle/detail/park.hpp - the one place where a spindle thread blocks.
//
// Every blocking call in the library (locks, conditions, semaphores, events,
// barriers, queues, futures, joins) ends in `park()`: block on a 32-bit word
// until it is woken or until a deadline on the monotonic clock passes. The
// word is the primitive's own state word (or a sequence word beside it), so a
// wake-up goes to exactly the threads waiting on that object: no global wait
// table (libstdc++'s std::atomic::wait hashes into 16 buckets) and no
// pthread_cond (glibc bug 25847, still in Debian 12's glibc 2.36).
//
// The layer is a Linux private futex:
//   park(word, expected, deadline, site)  FUTEX_WAIT_BITSET, absolute
//                                         CLOCK_MONOTONIC deadline
//   unpark_one / unpark(n) / unpark_all   FUTEX_WAKE
//
// Callers keep a waiter bit or count beside the state so that the release
// side makes no system call when nobody waits; park itself never spins - the
// bounded spin belongs to the primitive, where it knows what it waits for
// (see `spin_until`).
//
// Diagnostics hook. While a thread is parked, its `ThreadWaitState` names the
// kind of object and its address, and since when it waits. The state lives in
// a thread_local owned by this layer; the thread registry reads it to report a
// thread as "blocked on Lock 0x..." and a future deadlock detector will walk
// it. The park layer itself knows only the kernel.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

#include <sched.h>

namespace spindle::detail {

/// The clock every deadline is measured on: CLOCK_MONOTONIC
/// (libstdc++'s steady_clock), immune to wall-clock changes.
using Clock = std::chrono::steady_clock;

/// An absolute point on Clock, in nanoseconds since the clock's epoch, or
/// "never". A plain value, cheap to copy.
class Deadline {
 public:
  /// No deadline: wait until woken.
  static constexpr Deadline never() noexcept { return Deadline(kNever); }
  /// `timeout` from now, saturating to never() on overflow. `timeout` must be
  /// non-negative (callers validate user input first; see deadline.hpp).
  static Deadline after(std::chrono::nanoseconds timeout) noexcept {
    const std::int64_t now = now_ns();
    const std::int64_t t = timeout.count();
    if (t >= kNever - now) return never();
    return Deadline(now + t);
  }
  /// A point on Clock.
  static Deadline at(Clock::time_point tp) noexcept {
    return Deadline(
        std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
  }

  [[nodiscard]] constexpr bool is_never() const noexcept { return ns_ == kNever; }
  [[nodiscard]] bool expired() const noexcept { return !is_never() && now_ns() >= ns_; }
  [[nodiscard]] constexpr std::int64_t ns() const noexcept { return ns_; }
  /// Time left, zero if expired; meaningless for never().
  [[nodiscard]] std::chrono::nanoseconds remaining() const noexcept {
    const std::int64_t left = ns_ - now_ns();
    return std::chrono::nanoseconds(left > 0 ? left : 0);
  }

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }

 private:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  constexpr explicit Deadline(std::int64_t ns) noexcept : ns_(ns) {}
  std::int64_t ns_;
};

/// What a parked thread is waiting on: a static string naming the kind of
/// object ("Lock", "Condition", "Queue.get", ...) and the object's address.
struct WaitSite {
  const char* kind;
  const void* object;
};

/// A thread's current wait, readable from other threads (relaxed loads: a
/// snapshot for diagnostics, not a synchronisation point). `kind` is null
/// while the thread is not parked.
struct ThreadWaitState {
  std::atomic<const char*> kind{nullptr};
  std::atomic<const void*> object{nullptr};
  std::atomic<std::int64_t> since_ns{0};
};

/// The calling thread's wait state. Stable for the thread's lifetime.
ThreadWaitState& this_thread_wait_state() noexcept;

/// Blocks while `word` holds `expected`, until woken by an unpark on the same
/// word, or until `deadline`. Returns false only if the deadline passed;
/// true means "woken, or the word did not hold `expected`, or a spurious
/// wake-up" - callers always re-check their condition.
bool park(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline,
          WaitSite site) noexcept;

/// Wakes at most `n` threads parked on the word at `address`, without
/// touching the object there. For a waker that signalled a waiter's own word
/// under a lock and wakes it after the unlock: by then the waiter may have
/// seen the signal, returned and freed the word. The kernel only uses the
/// address to find sleepers, so the worst case is a spurious wake-up of some
/// later wait at that address, which every park caller tolerates by
/// re-checking its condition (Rust's parking_lot relies on the same).
int unpark_address(const void* address, int n) noexcept;

/// Wakes at most `n` threads parked on `word`. Returns how many were woken.
inline int unpark(const std::atomic<std::uint32_t>& word, int n) noexcept {
  return unpark_address(&word, n);
}
inline int unpark_one(const std::atomic<std::uint32_t>& word) noexcept {
  return unpark(word, 1);
}
inline int unpark_all(const std::atomic<std::uint32_t>& word) noexcept {
  return unpark(word, std::numeric_limits<int>::max());
}

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

/// A token unique to the calling thread among live threads (the address of a
/// thread_local). Used as the owner of an RLock; cheap to read.
inline const void* thread_token() noexcept {
  static thread_local const char token = 0;
  return &token;
}

}  // namespace spindle::detail
