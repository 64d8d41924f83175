// spindle/executor.hpp - concurrent.futures.Executor, map() and the API for
// writing an executor.
//
// Users call submit(), map() and shutdown() on a concrete executor
// (ThreadPoolExecutor, ProcessPoolExecutor); spindle/futures.hpp is their
// manual. This header is also the whole of what an executor writer needs:
// derive from Executor, implement schedule(Task) and shutdown(), and run
// each Task where it should run (see Task).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "spindle/errors.hpp"
#include "spindle/future.hpp"
#include "spindle/lock.hpp"

namespace spindle {

namespace detail {
struct TaskAccess;
}  // namespace detail

/// Options of Executor::map (Python's map(..., timeout=, buffersize=)).
struct MapOptions {
  /// Time allowed for the whole map, measured from the map() call; an
  /// iteration that reaches a result not ready by then throws TimeoutError.
  std::optional<std::chrono::nanoseconds> timeout = {};
  /// Python 3.14's buffersize: map() submits only the first `buffersize`
  /// tasks, and each step of the range (begin(), each increment) submits
  /// one more before it waits for its result, so never more than
  /// `buffersize` tasks are submitted ahead of the one being consumed.
  /// Unset = every input submitted by map() itself. Values < 1 throw
  /// ValueError "buffersize must be None or > 0".
  std::optional<long> buffersize = {};
};

namespace detail {

/// Lets a map() range ask whether its executor still exists (Python keeps a
/// weak reference for the same purpose).
struct ExecutorAnchor {
  Lock lock;
  Executor* executor = nullptr;
};

template <class R>
class MapSource {
 public:
  virtual ~MapSource() = default;
  /// Submits the task for the next input tuple; false at the end of the inputs.
  virtual bool submit_next(Executor& ex, std::deque<Future<R>>& out) = 0;
};

/// True if the last of A... is (a possibly const reference to) Options.
template <class Options, class... A>
struct last_is : std::false_type {};
template <class Options, class A>
struct last_is<Options, A> : std::is_same<std::remove_cvref_t<A>, Options> {};
template <class Options, class A, class B, class... C>
struct last_is<Options, A, B, C...> : last_is<Options, B, C...> {};

/// The trailing-options convention of every executor's map(fn, ranges...,
/// [options]): calls impl(options, fn, ranges...) with the trailing Options
/// argument if there is one, else with Options{}.
template <class Options, class Impl, class F, class... A>
auto with_trailing_options(Impl&& impl, F&& fn, A&&... a) {
  if constexpr (last_is<Options, A...>::value) {
    auto t = std::forward_as_tuple(std::forward<A>(a)...);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return impl(std::get<sizeof...(A) - 1>(t), std::forward<F>(fn), std::get<I>(std::move(t))...);
    }(std::make_index_sequence<sizeof...(A) - 1>{});
  } else {
    return impl(Options{}, std::forward<F>(fn), std::forward<A>(a)...);
  }
}

template <class F, class... A>
using submit_result_t =
    std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>;

}  // namespace detail

/// The range returned by Executor::map: the results in input order (C101).
/// Python's map submits its tasks and returns a generator; this range is
/// that generator:
///   * begin() starts it (Python's first next()): from then on it blocks for
///     each result in turn. Reaching a task that threw rethrows its
///     exception, and reaching a result not ready by the map's deadline
///     throws TimeoutError (the increment or begin() throws); either ends
///     the range at once, as an exception ends Python's generator: the
///     undelivered futures are cancelled and the next increment reaches the
///     end.
///   * Dropping a started range cancels the futures whose results were not
///     delivered (the generator's `finally`).
///   * Dropping a range whose begin() was never called cancels nothing: every
///     task submitted by map() runs, as in Python, where closing a generator
///     that never started does not run its `finally` (bpo-11777).
///   * With MapOptions::buffersize, each step first submits the task for the
///     next input (while inputs remain and the executor exists), then waits:
///     at most buffersize tasks are ever submitted ahead of the consumer.
/// An input range: iterate it once. The yielded R& lives until the next
/// increment. Moving the range moves all of this; the moved-from range is
/// empty and cancels nothing.
template <class R>
class MapResults {
 public:
  MapResults(MapResults&& o) noexcept
      : fs_(std::move(o.fs_)),
        src_(std::move(o.src_)),
        anchor_(std::move(o.anchor_)),
        deadline_(o.deadline_),
        current_(std::move(o.current_)),
        started_(std::exchange(o.started_, false)) {
    o.fs_.clear();
  }
  MapResults& operator=(MapResults&&) = delete;
  ~MapResults() {
    if (started_) finish();
  }

  /// An input iterator (detail::PullIterator); the sentinel is std::default_sentinel.
  using iterator = detail::PullIterator<MapResults, R>;

