// spindle/future.hpp - Future, wait() and as_completed().
//
// Part of Python's concurrent.futures; spindle/futures.hpp includes it and is
// the manual of the whole family (timeouts, memory ordering, exceptions that
// are never lost, what is not promised).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "spindle/detail/future_state.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"
#include "spindle/lock.hpp"

namespace spindle {

template <class T>
class Future;
template <class R>
class MapResults;
class Executor;

class FutureBase;

namespace detail {
struct AdoptState {};
/// How spindle's own layers reach a future's shared state (executors,
/// wait(), hashing); not for users.
struct FutureAccess {
  /// A handle that takes over one reference to `s` (null: an empty handle).
  template <class F>
  static F adopt(FutureStateBase* s) noexcept {
    return F(AdoptState{}, s);
  }
  static FutureStateBase* state(const FutureBase& f) noexcept;
  /// Builds a range type whose constructor spindle keeps private.
  template <class T, class... A>
  static T make(A&&... a) {
    return T(std::forward<A>(a)...);
  }
};
/// Validates a futures timeout: negative acts as zero (Python), above
/// TIMEOUT_MAX throws OverflowError.
template <class Rep, class Period>
Deadline future_deadline(std::chrono::duration<Rep, Period> timeout) {
  if (timeout < timeout.zero()) return Deadline::after(std::chrono::nanoseconds(0));
  return deadline_after(timeout);
}
}  // namespace detail

// ---------------------------------------------------------------------------
// FutureBase: the untyped part of a future.
// ---------------------------------------------------------------------------

/// The part of every Future<T> that does not depend on T. Copying shares the
/// future; moving leaves the source empty, and any call on an empty handle
/// throws InvalidStateError.
class FutureBase {
 public:
  FutureBase(const FutureBase& o) noexcept : s_(o.s_) {
    if (s_) s_->add_ref();
  }
  FutureBase(FutureBase&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  FutureBase& operator=(const FutureBase& o) noexcept {
    if (o.s_) o.s_->add_ref();
    reset(o.s_);
    return *this;
  }
  FutureBase& operator=(FutureBase&& o) noexcept {
    if (this != &o) reset(std::exchange(o.s_, nullptr));
    return *this;
  }
  ~FutureBase() { reset(nullptr); }

  /// Cancels the future if it is pending: true if it is now cancelled (or
  /// already was), false if it is running or finished (C96). Cancelling wakes
  /// result() callers (CancelledError) and runs the done-callbacks in the
  /// calling thread. Never blocks.
  bool cancel() { return st().cancel(); }
  /// True if cancelled. Never blocks.
  [[nodiscard]] bool cancelled() const { return st().cancelled(); }
  /// True while the task runs (set_running_or_notify_cancel returned true
  /// and the result is not published yet). Never blocks.
  [[nodiscard]] bool running() const { return st().running(); }
  /// True if cancelled or finished. Never blocks.
  [[nodiscard]] bool done() const { return st().done(); }

  /// Blocks until done (as result(), a pool worker may run the task
  /// itself); returns the task's exception, or null if it
  /// succeeded. Throws CancelledError if cancelled (C95). Counts as having
  /// retrieved the exception.
  std::exception_ptr exception() {
    detail::FutureStateBase& s = st();
    s.wait_until(detail::Deadline::never());
    return exception_done(s);
  }
  /// As exception(), waiting at most `timeout`: TimeoutError if not done in
  /// time (C95).
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) {
    detail::FutureStateBase& s = st();
    if (!s.wait_until(detail::future_deadline(timeout))) detail::FutureStateBase::throw_timeout();
    return exception_done(s);
  }

  /// Adds fn, called as fn(FutureBase&) once the future is done (finished or
  /// cancelled), in the thread that completes it; at once, in the calling
  /// thread, if it is already done. Callbacks run in the order added. An
  /// exception from fn goes to the callback exception hook (default: printed
  /// on stderr) and is otherwise ignored (C98).
  template <class F>
  void add_done_callback(F fn) {
    st().add_callback(
        new detail::CallbackNode([fn = std::move(fn)](detail::FutureStateBase& s) mutable {
          s.add_ref();
          FutureBase f(detail::AdoptState{}, &s);
          fn(f);
        }));
  }

  // ---- for executor writers (Python's Future internals) -------------------

