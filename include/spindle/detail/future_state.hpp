// spindle/detail/future_state.hpp - the shared block behind every Future.
//
// Not for users: see spindle/futures.hpp. A future's state lives in one
// reference-counted heap block. The block of a task submitted to an executor
// also holds the task's callable and the intrusive link of the executor's work
// queue, so submit() makes exactly one allocation.
//
// The state word (32 bits, also the futex word that result() parks on):
//
//   bits 0-2  Python's states, plus COMPLETING: the short window in which the
//             thread that won set_result/set_exception writes the value
//   bit 3     PARKED: some thread is parked on the word (wake them when done)
//   bit 4     LISTENERS: callbacks or waiters were added (take the lock when
//             done); sticky once set
//
// Transitions are compare-and-swap on the word, so the common path (no
// callbacks, nobody parked) takes no lock and makes no system call. The
// per-future Lock guards only the listener list.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/detail/park.hpp"
#include "spindle/errors.hpp"
#include "spindle/lock.hpp"

namespace spindle::detail {

/// The iterator of a range that produces its elements one at a time (map's
/// results, as_completed's futures): `Owner` has `bool advance()` - move to
/// the next element, false at the end; it may block and may throw - and
/// `V& current()`. A single-pass input iterator; compares equal to
/// std::default_sentinel at the end.
template <class Owner, class V>
class PullIterator {
 public:
  using value_type = V;
  using difference_type = std::ptrdiff_t;
  PullIterator() = default;
  explicit PullIterator(Owner* owner) noexcept : owner_(owner) {}
  V& operator*() const { return owner_->current(); }
  V* operator->() const { return &owner_->current(); }
  PullIterator& operator++() {
    if (!owner_->advance()) owner_ = nullptr;
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const PullIterator& it, std::default_sentinel_t) noexcept {
    return it.owner_ == nullptr;
  }

 private:
  Owner* owner_ = nullptr;
};

class FutureStateBase;

/// Something told when a future becomes done: a done-callback, or the node
/// of a wait()/as_completed() call. Kept in a FIFO list guarded by the
/// future's lock.
class Listener {
 public:
  explicit Listener(bool is_callback) noexcept : is_callback_(is_callback) {}
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  virtual ~Listener() = default;
  /// Waiter nodes: called with the future's lock held; must not throw.
  /// Callbacks: called without locks; may throw (reported, ignored: C98).
  virtual void fire(FutureStateBase& state) = 0;

 private:
  friend class FutureStateBase;
  Listener* next_ = nullptr;
  bool is_callback_;
};

/// A done-callback holding the user's callable.
template <class F>
class CallbackNode final : public Listener {
 public:
  explicit CallbackNode(F fn) : Listener(true), fn_(std::move(fn)) {}
  void fire(FutureStateBase& state) override { fn_(state); }

