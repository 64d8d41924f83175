// spindle/detail/lock_tracking.hpp - what Lock's inline paths record for
// the deadlock diagnostics (spindle/deadlock.hpp, src/deadlock.cpp).
//
// Two things, both kept off the cost of an uncontended acquire/release:
//
//   * Who acquired a Lock. A Lock has no owner in Python's sense (any thread
//     may release it), but the deadlock detector needs "who will release
//     it" and takes "who acquired it and has not released it" for that. The
//     acquiring thread stores owner_token() - the thread pointer, one
//     register read - into the Lock right after its CAS; release() clears it
//     before the releasing CAS. Two plain stores to a cache line the
//     two CASes already own (measured in docs/bench/primitives.md).
//   * Lock-order checking, off unless switched on: one relaxed load of a
//     global flag and a branch on acquire and on release; when on, the
//     out-of-line hooks below keep the calling thread's held locks and the
//     process-wide order graph.
#pragma once

#include <atomic>
#include <cstdint>

#include "spindle/detail/park.hpp"

namespace spindle::detail {

/// A token naming the calling thread among live threads: the thread
/// pointer (the TCB address on x86-64 and AArch64), read without a memory
/// access. Never 0. A thread that ends may hand its token to a later one.
#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer) && (defined(__x86_64__) || defined(__aarch64__))
#define SPINDLE_DETAIL_THREAD_POINTER 1
#endif
#endif
inline std::uintptr_t owner_token() noexcept {
#ifdef SPINDLE_DETAIL_THREAD_POINTER
  return reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer());
#else
  return reinterpret_cast<std::uintptr_t>(thread_token());
#endif
}

// Lock-order checking (spindle::set_lock_order_checking). `g_lock_order_on`
// gates the hooks; `g_lock_order_used` stays true once checking has been on,
// so that a destroyed Lock is forgotten by the order graph even after
// checking was switched off again.
extern std::atomic<bool> g_lock_order_on;
extern std::atomic<bool> g_lock_order_used;

[[nodiscard]] inline bool lock_order_on() noexcept {
  return g_lock_order_on.load(std::memory_order_relaxed);
}

// The hooks, called by Lock only while lock_order_on() (forget: while
// g_lock_order_used). `lock` identifies the Lock; `owner` is its owner
// token as read by the caller.
//   before_blocking  a blocking acquire (untimed or timed) is about to try
//                    `lock`: check and record "each held lock, then `lock`"
//   acquired         `lock` was taken (any form): the caller now holds it
//   released         `lock` is being released (by any thread)
//   forget           `lock` is being destroyed
void lock_order_before_blocking(const void* lock);
void lock_order_acquired(const void* lock) noexcept;
void lock_order_released(const void* lock, std::uintptr_t owner) noexcept;
void lock_order_forget(const void* lock, std::uintptr_t owner) noexcept;

}  // namespace spindle::detail