  /// Python's states, one call each: a pending future becomes running and
  /// true is returned; a cancelled one is marked notified and false is
  /// returned (the executor must then not run it). Throws RuntimeError
  /// "Future in unexpected state" if it is running or finished, or if this
  /// was already called on the cancelled future (Python also logs a critical
  /// message; spindle only throws). Never blocks.
  [[nodiscard]] bool set_running_or_notify_cancel() { return st().set_running_or_notify_cancel(); }
  /// Finishes the future with exception `e`, wakes waiters, runs callbacks.
  /// Throws InvalidStateError if already finished or cancelled (C97), and
  /// ValueError if `e` is null (the future is left as it was).
  void set_exception(std::exception_ptr e) { st().set_exception(std::move(e)); }

  /// False for a moved-from handle.
  [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }
  friend bool operator==(const FutureBase& a, const FutureBase& b) noexcept { return a.s_ == b.s_; }

 protected:
  friend struct detail::FutureAccess;
  FutureBase(detail::AdoptState, detail::FutureStateBase* s) noexcept : s_(s) {}
  detail::FutureStateBase& st() const {
    if (s_ == nullptr) detail::FutureStateBase::throw_empty();
    return *s_;
  }
  static std::exception_ptr exception_done(detail::FutureStateBase& s) {
    if (s.cancelled()) detail::FutureStateBase::throw_cancelled();
    return s.take_exception();
  }

 private:
  void reset(detail::FutureStateBase* s) noexcept {
    if (s_) s_->release();
    s_ = s;
  }
  detail::FutureStateBase* s_;
};

inline detail::FutureStateBase* detail::FutureAccess::state(const FutureBase& f) noexcept {
  return f.s_;
}

// ---------------------------------------------------------------------------
// Future<T>
// ---------------------------------------------------------------------------

/// concurrent.futures.Future with a result of type T (void for none).
template <class T>
class Future : public FutureBase {
  using State = detail::FutureState<T>;

 public:
  using value_type = T;
  using result_reference =
      std::conditional_t<std::is_void_v<T>, void, std::add_lvalue_reference_t<T>>;

  /// A new pending future, for executor writers (Python's Future()).
  Future() : FutureBase(detail::AdoptState{}, new State) {}

  /// Blocks until done and returns the result (a reference into the shared
  /// state; valid while any handle lives). Throws CancelledError if
  /// cancelled; rethrows the task's exception (C95). Called by a
  /// ThreadPoolExecutor worker on a task of its own pool that no thread has
  /// started, runs that task on the calling worker (see ThreadPoolExecutor).
  result_reference result() {
    State& s = typed();
    s.wait_until(detail::Deadline::never());
    return result_done(s);
  }
  /// As result(), waiting at most `timeout`: TimeoutError if not done in time.
  template <class Rep, class Period>
  result_reference result(std::chrono::duration<Rep, Period> timeout) {
    State& s = typed();
    if (!s.wait_until(detail::future_deadline(timeout))) detail::FutureStateBase::throw_timeout();
    return result_done(s);
  }

  /// Finishes the future with `value`; wakes waiters, runs callbacks in the
  /// calling thread. Throws InvalidStateError if already finished or
  /// cancelled (C97).
  template <class U = T>
    requires(!std::is_void_v<T>)
  void set_result(U&& value) {
    typed().set_result(std::forward<U>(value));
  }
  void set_result()
    requires std::is_void_v<T>
  {
    typed().set_result();
  }

  /// As FutureBase::add_done_callback, but fn gets this Future<T>&.
  template <class F>
  void add_done_callback(F fn) {
    st().add_callback(
        new detail::CallbackNode([fn = std::move(fn)](detail::FutureStateBase& s) mutable {
          s.add_ref();
          Future<T> f(detail::AdoptState{}, &s);
          fn(f);
        }));
  }