 private:
  F fn_;
};

/// The allocator of futures' blocks (src/block_alloc.cpp): per-thread
/// free lists by size class, no header, memory kept for later blocks.
/// block_alloc throws std::bad_alloc when the system has no memory.
void* block_alloc(std::size_t size);
void block_free(void* p, std::size_t size) noexcept;

class FutureStateBase {
 public:
  // Every block (a Future's, a submitted task's) comes from block_alloc.
  // Only the sized delete is declared, on purpose: with both forms at class
  // scope, C++ would pick the unsized one, and the allocator needs the size.
  // NOLINTNEXTLINE(misc-new-delete-overloads)
  static void* operator new(std::size_t size) { return block_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { block_free(p, size); }
  // Over-aligned blocks (a callable or a result with alignas above 16).
  static void* operator new(std::size_t size, std::align_val_t al) {
    return ::operator new(size, al);
  }
  static void operator delete(void* p, std::align_val_t al) noexcept { ::operator delete(p, al); }

  enum : std::uint32_t {
    kPending = 0,
    kRunning = 1,
    kCancelled = 2,
    kCancelledNotified = 3,
    kFinished = 4,
    kCompleting = 5,
  };
  static constexpr std::uint32_t kStateMask = 7;
  static constexpr std::uint32_t kParked = 8;
  static constexpr std::uint32_t kListeners = 16;

  FutureStateBase() noexcept = default;
  FutureStateBase(const FutureStateBase&) = delete;
  FutureStateBase& operator=(const FutureStateBase&) = delete;

  // ---- references ------------------------------------------------------
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

  // ---- queries ---------------------------------------------------------
  static constexpr bool is_done(std::uint32_t w) noexcept {
    const std::uint32_t s = w & kStateMask;
    return s == kCancelled || s == kCancelledNotified || s == kFinished;
  }
  static constexpr bool is_cancelled(std::uint32_t w) noexcept {
    const std::uint32_t s = w & kStateMask;
    return s == kCancelled || s == kCancelledNotified;
  }
  [[nodiscard]] std::uint32_t word() const noexcept {
    return word_.load(std::memory_order_acquire);
  }
  [[nodiscard]] bool done() const noexcept { return is_done(word()); }
  [[nodiscard]] bool cancelled() const noexcept { return is_cancelled(word()); }
  [[nodiscard]] bool running() const noexcept {
    const std::uint32_t s = word() & kStateMask;
    return s == kRunning || s == kCompleting;
  }
  /// Finished with an exception (not cancelled). Only meaningful once done.
  [[nodiscard]] bool failed() const noexcept {
    return (word() & kStateMask) == kFinished && exception_ != nullptr;
  }

  // ---- waiting ---------------------------------------------------------
  /// Blocks until done or `deadline`; true if done. Spins briefly, then
  /// parks on the state word (WaitSite "Future"). One exception to "a
  /// waiter only waits": an untimed wait by a ThreadPoolExecutor worker on a
  /// task of its own pool that no thread has started runs that task right
  /// there (help_run_queued, src/thread_pool.cpp), as a free worker would.
  bool wait_until(Deadline deadline) {
    if (done()) return true;
    return wait_slow(deadline);
  }

  // ---- transitions (Python's Future internals) -------------------------
  /// cancel(): true if pending (now cancelled) or already cancelled (C96).
  bool cancel();
  /// Executor protocol: pending -> running (true); cancelled -> cancelled
  /// and notified (false); any other state throws RuntimeError "Future in
  /// unexpected state" (also a second call on a cancelled future).
  bool set_running_or_notify_cancel();
  /// Like set_running_or_notify_cancel but never throws: false if the task
  /// must not run (cancelled, or already taken by another thread).
  bool try_claim() noexcept;
  /// Starts set_result/set_exception: claims the right to write the result.
  /// Throws InvalidStateError if finished or cancelled (C97).
  void begin_complete();
  /// As begin_complete, but false instead of throwing.
  bool try_begin_complete() noexcept;
  /// Publishes the result written since begin_complete; wakes and notifies.
  void end_complete() noexcept;
  /// set_exception: begin_complete, store, end_complete. Throws ValueError
  /// (and leaves the future as it was) if `e` is null.
  void set_exception(std::exception_ptr e);
  /// Fails a claimed task with `e` (never throws).
  void complete_exception(std::exception_ptr e) noexcept {
    exception_ = std::move(e);
    end_complete();
  }

  // ---- results ---------------------------------------------------------
  /// After done: the stored exception (null if none) and mark it retrieved.
  std::exception_ptr take_exception() noexcept {
    if (exception_) retrieved_.store(true, std::memory_order_relaxed);
    return exception_;
  }
  /// Throws CancelledError if cancelled, rethrows the task's exception.
  /// Requires done().
  void check_result() {
    const std::uint32_t w = word();
    if (is_cancelled(w)) throw_cancelled();
    if (exception_) {
      retrieved_.store(true, std::memory_order_relaxed);
      std::rethrow_exception(exception_);
    }
  }
  [[noreturn]] static void throw_cancelled();
  [[noreturn]] static void throw_timeout();
  [[noreturn]] static void throw_empty();

  // ---- listeners -------------------------------------------------------
  /// Adds a done-callback, or runs it at once if already done (C98). Takes
  /// ownership of `node`.
  void add_callback(Listener* node);
  /// Adds a waiter node; false (and not added) if already done.
  bool add_waiter(Listener* node);
  /// Removes a waiter node if still listed.
  void remove_waiter(Listener* node) noexcept;

  // ---- executor support ------------------------------------------------
  /// Runs the task held by this block; it has been claimed (try_claim).
  virtual void run_claimed() noexcept {}
  /// The intrusive link of an executor's work queue.
  FutureStateBase* next_ = nullptr;
  /// The ThreadPoolExecutor this task was queued in (its non-zero id), or 0.
  /// Written once by submit(), before the task is visible to any other
  /// thread.
  void set_queued_in(std::uint32_t pool_id) noexcept { queued_in_ = pool_id; }
  [[nodiscard]] std::uint32_t queued_in() const noexcept { return queued_in_; }

 protected:
  virtual ~FutureStateBase();
  /// Called when the last reference goes. Default: delete this.
  virtual void destroy() noexcept { delete this; }

  std::exception_ptr exception_;

 private:
  bool wait_slow(Deadline deadline);
  void notify_listeners() noexcept;
  [[noreturn]] void throw_invalid_state() const;

  std::atomic<std::uint32_t> word_{kPending};
  std::atomic<std::uint32_t> refs_{1};
  std::atomic<bool> retrieved_{false};
  std::uint32_t queued_in_ = 0;  // fills the padding after retrieved_
  Lock lock_;                    // guards head_/tail_
  Listener* head_ = nullptr;     // FIFO of listeners
  Listener* tail_ = nullptr;
};

/// The untimed-wait helper of ThreadPoolExecutor (src/thread_pool.cpp): if
/// the calling thread is a worker of the pool `s` was queued in, no thread
/// has started `s` and the worker has stack to spare, runs `s` on the
/// calling thread and returns true. Otherwise returns false at once.
bool help_run_queued(FutureStateBase& s) noexcept;

/// A future's block with storage for its value.
template <class T>
class FutureState : public FutureStateBase {
 public:
  /// set_result: throws InvalidStateError if already finished or cancelled.
  template <class U>
  void set_result(U&& value) {
    begin_complete();
    emplace_and_publish(std::forward<U>(value));
  }
  /// For a claimed task: store and publish (never throws; a throwing move
  /// becomes the future's exception).
  template <class U>
  void emplace_and_publish(U&& value) noexcept {
    try {
      value_.emplace(std::forward<U>(value));
    } catch (...) {
      exception_ = std::current_exception();
    }
    end_complete();
  }
  T& value() noexcept { return *value_; }

