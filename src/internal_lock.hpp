// src/internal_lock.hpp - a small futex lock for spindle's own bookkeeping.
//
// Not a spindle::Lock: taking it is never checked or recorded by the
// deadlock detector (which uses it for its own state, so that would recurse)
// and costs no lock-order hook. Its critical sections must be short and wait
// for nothing else. Constant-initialised, so it may guard state used during
// static initialisation and exit.
#pragma once

#include <atomic>
#include <cstdint>

#include "spindle/detail/park.hpp"
#include "spindle/detail/spin.hpp"

namespace spindle::detail {

class InternalLock {
 public:
  constexpr InternalLock() noexcept = default;
  void lock() noexcept {
    std::uint32_t expected = 0;
    if (word_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                      std::memory_order_relaxed))
      return;
    lock_slow();
  }
  void unlock() noexcept {
    if (word_.exchange(0, std::memory_order_release) == 2) unpark_one(word_);
  }
  // In a forked child (one thread, which holds none of these): frees the
  // lock; true if a thread that vanished in the fork held it, so what it
  // guards may be half-changed.
  bool reset_in_child() noexcept { return word_.exchange(0, std::memory_order_relaxed) != 0; }

 private:
  void lock_slow() noexcept {
    if (spin_until([this] { return word_.load(std::memory_order_relaxed) == 0; })) {
      std::uint32_t expected = 0;
      if (word_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed))
        return;
    }
    while (word_.exchange(2, std::memory_order_acquire) != 0)
      park(word_, 2, Deadline::never(), WaitSite{"spindle internal lock", this});
  }
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace spindle::detail