 private:
  friend struct detail::FutureAccess;
  template <class>
  friend class MapResults;
  Future(detail::AdoptState a, detail::FutureStateBase* s) noexcept : FutureBase(a, s) {}
  // As result(), waiting until `deadline` (map's results).
  result_reference result_until(detail::Deadline deadline) {
    State& s = typed();
    if (!s.wait_until(deadline)) detail::FutureStateBase::throw_timeout();
    return result_done(s);
  }
  State& typed() const { return static_cast<State&>(st()); }
  static result_reference result_done(State& s) {
    s.check_result();
    if constexpr (!std::is_void_v<T>) return s.value();
  }
};

// ---------------------------------------------------------------------------
// The unretrieved-exception hook.
// ---------------------------------------------------------------------------

/// Called with the exception of a future destroyed without anyone having
/// retrieved it (result() or exception()). Runs in the thread that drops
/// the last handle (often a worker). If the hook throws, that is reported on
/// stderr and ignored.
using UnretrievedExceptionHook = std::function<void(std::exception_ptr)>;
/// Installs `hook` (an empty function restores the default, which prints
/// "Future exception was never retrieved" and the message to stderr).
/// Returns the previous hook. Thread-safe.
UnretrievedExceptionHook set_unretrieved_exception_hook(UnretrievedExceptionHook hook);

// ---------------------------------------------------------------------------
// The callback exception hook.
// ---------------------------------------------------------------------------

/// What the callback exception hook gets: the exception a done-callback
/// threw and the future it was added to (Python logs both with
/// "exception calling callback for %r").
struct CallbackExceptionArgs {
  std::exception_ptr exc;  ///< what the callback threw
  FutureBase future;       ///< the future whose callback threw (done)
};
/// Called, in the thread that ran the callback (the one that completed or
/// cancelled the future, or the one that added the callback to a done
/// future), after a done-callback threw; no spindle lock is held, so it may
/// use the future. Later callbacks run after it returns. If the hook
/// throws, that is reported on stderr together with the original exception,
/// and ignored.
using CallbackExceptionHook = std::function<void(const CallbackExceptionArgs&)>;
/// Installs `hook` (an empty function restores the default,
/// default_callback_exception_hook). Returns the previous hook (empty if the
/// default was in place). Thread-safe.
CallbackExceptionHook set_callback_exception_hook(CallbackExceptionHook hook);
/// The default hook: prints "exception calling callback for <Future at 0x...
/// state=finished>" (or cancelled) and "TYPE: MESSAGE" on stderr.
void default_callback_exception_hook(const CallbackExceptionArgs& args);

// ---------------------------------------------------------------------------
// wait() and as_completed()
// ---------------------------------------------------------------------------

/// When wait() returns (Python's constants).
enum ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };

/// What wait() returns: the futures done and not done, each once, in the
/// order they first appear in the input (Python returns two sets).
template <class F>
struct DoneAndNotDoneFutures {
  std::vector<F> done;
  std::vector<F> not_done;
};

namespace detail {

template <class R>
using future_of_range = std::remove_cvref_t<std::ranges::range_reference_t<R>>;

/// Copies the futures of `fs`, each once (duplicates removed, C99).
template <class F, class R>
std::vector<F> unique_futures(R&& fs) {
  std::vector<F> out;
  std::unordered_set<const void*> seen;
  for (auto&& f : fs) {
    const FutureBase& b = f;
    if (FutureAccess::state(b) == nullptr) FutureStateBase::throw_empty();
    if (seen.insert(FutureAccess::state(b)).second) out.push_back(f);
  }
  return out;
}

/// Blocks until `mode` holds for `states` or `deadline` (the non-template core).
void wait_states(const std::vector<FutureStateBase*>& states, Deadline deadline, ReturnWhen mode);

template <class F>
DoneAndNotDoneFutures<F> wait_impl(std::vector<F> fs, Deadline deadline, ReturnWhen mode) {
  std::vector<FutureStateBase*> states;
  states.reserve(fs.size());
  for (const FutureBase& f : fs) states.push_back(FutureAccess::state(f));
  wait_states(states, deadline, mode);
  DoneAndNotDoneFutures<F> r;
  for (auto& f : fs)
    (static_cast<const FutureBase&>(f).done() ? r.done : r.not_done).push_back(std::move(f));
  return r;
}

}  // namespace detail

/// Blocks until `return_when` holds for the futures in `fs` (any range of
/// Future<T> or FutureBase): FIRST_COMPLETED - any is done; FIRST_EXCEPTION -
/// any finished with an exception, or all are done; ALL_COMPLETED - all are
/// done (C99). Returns the done and not-done futures, duplicates removed.
/// Cancelled futures count as done.
template <std::ranges::input_range R>
auto wait(R&& fs, ReturnWhen return_when = ALL_COMPLETED) {
  using F = detail::future_of_range<R>;
  return detail::wait_impl(detail::unique_futures<F>(fs), detail::Deadline::never(), return_when);
}
/// As wait(fs, return_when), returning when `timeout` has passed even if the
/// condition does not hold (no exception: look at not_done).
template <std::ranges::input_range R, class Rep, class Period>
auto wait(R&& fs, std::chrono::duration<Rep, Period> timeout,
          ReturnWhen return_when = ALL_COMPLETED) {
  using F = detail::future_of_range<R>;
  const detail::Deadline d = detail::future_deadline(timeout);
  return detail::wait_impl(detail::unique_futures<F>(fs), d, return_when);
}
/// wait({f1, f2, ...}) for futures of mixed result types.
inline DoneAndNotDoneFutures<FutureBase> wait(std::initializer_list<FutureBase> fs,
                                              ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(detail::unique_futures<FutureBase>(fs), detail::Deadline::never(),
                           return_when);
}
template <class Rep, class Period>
DoneAndNotDoneFutures<FutureBase> wait(std::initializer_list<FutureBase> fs,
                                       std::chrono::duration<Rep, Period> timeout,
                                       ReturnWhen return_when = ALL_COMPLETED) {
  const detail::Deadline d = detail::future_deadline(timeout);
  return detail::wait_impl(detail::unique_futures<FutureBase>(fs), d, return_when);
}

