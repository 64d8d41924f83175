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
// side makes no system call when nobody waits (`wait_word` / `wake_waiters`
// below are that protocol for a word with a waiter bit); park itself never
// spins - the bounded spin belongs to the primitive, where it knows what it
// waits for (spin.hpp).
//
// Diagnostics hook. While a thread is parked, its `ThreadWaitState` names the
// kind of object and its address, and since when it waits. The state lives in
// a thread_local owned by this layer; the thread registry reads it to report a
// thread as "blocked on Lock 0x..." and a future deadlock detector will walk
// it. The park layer itself knows only the kernel.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>

#include "spindle/detail/time.hpp"

namespace spindle::detail {

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

/// The waiter-bit protocol, waiting side. `word` carries some state and one
/// bit, `waiters_bit`, that a waiter sets before it parks; the side that
/// changes the state wakes the word only if it finds the bit set
/// (wake_waiters), so a change nobody waits for makes no system call.
/// Blocks until `done(value)` is true for the word's value, or `deadline`
/// passes. Returns done() of the last value read: false only on timeout.
/// No wake-up is lost: the bit is set by a CAS against the value that was
/// checked, and park() returns at once if the word changed since.
template <class Done>
bool wait_word(std::atomic<std::uint32_t>& word, std::uint32_t waiters_bit, Done done,
               Deadline deadline, WaitSite site) noexcept {
  std::uint32_t w = word.load(std::memory_order_acquire);
  for (;;) {
    if (done(w)) return true;
    if ((w & waiters_bit) == 0) {
      if (!word.compare_exchange_weak(w, w | waiters_bit, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        continue;
      }
      w |= waiters_bit;
    }
    if (!park(word, w, deadline, site)) return done(word.load(std::memory_order_acquire));
    w = word.load(std::memory_order_acquire);
  }
}

/// The waiter-bit protocol, waking side: `previous` is the word's value
/// just before this thread changed it (the result of its exchange or CAS).
/// Wakes every waiter if one announced itself.
inline void wake_waiters(std::uint32_t previous, std::uint32_t waiters_bit,
                         const std::atomic<std::uint32_t>& word) noexcept {
  if ((previous & waiters_bit) != 0) unpark_all(word);
}

/// A token unique to the calling thread among live threads (the address of a
/// thread_local). Used as the owner of an RLock; cheap to read.
inline const void* thread_token() noexcept {
  static thread_local const char token = 0;
  return &token;
}

}  // namespace spindle::detail