  /// Starts the range and blocks for the first result (may throw, see above).
  iterator begin() { return advance() ? iterator(this) : iterator(); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend struct detail::FutureAccess;
  MapResults(std::deque<Future<R>> fs, std::unique_ptr<detail::MapSource<R>> src,
             std::shared_ptr<detail::ExecutorAnchor> anchor, detail::Deadline deadline)
      : fs_(std::move(fs)), src_(std::move(src)), anchor_(std::move(anchor)), deadline_(deadline) {}
  friend iterator;
  R& current() { return current_.result(); }
  bool advance() {
    started_ = true;
    if (fs_.empty()) return false;
    try {
      if (src_) {  // buffersize: submit one more before waiting (Python's order)
        std::scoped_lock guard(anchor_->lock);
        if (anchor_->executor == nullptr || !src_->submit_next(*anchor_->executor, fs_)) {
          src_.reset();
        }
      }
      current_ = std::move(fs_.front());
      fs_.pop_front();
      try {
        current_.result_until(deadline_);
      } catch (...) {
        current_.cancel();  // Python's _result_or_cancel
        throw;
      }
    } catch (...) {
      finish();
      throw;
    }
    return true;
  }
  // The generator's `finally`: cancel what was not delivered, submit no more.
  void finish() noexcept {
    for (auto& f : fs_) f.cancel();
    fs_.clear();
    src_.reset();
  }

  std::deque<Future<R>> fs_;
  std::unique_ptr<detail::MapSource<R>> src_;
  std::shared_ptr<detail::ExecutorAnchor> anchor_;
  detail::Deadline deadline_;
  Future<R> current_ = detail::FutureAccess::adopt<Future<R>>(nullptr);
  bool started_ = false;
};

/// A task as its executor sees it: the callable submitted with its
/// arguments, together with the Future it completes, in one move-only
/// handle. Executor::submit() creates it and hands it to the executor's
/// schedule(); the executor keeps it in its queue and, on the thread that
/// is to run it, calls run(). That is the whole protocol of an executor of
/// local callables (ThreadPoolExecutor is written this way). An executor
/// that computes results elsewhere (another process, another machine)
/// instead creates a Future<R>() itself and completes it with
/// set_running_or_notify_cancel(), set_result() and set_exception(), as
/// Python's executors do.
///
/// Every member is safe to call from any thread, but a Task handle itself
/// is not shared: one thread at a time uses it.
class Task {
 public:
  /// An empty handle.
  Task() noexcept = default;
  Task(Task&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      drop();
      s_ = std::exchange(other.s_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  /// A task dropped without run() or fail() is cancelled, so nobody waits
  /// for it forever (waiters get CancelledError).
  ~Task() { drop(); }

  /// Python's `if future.set_running_or_notify_cancel(): run the call`: if
  /// the future is pending, marks it running, calls the callable and
  /// completes the future with its value or exception (never thrown here),
  /// then runs the done-callbacks in this thread; returns true. If the
  /// future was cancelled, only tells its waiters and returns false. The
  /// handle is empty afterwards. Throws InvalidStateError on an empty handle.
  bool run();
  /// Fails a task that has not started with `e` (Python's executors do this
  /// with BrokenThreadPool when the pool breaks): true if the future now
  /// holds `e`, false if it had been cancelled. The handle is empty
  /// afterwards. Throws ValueError if `e` is null, InvalidStateError on an
  /// empty handle.
  bool fail(std::exception_ptr e);
  /// Cancels the task's future if it has not started (Future::cancel()).
  bool cancel();
  /// True if the task's future was cancelled.
  [[nodiscard]] bool cancelled() const;
  /// False for an empty handle.
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  friend struct detail::TaskAccess;
  explicit Task(detail::FutureStateBase* s) noexcept : s_(s) {}
  detail::FutureStateBase& state() const;
  void drop() noexcept;
  detail::FutureStateBase* s_ = nullptr;
};

namespace detail {
/// How spindle's executors reach the state behind a Task; not for users.
struct TaskAccess {
  static Task make(FutureStateBase* s) noexcept { return Task(s); }
  static FutureStateBase* peek(const Task& t) noexcept { return t.s_; }
  static FutureStateBase* release(Task& t) noexcept { return std::exchange(t.s_, nullptr); }
};
}  // namespace detail

/// concurrent.futures.Executor: submit() and map() over a virtual schedule().
/// An executor writer derives from it and implements schedule() and shutdown().
class Executor {
 public:
  Executor() : anchor_(std::make_shared<detail::ExecutorAnchor>()) { anchor_->executor = this; }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() { retire(); }

  /// Schedules fn(args...) and returns its Future<R>, R deduced from the
  /// call. fn and args are decay-copied (moved if rvalues) into the task, as
  /// for std::thread, and invoked as rvalues once. Throws what schedule()
  /// throws (ThreadPoolExecutor: RuntimeError after shutdown (C91),
  /// BrokenThreadPool if broken (C94)). Never blocks on the task.
  template <class F, class... A>
  [[nodiscard]] Future<detail::submit_result_t<F, A...>> submit(F&& fn, A&&... args) {
    using R = detail::submit_result_t<F, A...>;
    auto bound = [f = std::forward<F>(fn), ... a = std::forward<A>(args)]() mutable -> R {
      return std::invoke(std::move(f), std::move(a)...);
    };
    auto* task = new detail::TaskState<R, decltype(bound)>(std::move(bound));
    Future<R> fut = detail::FutureAccess::adopt<Future<R>>(task);
    schedule(detail::TaskAccess::make(task));  // on throw, the Task cancels the unseen future
    return fut;
  }

  /// Python's map(fn, *iterables, timeout=None, buffersize=None): calls fn
  /// on each tuple of items of the input ranges (zipped; stops at the
  /// shortest) and returns a MapResults range of the results in input order.
  /// A trailing MapOptions sets timeout and buffersize. Without buffersize
  /// every task is submitted before map returns; with it, lvalue input
  /// ranges must outlive the returned range (rvalue ones are moved in).
  /// fn is shared by the tasks. The timeout counts from this call (C101).
  template <class F, class... A>
  [[nodiscard]] auto map(F&& fn, A&&... a) {
    return detail::with_trailing_options<MapOptions>(
        [this](const MapOptions& o, auto&& f, auto&&... r) {
          return map_impl(o, std::forward<decltype(f)>(f), std::forward<decltype(r)>(r)...);
        },
        std::forward<F>(fn), std::forward<A>(a)...);
  }

  /// Stops accepting work; see the derived executor for what it does with
  /// queued work. Calling it twice is allowed (C92).
  virtual void shutdown(bool wait = true, bool cancel_futures = false) = 0;

 protected:
  /// Takes `task` for running: queue it and, on the thread that should run
  /// it, call task.run(). Called by submit() on the submitting thread;
  /// an exception thrown here (e.g. RuntimeError after shutdown) reaches the
  /// caller of submit(), and the task, dropped, is cancelled.
  virtual void schedule(Task task) = 0;
  /// Detaches live map() ranges; a derived destructor calls it first.
  void retire() noexcept {
    std::scoped_lock guard(anchor_->lock);
    anchor_->executor = nullptr;
  }

 private:
  template <class R, class Fn, class... Rs>
  class Source;

  template <class F, class... Rs>
  auto map_impl(const MapOptions& opt, F&& fn, Rs&&... rs);

  std::shared_ptr<detail::ExecutorAnchor> anchor_;
};

template <class R, class Fn, class... Rs>
class Executor::Source final : public detail::MapSource<R> {
 public:
  explicit Source(std::shared_ptr<Fn> fn, Rs&&... rs)
      : fn_(std::move(fn)),
        views_(std::views::all(std::forward<Rs>(rs))...),
        its_(std::apply([](auto&... v) { return std::tuple(std::ranges::begin(v)...); }, views_)) {}

  bool submit_next(Executor& ex, std::deque<Future<R>>& out) override {
    if (at_end(std::index_sequence_for<Rs...>{})) return false;
    out.push_back(std::apply(
        [&](auto&... it) {
          return ex.submit(
              [fn = fn_](auto&&... x) -> R {
                return std::invoke(*fn, std::forward<decltype(x)>(x)...);
              },
              *it...);
        },
        its_));
    std::apply([](auto&... it) { (++it, ...); }, its_);
    return true;
  }

 private:
  template <std::size_t... I>
  bool at_end(std::index_sequence<I...>) {
    return ((std::get<I>(its_) == std::ranges::end(std::get<I>(views_))) || ...);
  }
  std::shared_ptr<Fn> fn_;
  std::tuple<std::views::all_t<Rs>...> views_;
  std::tuple<std::ranges::iterator_t<std::views::all_t<Rs>>...> its_;
};

template <class F, class... Rs>
auto Executor::map_impl(const MapOptions& opt, F&& fn, Rs&&... rs) {
  static_assert(sizeof...(Rs) > 0, "map() needs at least one input range");
  using Fn = std::decay_t<F>;
  using R = std::remove_cvref_t<std::invoke_result_t<Fn&, std::ranges::range_value_t<Rs>&&...>>;
  static_assert(!std::is_void_v<R>,
                "map() needs a function that returns a value; use submit() for void");
  const detail::Deadline deadline =
      opt.timeout ? detail::future_deadline(*opt.timeout) : detail::Deadline::never();
  if (opt.buffersize && *opt.buffersize < 1) throw ValueError("buffersize must be None or > 0");
  std::unique_ptr<detail::MapSource<R>> src = std::make_unique<Source<R, Fn, Rs...>>(
      std::make_shared<Fn>(std::forward<F>(fn)), std::forward<Rs>(rs)...);
  std::deque<Future<R>> fs;
  if (opt.buffersize) {
    for (long i = 0; i < *opt.buffersize && src->submit_next(*this, fs); ++i) {
    }
  } else {
    while (src->submit_next(*this, fs)) {
    }
    src.reset();
  }
  return detail::FutureAccess::make<MapResults<R>>(std::move(fs), std::move(src), anchor_,
                                                   deadline);
}

}  // namespace spindle
