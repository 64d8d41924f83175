// Barrier: a state machine under an internal Lock; waiters park on a
// generation word and read their outcome from a node on their own stack.
#include "spindle/barrier.hpp"
#include "spindle/detail/spin.hpp"

#include <cstdint>
#include <utility>

namespace spindle {

Barrier::Barrier(std::ptrdiff_t parties, std::function<void()> action,
                 std::optional<std::chrono::nanoseconds> timeout)
    : Barrier(parties, std::move(action),
              timeout ? std::optional<detail::WaitTimeout>(detail::WaitTimeout(*timeout))
                      : std::nullopt,
              Checked{}) {}

Barrier::Barrier(std::ptrdiff_t parties, std::function<void()> action,
                 std::optional<detail::WaitTimeout> timeout, Checked)
    : parties_(parties < 1 || parties > INT32_MAX ? 0 : static_cast<std::uint32_t>(parties)),
      action_(std::move(action)),
      timeout_(timeout) {
  if (parties < 1) throw ValueError("parties must be >= 1");
  if (parties_ == 0) throw ValueError("parties is too large");
}

bool Barrier::enter(const char* refused_in_action) const {
  if (action_thread_.load(std::memory_order_relaxed) == detail::thread_token()) {
    if (refused_in_action != nullptr) throw RuntimeError(refused_in_action);
    return false;  // the action runs with lock_ held by this thread
  }
  lock_.acquire();
  return true;
}

std::size_t Barrier::arrive(detail::Deadline deadline, bool too_large) {
  (void)enter("Barrier.wait() called from the barrier's own action");
  if (broken_) {
    lock_.release();
    throw BrokenBarrierError();
  }
  const std::size_t index = count_++;
  if (count_ == parties_) return complete_cycle(index);  // releases lock_
  if (too_large) {
    // C05, where Python applies it: this thread would wait, and its timeout
    // is above TIMEOUT_MAX. It leaves as if it had not arrived.
    --count_;
    lock_.release();
    throw OverflowError(detail::kTimeoutTooLarge);
  }
  Waiter self;
  self.next = waiters_;
  waiters_ = &self;
  const std::uint32_t seen = generation_.load(std::memory_order_relaxed);
  lock_.release();
  return await(self, seen, index, deadline);
}

std::size_t Barrier::complete_cycle(std::size_t index) {
  if (action_) {
    action_thread_.store(detail::thread_token(), std::memory_order_relaxed);
    try {
      action_();
    } catch (...) {
      // C42: broken for everyone; the action's exception goes to this thread.
      action_thread_.store(nullptr, std::memory_order_relaxed);
      broken_ = true;
      end_cycle(kBroken);
      lock_.release();
      throw;
    }
    action_thread_.store(nullptr, std::memory_order_relaxed);
    if (broken_) {  // the action called abort(): the cycle already ended broken
      lock_.release();
      throw BrokenBarrierError();
    }
  }
  end_cycle(kPassed);
  lock_.release();
  return index;
}

void Barrier::end_cycle(Outcome outcome) noexcept {
  Waiter* w = waiters_;
  const bool any = w != nullptr;
  waiters_ = nullptr;
  count_ = 0;
  while (w != nullptr) {
    Waiter* next = w->next;  // read first: the node may vanish once its outcome is set
    w->outcome.store(outcome, std::memory_order_release);
    w = next;
  }
  generation_.fetch_add(1, std::memory_order_release);
  if (any) detail::unpark_all(generation_);
}

std::size_t Barrier::await(Waiter& self, std::uint32_t seen, std::size_t index,
                           detail::Deadline deadline) {
  const detail::WaitSite site{"Barrier", this};
  std::uint32_t outcome = kPending;
  (void)detail::handoff_spin(
      [&] { return self.outcome.load(std::memory_order_relaxed) != kPending; });
  while ((outcome = self.outcome.load(std::memory_order_acquire)) == kPending) {
    if (!detail::park(generation_, seen, deadline, site)) {
      // C41: a timeout breaks the barrier for everyone - unless the cycle
      // ended meanwhile, which then decides this thread's outcome.
      lock_.acquire();
      if (self.outcome.load(std::memory_order_relaxed) == kPending) {
        broken_ = true;
        end_cycle(kBroken);
      }
      lock_.release();
      outcome = self.outcome.load(std::memory_order_acquire);
      break;
    }
  }
  if (outcome == kPassed) return index;
  throw BrokenBarrierError();
}

void Barrier::reset() {
  (void)enter("Barrier.reset() called from the barrier's own action");
  if (waiters_ != nullptr) end_cycle(kBroken);  // C44: the waiters get BrokenBarrierError
  count_ = 0;
  broken_ = false;
  lock_.release();
}

void Barrier::abort() {
  const bool entered = enter(nullptr);
  broken_ = true;
  end_cycle(kBroken);
  leave(entered);
}

std::size_t Barrier::n_waiting() const {
  const bool entered = enter(nullptr);
  const std::size_t n = broken_ ? 0 : count_;
  leave(entered);
  return n;
}

bool Barrier::broken() const {
  const bool entered = enter(nullptr);
  const bool b = broken_;
  leave(entered);
  return b;
}

}  // namespace spindle
