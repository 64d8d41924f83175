// The park layer: Linux private futexes on the primitives' own words.
#include "spindle/detail/park.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace spindle::detail {
namespace {

long futex(const std::atomic<std::uint32_t>& word, int op, std::uint32_t val, const timespec* ts,
           std::uint32_t val3) noexcept {
  // The futex word is the atomic's object representation; std::atomic<uint32_t>
  // is lock-free and has the size and alignment of uint32_t.
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  auto* addr = const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(&word));
  return ::syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
}

}  // namespace

ThreadWaitState& this_thread_wait_state() noexcept {
  static thread_local ThreadWaitState state;
  return state;
}

bool park(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline,
          WaitSite site) noexcept {
  timespec ts{};
  const timespec* tsp = nullptr;
  if (!deadline.is_never()) {
    if (deadline.expired()) return false;
    ts.tv_sec = static_cast<time_t>(deadline.ns() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(deadline.ns() % 1'000'000'000);
    tsp = &ts;
  }
  ThreadWaitState& ws = this_thread_wait_state();
  ws.object.store(site.object, std::memory_order_relaxed);
  ws.since_ns.store(Deadline::now_ns(), std::memory_order_relaxed);
  ws.kind.store(site.kind, std::memory_order_release);

  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, so a wait that
  // is interrupted and retried keeps its original deadline.
  const long rc =
      futex(word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, FUTEX_BITSET_MATCH_ANY);
  const int err = rc == -1 ? errno : 0;

  ws.kind.store(nullptr, std::memory_order_relaxed);
  ws.object.store(nullptr, std::memory_order_relaxed);
  return !(rc == -1 && err == ETIMEDOUT);
}

int unpark_address(const void* address, int n) noexcept {
  if (n <= 0) return 0;
  const long rc =
      ::syscall(SYS_futex, address, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, nullptr, nullptr, 0);
  return rc > 0 ? static_cast<int>(rc) : 0;
}

}  // namespace spindle::detail