/// The range returned by as_completed(): yields each future once, those
/// already done first, then each as it completes (C100). Iterating blocks;
/// when the deadline (measured from the as_completed call) passes with
/// futures unfinished, the increment throws TimeoutError
/// "N (of M) futures unfinished". An input range: iterate it once.
template <class F>
class AsCompleted {
 public:
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  ~AsCompleted() {
    for (std::size_t i : installed_) state(i)->remove_waiter(&nodes_[i]);
  }

  /// An input iterator (detail::PullIterator); the sentinel is std::default_sentinel.
  using iterator = detail::PullIterator<AsCompleted, F>;

  /// Blocks for the first future (may throw TimeoutError).
  iterator begin() { return advance() ? iterator(this) : iterator(); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend struct detail::FutureAccess;
  AsCompleted(std::vector<F> fs, detail::Deadline deadline)
      : fs_(std::move(fs)), deadline_(deadline), nodes_(fs_.size()) {
    for (std::size_t i = 0; i < fs_.size(); ++i) {
      nodes_[i].waiter = &waiter_;
      nodes_[i].index = i;
      if (state(i)->add_waiter(&nodes_[i])) {
        installed_.push_back(i);
        ++pending_;
      } else {
        ready_.push_back(i);
      }
    }
    std::reverse(ready_.begin(), ready_.end());  // popped from the back
  }
  friend iterator;
  F& current() { return fs_[current_]; }
  detail::FutureStateBase* state(std::size_t i) const {
    return detail::FutureAccess::state(fs_[i]);
  }
  bool advance() {
    while (ready_.empty()) {
      if (pending_ == 0) return false;
      if (!waiter_.wait_any_until(deadline_)) {
        throw TimeoutError(std::to_string(pending_) + " (of " + std::to_string(fs_.size()) +
                           ") futures unfinished");
      }
      std::vector<std::size_t> got;
      waiter_.take_finished(got);
      pending_ -= got.size();
      ready_.insert(ready_.end(), got.rbegin(), got.rend());
    }
    current_ = ready_.back();
    ready_.pop_back();
    return true;
  }

  std::vector<F> fs_;
  detail::Deadline deadline_;
  detail::MultiWaiter waiter_{detail::MultiWaiter::kFirstCompleted};
  std::vector<detail::MultiWaiter::Node> nodes_;
  std::vector<std::size_t> installed_;
  std::vector<std::size_t> ready_;
  std::size_t pending_ = 0;
  std::size_t current_ = 0;
};

/// Python's as_completed(fs): see AsCompleted. Duplicates are yielded once.
template <std::ranges::input_range R>
AsCompleted<detail::future_of_range<R>> as_completed(R&& fs) {
  using F = detail::future_of_range<R>;
  return detail::FutureAccess::make<AsCompleted<F>>(detail::unique_futures<F>(fs),
                                                    detail::Deadline::never());
}
/// as_completed(fs, timeout): TimeoutError once `timeout` from now has passed.
template <std::ranges::input_range R, class Rep, class Period>
AsCompleted<detail::future_of_range<R>> as_completed(R&& fs,
                                                     std::chrono::duration<Rep, Period> timeout) {
  using F = detail::future_of_range<R>;
  const detail::Deadline d = detail::future_deadline(timeout);
  return detail::FutureAccess::make<AsCompleted<F>>(detail::unique_futures<F>(fs), d);
}

}  // namespace spindle

template <>
struct std::hash<spindle::FutureBase> {
  std::size_t operator()(const spindle::FutureBase& f) const noexcept {
    return std::hash<const void*>()(spindle::detail::FutureAccess::state(f));
  }
};
template <class T>
struct std::hash<spindle::Future<T>> {
  std::size_t operator()(const spindle::Future<T>& f) const noexcept {
    return std::hash<const void*>()(spindle::detail::FutureAccess::state(f));
  }
};
