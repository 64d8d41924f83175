// spindle/thread_pool.hpp - concurrent.futures.ThreadPoolExecutor.
//
// spindle/futures.hpp is the manual of the futures family; this header holds
// the thread pool's options and class.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "spindle/executor.hpp"

namespace spindle {

namespace detail {
class PoolCore;
}

/// Options of ThreadPoolExecutor, for designated initialisers:
/// `ThreadPoolExecutor pool({.max_workers = 4, .thread_name_prefix = "io"});`
struct ThreadPoolOptions {
  /// Unset: min(32, hardware threads + 4). Set to <= 0: ValueError (C90).
  std::optional<int> max_workers = {};
  /// Workers are named "<prefix>_<n>", n from 0. Empty: "ThreadPoolExecutor-<k>".
  std::string thread_name_prefix = {};
  /// Run first in each worker; if it throws, the pool breaks (C94).
  std::function<void()> initializer = {};
};

/// concurrent.futures.ThreadPoolExecutor.
///
/// Workers are spindle::Thread (non-daemon) named "<prefix>_<n>". They start
/// lazily: submit() reuses an idle worker if there is one, else starts a new
/// one while fewer than max_workers run. An exception thrown by a task goes
/// into its future, never to the worker. If the initializer throws, it is
/// reported on stderr ("Exception in initializer:"), the pool is broken:
/// queued futures fail with BrokenThreadPool and so does every later
/// submit() (C94).
///
/// Order and work stealing. Tasks submitted from other threads are queued
/// first in, first out. A task submitted by one of the pool's own tasks goes
/// to that worker's own queue (also first in, first out); the worker takes
/// from it first, and idle workers take from it too. So with two or more
/// workers, a task's submits may start before earlier submits of other
/// threads. A 1-worker pool runs every task in the order it was submitted,
/// whoever submitted it, as Python's does.
///
/// Waiting inside a task. A worker whose task waits without a timeout
/// (result(), exception(), wait(fs) for ALL_COMPLETED) for a task of this
/// pool that no thread has started runs that task itself, on its own thread
/// (up to 256 levels deep while 64 KiB of its stack remain; past that it
/// waits). A recursive fan-out - a task that submits tasks and waits for
/// them - therefore completes on any number of workers, one included, where
/// Python deadlocks once every worker waits. Timed waits only wait, as in
/// Python: result(50ms) on a task queued behind the waiter raises
/// TimeoutError. The one difference a program can see: a task that waits
/// untimed while holding a recursive lock (RLock) that the waited-for task
/// takes hangs in Python, and here runs that task inside its critical
/// section.
///
/// At process exit (the thread layer's exit hook, before non-daemon threads
/// are joined) every live pool is shut down, its queued work completes and
/// its workers are joined (C103); submit() then throws RuntimeError.
///
/// The destructor is shutdown(true) (C102), without the exception that
/// shutdown throws in one of the pool's own workers. Don't destroy a pool
/// from one of its own tasks (other handles to it would dangle).
///
/// fork(). The workers do not exist in a child process. A pthread_atfork
/// handler resets, in the child, every pool that existed at the fork: its
/// worker count starts again from zero (a worker that itself called fork()
/// is kept), submit() starts fresh workers, and shutdown, the destructor and
/// the exit hook wait only for workers of the child. Tasks still queued at the
/// fork are the parent's work: the parent runs them; the child does not
/// (it would run them twice) but cancels its copies of their futures at its
/// first submit, shutdown, destruction of the pool or exit, so a child
/// waiting on one after that gets CancelledError. A task that was running in a parent worker
/// stays running forever in the child's copy. Python's pool does none of
/// this (its child hangs on submit when the parent had an idle worker).
class ThreadPoolExecutor final : public Executor {
 public:
  /// max_workers = min(32, hardware threads + 4).
  ThreadPoolExecutor() : ThreadPoolExecutor(ThreadPoolOptions{}) {}
  /// Throws ValueError "max_workers must be greater than 0" if max_workers <= 0 (C90).
  explicit ThreadPoolExecutor(int max_workers, std::string thread_name_prefix = {},
                              std::function<void()> initializer = {})
      : ThreadPoolExecutor(ThreadPoolOptions{max_workers, std::move(thread_name_prefix),
                                             std::move(initializer)}) {}
  explicit ThreadPoolExecutor(ThreadPoolOptions options);
  ~ThreadPoolExecutor() override;

  /// Stops accepting work (later submit: RuntimeError, C91). With
  /// cancel_futures, cancels every queued task (C93); running ones finish.
  /// Queued tasks not cancelled still run. With wait, blocks until every
  /// worker has exited (all queued work done). Calling it again is allowed
  /// (C92).
  ///
  /// Called with wait from one of this pool's own workers (a task, a
  /// done-callback or the initializer running there), it does what Python's
  /// does: the shutdown takes effect, then it waits for the other workers -
  /// except those that are themselves inside shutdown or exiting, so that
  /// two workers never wait for each other - and throws RuntimeError
  /// "cannot join current thread" when it comes to the calling worker.
  void shutdown(bool wait = true, bool cancel_futures = false) override;

  /// The configured maximum number of workers.
  [[nodiscard]] int max_workers() const noexcept;
  /// The prefix of the workers' names.
  [[nodiscard]] const std::string& thread_name_prefix() const noexcept;
  /// Number of worker threads started so far (a snapshot; Python's
  /// len(_threads)); in a forked child, only those of the child. Never more
  /// than max_workers().
  [[nodiscard]] int num_threads() const noexcept;

 protected:
  void schedule(Task task) override;

 private:
  std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace spindle
