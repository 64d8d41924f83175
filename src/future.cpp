// Future states, the multi-future waiter, wait(), and the
// unretrieved-exception hook.
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "report.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/futures.hpp"
#include "spindle/thread.hpp"

namespace spindle {
namespace {

// The hooks are read on the rare paths where a failed future dies unseen or
// a callback throws; each lives in a never-destroyed slot (futures may die
// during exit), made at load time.
detail::HookSlot<UnretrievedExceptionHook>& unretrieved_slot() {
  static auto& slot = detail::HookSlot<UnretrievedExceptionHook>::make();
  return slot;
}
detail::HookSlot<CallbackExceptionHook>& callback_slot() {
  static auto& slot = detail::HookSlot<CallbackExceptionHook>::make();
  return slot;
}
[[maybe_unused]] const bool g_slots_ready = (unretrieved_slot(), callback_slot(), true);

void print_unretrieved(const std::exception_ptr& e) {
  detail::write_stderr("Future exception was never retrieved\n" + detail::describe_exception(e) +
                       "\n");
}

void report_unretrieved(const std::exception_ptr& e) noexcept {
  try {
    const UnretrievedExceptionHook hook = unretrieved_slot().load();
    if (hook) {
      hook(e);
    } else {
      print_unretrieved(e);
    }
  } catch (...) {
    detail::report_hook_failure("Exception in the unretrieved exception hook");
    try {
      print_unretrieved(e);
    } catch (...) {
      detail::write_stderr("Future exception was never retrieved\n<could not be described>\n");
    }
  }
}

}  // namespace

UnretrievedExceptionHook set_unretrieved_exception_hook(UnretrievedExceptionHook hook) {
  return unretrieved_slot().exchange(std::move(hook));
}

CallbackExceptionHook set_callback_exception_hook(CallbackExceptionHook hook) {
  return callback_slot().exchange(std::move(hook));
}

void default_callback_exception_hook(const CallbackExceptionArgs& args) {
  const detail::FutureStateBase* s = detail::FutureAccess::state(args.future);
  const char* state = s == nullptr     ? "?"
                      : s->cancelled() ? "cancelled"
                      : s->done()      ? "finished"
                      : s->running()   ? "running"
                                       : "pending";
  char head[96];
  std::snprintf(head, sizeof head, "exception calling callback for <Future at %p state=%s>\n",
                static_cast<const void*>(s), state);
  detail::write_stderr(head + detail::describe_exception(args.exc) + "\n");
}

namespace {

void report_callback_exception(detail::FutureStateBase* future,
                               const std::exception_ptr& e) noexcept {
  CallbackExceptionHook hook;
  try {
    hook = callback_slot().load();
  } catch (...) {
    // Out of memory copying the hook: fall back to the default.
  }
  future->add_ref();
  const CallbackExceptionArgs args{e, detail::FutureAccess::adopt<FutureBase>(future)};
  try {
    if (hook) {
      hook(args);
    } else {
      default_callback_exception_hook(args);
    }
  } catch (...) {
    detail::report_hook_failure("Exception in the callback exception hook");
    try {
      default_callback_exception_hook(args);
    } catch (...) {
      detail::write_stderr("exception calling callback: <could not be described>\n");
    }
  }
}

}  // namespace

namespace detail {

FutureStateBase::~FutureStateBase() {
  // Callbacks of a future that never completed are dropped with it.
  for (Listener* n = head_; n != nullptr;) {
    Listener* next = n->next_;
    if (n->is_callback_) delete n;
    n = next;
  }
  if ((word_.load(std::memory_order_acquire) & kStateMask) == kFinished && exception_ &&
      !retrieved_.load(std::memory_order_relaxed)) {
    report_unretrieved(exception_);
  }
}

void FutureStateBase::throw_cancelled() {
  throw CancelledError();
}
void FutureStateBase::throw_timeout() {
  throw TimeoutError("future not done within the timeout");
}
void FutureStateBase::throw_empty() {
  throw InvalidStateError("empty future handle (moved from)");
}

void FutureStateBase::throw_invalid_state() const {
  static const char* const names[] = {"PENDING",  "RUNNING",  "CANCELLED", "CANCELLED_AND_NOTIFIED",
                                      "FINISHED", "FINISHED", "?",         "?"};
  const std::uint32_t s = word() & kStateMask;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s: <Future at %p state=%s>", names[s],
                static_cast<const void*>(this),
                s == kCancelled || s == kCancelledNotified ? "cancelled" : "finished");
  throw InvalidStateError(buf);
}

bool FutureStateBase::wait_slow(Deadline deadline) {
  // A worker that would otherwise wait forever for a task of its own pool
  // that nobody has started runs it itself (docs/design/futures.md, "Tasks
  // that wait on tasks of their own pool").
  if (deadline.is_never() && queued_in_ != 0 && help_run_queued(*this)) return true;
  // Spin, then yield the CPU a few times before parking (spin.hpp,
  // kFutureWaitRounds); the deadline is looked at between rounds.
  for (int round = 0; round < kFutureWaitRounds; ++round) {
    if (spin_until([this] { return done(); })) return true;
    if (deadline.expired()) return false;
    sched_yield();
  }
  return wait_word(
      word_, kParked, [](std::uint32_t w) { return is_done(w); }, deadline,
      WaitSite{"Future", this});
}

bool FutureStateBase::cancel() {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    if (s == kCancelled || s == kCancelledNotified) return true;
    if (s != kPending) return false;
    if (word_.compare_exchange_weak(w, kCancelled | (w & kListeners), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      break;
    }
  }
  wake_waiters(w, kParked, word_);
  if (w & kListeners) notify_listeners();
  return true;
}

bool FutureStateBase::try_claim() noexcept {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    std::uint32_t to;
    if (s == kPending) {
      to = (w & ~kStateMask) | kRunning;
    } else if (s == kCancelled) {
      to = (w & ~kStateMask) | kCancelledNotified;
    } else {
      return false;
    }
    if (word_.compare_exchange_weak(w, to, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return s == kPending;
    }
  }
}

bool FutureStateBase::set_running_or_notify_cancel() {
  // Python's transitions, each decided by one CAS: PENDING -> RUNNING (true),
  // CANCELLED -> CANCELLED_AND_NOTIFIED (false); RUNNING, FINISHED and
  // CANCELLED_AND_NOTIFIED (a second call after a cancel) raise.
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    std::uint32_t to;
    if (s == kPending) {
      to = (w & ~kStateMask) | kRunning;
    } else if (s == kCancelled) {
      to = (w & ~kStateMask) | kCancelledNotified;
    } else {
      throw RuntimeError("Future in unexpected state");
    }
    if (word_.compare_exchange_weak(w, to, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return s == kPending;
    }
  }
}

bool FutureStateBase::try_begin_complete() noexcept {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    if (s != kPending && s != kRunning) return false;
    if (word_.compare_exchange_weak(w, (w & ~kStateMask) | kCompleting, std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      return true;
    }
  }
}

void FutureStateBase::begin_complete() {
  if (!try_begin_complete()) throw_invalid_state();
}

void FutureStateBase::end_complete() noexcept {
  std::uint32_t w = word_.load(std::memory_order_relaxed);
  while (!word_.compare_exchange_weak(w, kFinished | (w & kListeners), std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
  }
  wake_waiters(w, kParked, word_);
  if (w & kListeners) notify_listeners();
}

void FutureStateBase::set_exception(std::exception_ptr e) {
  if (e == nullptr)
    throw ValueError("set_exception() needs an exception, got a null exception_ptr");
  begin_complete();
  complete_exception(std::move(e));
}

void FutureStateBase::notify_listeners() noexcept {
  // Waiter nodes fire under the lock, so that a wait() which removes its
  // nodes (under the same lock) never frees a node that is firing.
  // Callbacks run after the lock is released, in the order added.
  Listener* callbacks = nullptr;
  Listener** ctail = &callbacks;
  {
    std::scoped_lock guard(lock_);
    Listener* n = std::exchange(head_, nullptr);
    tail_ = nullptr;
    while (n != nullptr) {
      Listener* next = n->next_;
      n->next_ = nullptr;
      if (n->is_callback_) {
        *ctail = n;
        ctail = &n->next_;
      } else {
        n->fire(*this);
      }
      n = next;
    }
  }
  while (callbacks != nullptr) {
    Listener* next = callbacks->next_;
    try {
      callbacks->fire(*this);
    } catch (...) {
      report_callback_exception(this, std::current_exception());
    }
    delete callbacks;
    callbacks = next;
  }
}

void FutureStateBase::add_callback(Listener* node) {
  {
    std::scoped_lock guard(lock_);
    const std::uint32_t old = word_.fetch_or(kListeners, std::memory_order_acq_rel);
    if (!is_done(old)) {
      (tail_ ? tail_->next_ : head_) = node;
      tail_ = node;
      return;
    }
  }
  // Already done: the callback runs now, in this thread, without the lock.
  try {
    node->fire(*this);
  } catch (...) {
    report_callback_exception(this, std::current_exception());
  }
  delete node;
}

bool FutureStateBase::add_waiter(Listener* node) {
  std::scoped_lock guard(lock_);
  const std::uint32_t old = word_.fetch_or(kListeners, std::memory_order_acq_rel);
  if (is_done(old)) return false;
  (tail_ ? tail_->next_ : head_) = node;
  tail_ = node;
  return true;
}

void FutureStateBase::remove_waiter(Listener* node) noexcept {
  std::scoped_lock guard(lock_);
  Listener* prev = nullptr;
  for (Listener* n = head_; n != nullptr; prev = n, n = n->next_) {
    if (n != node) continue;
    (prev ? prev->next_ : head_) = n->next_;
    if (tail_ == n) tail_ = prev;
    break;
  }
}

// ---- MultiWaiter ----------------------------------------------------------

void MultiWaiter::Node::fire(FutureStateBase& state) {
  waiter->on_done(index, state.failed());
}

void MultiWaiter::on_done(std::size_t index, bool failed) noexcept {
  bool wake = false;
  {
    std::scoped_lock guard(lock_);
    try {
      finished_.push_back(index);
    } catch (...) {
      // Out of memory: still counted below, so wait() returns; as_completed
      // loses the index only in this case.
    }
    ++count_;
    if (failed) exception_seen_ = true;
    wake = satisfied_locked(false);
  }
  if (wake && signal_.exchange(1, std::memory_order_acq_rel) == 2) unpark_all(signal_);
}

bool MultiWaiter::satisfied(bool any) const noexcept {
  std::scoped_lock guard(lock_);
  return satisfied_locked(any);
}

bool MultiWaiter::satisfied_locked(bool any) const noexcept {
  if (any || mode_ == kFirstCompleted) return count_ > 0;
  if (mode_ == kFirstException && exception_seen_) return true;
  return count_ >= target_;
}

void MultiWaiter::set_target(std::size_t n) noexcept {
  std::scoped_lock guard(lock_);
  target_ = n;
}

void MultiWaiter::take_finished(std::vector<std::size_t>& out) noexcept {
  std::scoped_lock guard(lock_);
  out.swap(finished_);
  finished_.clear();
  count_ = 0;
}

bool MultiWaiter::wait_for(Deadline deadline, bool any) noexcept {
  const WaitSite site{"wait", this};
  for (;;) {
    signal_.exchange(0, std::memory_order_acq_rel);
    if (satisfied(any)) return true;
    std::uint32_t idle = 0;
    if (signal_.compare_exchange_strong(idle, 2, std::memory_order_acq_rel)) {
      if (!park(signal_, 2, deadline, site)) return satisfied(any);
    }
  }
}

bool MultiWaiter::wait_until(Deadline deadline) noexcept {
  return wait_for(deadline, false);
}
bool MultiWaiter::wait_any_until(Deadline deadline) noexcept {
  return wait_for(deadline, true);
}

void wait_states(const std::vector<FutureStateBase*>& states, Deadline deadline, ReturnWhen mode) {
  // Python's order: return at once if the condition already holds.
  std::size_t done = 0;
  bool failed = false;
  for (FutureStateBase* s : states) {
    if (s->done()) {
      ++done;
      failed = failed || s->failed();
    }
  }
  if (done == states.size()) return;
  if (mode == FIRST_COMPLETED && done > 0) return;
  if (mode == FIRST_EXCEPTION && failed) return;
  if (mode == ALL_COMPLETED && deadline.is_never()) {
    // As an untimed result(): a pool worker runs the tasks of its own pool
    // that nobody has started (FutureStateBase::wait_until).
    for (FutureStateBase* s : states) {
      if (!s->done() && s->queued_in() != 0) (void)help_run_queued(*s);
    }
  }

  const MultiWaiter::Mode m = mode == FIRST_COMPLETED   ? MultiWaiter::kFirstCompleted
                              : mode == FIRST_EXCEPTION ? MultiWaiter::kFirstException
                                                        : MultiWaiter::kAllCompleted;
  MultiWaiter waiter(m);
  std::vector<MultiWaiter::Node> nodes(states.size());
  std::vector<std::size_t> installed;
  installed.reserve(states.size());
  for (std::size_t i = 0; i < states.size(); ++i) {
    nodes[i].waiter = &waiter;
    nodes[i].index = i;
    if (states[i]->add_waiter(&nodes[i])) {
      installed.push_back(i);
    } else if (mode == FIRST_COMPLETED || (mode == FIRST_EXCEPTION && states[i]->failed())) {
      // Finished while we were installing: the condition holds now.
      for (std::size_t j : installed) states[j]->remove_waiter(&nodes[j]);
      return;
    }
  }
  waiter.set_target(installed.size());
  waiter.wait_until(deadline);
  for (std::size_t j : installed) states[j]->remove_waiter(&nodes[j]);
}

}  // namespace detail

// ---------------------------------------------------------------- Task

detail::FutureStateBase& Task::state() const {
  if (s_ == nullptr) detail::FutureStateBase::throw_empty();
  return *s_;
}

void Task::drop() noexcept {
  if (detail::FutureStateBase* s = std::exchange(s_, nullptr)) {
    s->cancel();
    s->release();
  }
}

bool Task::run() {
  detail::FutureStateBase& s = state();
  s_ = nullptr;
  const bool claimed = s.try_claim();
  if (claimed) s.run_claimed();
  s.release();
  return claimed;
}

bool Task::fail(std::exception_ptr e) {
  if (!e) throw ValueError("Task::fail needs an exception");
  detail::FutureStateBase& s = state();
  s_ = nullptr;
  const bool failed = s.try_begin_complete();
  if (failed) s.complete_exception(std::move(e));
  s.release();
  return failed;
}

bool Task::cancel() {
  return state().cancel();
}

bool Task::cancelled() const {
  return state().cancelled();
}

}  // namespace spindle
