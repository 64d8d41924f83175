#include "spindle/condition.hpp"

namespace spindle {

void Condition::check_owned(const char* message) const {
  const bool owned = lock_ ? lock_->locked() : rlock_->is_owned();
  if (!owned) throw RuntimeError(message);
}

bool Condition::wait_owned(detail::Deadline deadline) {
  const std::uint32_t seq = seq_.load(std::memory_order_relaxed);
  waiters_.fetch_add(1, std::memory_order_relaxed);
  std::uint32_t levels = 0;
  if (lock_) {
    lock_->release();
  } else {
    levels = rlock_->release_all();
  }

  bool notified = true;
  const detail::WaitSite site{"Condition", this};
  while (seq_.load(std::memory_order_relaxed) == seq) {
    if (!detail::park(seq_, seq, deadline, site)) {
      notified = seq_.load(std::memory_order_relaxed) != seq;
      break;
    }
  }

  // Re-acquire without a deadline, as Python does: the wait's result says
  // whether it was notified, and the caller always holds the lock again.
  if (lock_) {
    lock_->acquire();
  } else {
    rlock_->restore(levels);
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return notified;
}

}  // namespace spindle