 private:
  std::optional<T> value_;
};

template <>
class FutureState<void> : public FutureStateBase {
 public:
  void set_result() {
    begin_complete();
    end_complete();
  }
  void emplace_and_publish() noexcept { end_complete(); }
};

/// A submitted task: a future's block plus the callable that computes it.
/// Created with two references: one for the returned Future, one for the
/// executor's queue.
template <class T, class Fn>
class TaskState final : public FutureState<T> {
 public:
  explicit TaskState(Fn fn) : fn_(std::in_place, std::move(fn)) { this->add_ref(); }
  void run_claimed() noexcept override {
    constexpr bool kVoid = std::is_void_v<T>;
    [[maybe_unused]] std::optional<std::conditional_t<kVoid, char, T>> r;
    std::exception_ptr e;
    try {
      if constexpr (kVoid) {
        (*fn_)();
      } else {
        r.emplace((*fn_)());
      }
    } catch (...) {
      e = std::current_exception();
    }
    drop_callable(e);
    if (e) {
      this->complete_exception(std::move(e));
    } else if constexpr (kVoid) {
      this->emplace_and_publish();
    } else {
      this->emplace_and_publish(std::move(*r));
    }
  }

 private:
  // The callable and its bound arguments are released before the result is
  // published, so a thread that returns from result() sees them destroyed.
  void drop_callable(std::exception_ptr& e) noexcept {
    try {
      fn_.reset();
    } catch (...) {
      if (!e) e = std::current_exception();
    }
  }
  std::optional<Fn> fn_;
};

/// The multi-future waiter behind wait() and as_completed() (Python's
/// _Waiter family). One node per future is listed on that future; a node
/// fires under the future's lock and records the future's index here.
class MultiWaiter {
 public:
  enum Mode { kFirstCompleted, kFirstException, kAllCompleted };
  explicit MultiWaiter(Mode mode) noexcept : mode_(mode) {}

  class Node final : public Listener {
   public:
    Node() noexcept : Listener(false) {}
    void fire(FutureStateBase& state) override;
    MultiWaiter* waiter = nullptr;
    std::size_t index = 0;
  };

  /// Sets how many installed futures ALL/FIRST_EXCEPTION waits for.
  void set_target(std::size_t n) noexcept;
  /// Blocks until the mode's condition holds or `deadline`; true if it holds.
  bool wait_until(Deadline deadline) noexcept;
  /// Moves out the indices finished since the last call (as_completed).
  void take_finished(std::vector<std::size_t>& out) noexcept;
  /// Blocks until something finished or `deadline`; true if so.
  bool wait_any_until(Deadline deadline) noexcept;

 private:
  void on_done(std::size_t index, bool failed) noexcept;
  bool satisfied(bool any) const noexcept;  // takes lock_
  bool satisfied_locked(bool any) const noexcept;
  bool wait_for(Deadline deadline, bool any) noexcept;

  Mode mode_;
  mutable Lock lock_;
  std::vector<std::size_t> finished_;
  std::size_t count_ = 0;
  std::size_t target_ = static_cast<std::size_t>(-1);
  bool exception_seen_ = false;
  std::atomic<std::uint32_t> signal_{0};  // 0 idle, 1 signalled, 2 parked
};

}  // namespace spindle::detail
