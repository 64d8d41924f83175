// spindle/process.hpp - Python's concurrent.futures.ProcessPoolExecutor.
//
//     int square(int x) { return x * x; }
//
//     spindle::ProcessPoolExecutor pool(4);                // or {.max_workers = 4, ...}
//     spindle::Future<int> f = pool.submit(square, 7);     // runs in a worker process
//     int v = f.result();                                  // 49; rethrows square's exception
//     for (int r : pool.map(square, std::vector{1, 2, 3}, spindle::ProcessMapOptions{.chunksize =
//     2}))
//       use(r);                                            // input order
//
// The same spindle::Future<R> as ThreadPoolExecutor, but every task runs in a
// separate worker process, so a task that crashes, leaks or corrupts memory
// cannot take the program down: the pool reports BrokenProcessPool and the
// program carries on.
//
// ## What can be submitted
//
// A task crosses to another process, so it is sent as data:
//   * the function: a plain function (pointer or reference), or a lambda
//     without captures (or another stateless function object). Workers run
//     the same executable, so the function is found there by its address
//     relative to its module (executable or shared library). A capturing
//     lambda, a std::function, a member function pointer are compile-time
//     errors that say so: pass the captured values as arguments instead.
//   * the arguments and the result: anything cereal's binary archive can
//     write and read back (the cereal type headers for the standard library
//     are included here): arithmetic types, enums, std::string, vector,
//     deque, list, array, map, unordered_map, set, pair, tuple, optional,
//     variant, unique_ptr/shared_ptr to such types, chrono durations, ...
//     A type of your own works once it has cereal's usual member
//         template <class Archive> void serialize(Archive& ar) { ar(a, b, c); }
//     and a default constructor (the receiving side loads into a default-
//     constructed object). C strings and std::string_view arguments are sent
//     as std::string. Pointers, references to the parent's memory, and types
//     without serialization are compile-time errors (static_assert naming
//     the rule); process_submittable<F, Args...> is the same check as a
//     concept.
// Arguments are serialised in submit() (a throw from a user's serialize()
// propagates from submit; nothing is queued); the result is deserialised in
// the pool's manager thread (a throw there becomes the future's exception).
//
// ## The worker program: static initializers run, main() never does
//
// StartMethod::spawn (the default) starts each worker as a new process of
// the same executable (/proc/self/exe, posix_spawn). A worker runs the
// program's static initializers and then, from an initializer inside
// spindle, serves tasks until the pool lets it go; it never runs main().
// This is Python's `if __name__ == "__main__":` rule, for C++:
//   * everything a task needs must come from its arguments, from static
//     initialisation, or from the pool's initializer - not from main();
//   * static initializers must not have effects outside the process (print
//     banners, write files, bind sockets, start servers or threads): every
//     worker runs them again;
//   * spindle's initializer runs after those of the objects linked before it
//     (your program's own object files, when spindle is a static library, as
//     CMake links it by default). With spindle as a shared library it runs
//     before your program's initializers: tasks must then not rely on your
//     program's dynamically initialised globals.
// Workers get /dev/null as standard input and share the parent's standard
// output and error. A worker flushes std::cout and C stdio (every stream;
// stdout and stderr only in a forked worker) after each task, before its
// result is sent, so a task's output appears before its future completes.
//
// StartMethod::fork starts a worker with fork() from the pool's manager
// thread: cheap (no exec, no static initializers, the worker sees whatever
// main() set up before the fork) but a copy of a process that has threads:
// only the forking thread exists in the child, so a lock another thread held
// at that moment stays held forever in the worker, and a task that takes it
// (malloc is safe; your own locks, spindle threads and pools are not) hangs.
// Use it only when you know no other thread holds such locks. (glibc's
// malloc guards itself across fork; the allocator of GCC 12's
// AddressSanitizer does not, so under ASan a thread allocating at that
// moment can leave a worker blocked. The thread that submits first waits
// while the workers are forked, so it is never that thread.) A fork worker
// leaves with _exit() after a task calls std::exit (the parent's atexit
// handlers, which would wait for threads that the child does not have, never
// run there). Python 3.14 made "forkserver" its Linux default for the same
// reason; spindle's default, spawn, never forks a multithreaded process.
// StartMethod::forkserver is not offered.
//
// Costs (measured on the 2-core box, docs/design/processes.md): a pool
// create + one task + destroy took 9-18 ms with spawn (an exec plus the
// program's static initialisation) and 9-11 ms with fork. With spawn, workers
// start lazily: submit() starts one when no worker is idle and fewer than
// max_workers run; they live until shutdown, or until they have run
// max_tasks_per_child tasks and are replaced. With fork, as in Python, the
// first submit() starts every worker, and waits until they are forked.
//
// ## Workers never outlive the pool, and nothing leaks
//
// A worker dies with its parent: it sets PR_SET_PDEATHSIG(SIGKILL) against
// the manager thread that started it, then checks that its parent is still
// the process that started it. Every worker is reaped (pidfd + waitid, no
// SIGCHLD handler): no zombies. Every descriptor is O_CLOEXEC and a worker
// closes every descriptor but its socket and 0-2 (close_range), so workers
// hold no descriptors of the parent's. The pool's own - a socket pair and a
// pidfd per worker, closed when the worker is reaped; an eventfd, closed
// with the pool - and, for payloads over 128 KiB, up to four memfds it
// received (256 MiB) plus the mappings of up to four it sent, kept for
// reuse and released with the last pool in the process.
//
// ## Failures
//
// A task's exception comes back as the same type for spindle's exceptions
// (errors.hpp, BrokenProcessPool, RemoteError) and the standard library's
// (std::exception, logic_error, invalid_argument, domain_error, length_error,
// out_of_range, runtime_error, range_error, overflow_error, underflow_error,
// system_error of the generic and system categories, bad_alloc, bad_cast,
// bad_typeid, bad_function_call, bad_optional_access, bad_variant_access,
// bad_weak_ptr, bad_array_new_length, bad_exception), with the same what().
// Any other type arrives as RemoteError (a RuntimeError) carrying the
// original type's demangled name and what() - Python chains a
// _RemoteTraceback; C++ has no traceback to send. A user exception type
// derived from std::runtime_error is therefore still caught by
// `catch (const std::runtime_error&)`, but not by its own type.
//
// A worker that dies while the pool runs - killed by a signal (a crash,
// abort(), SIGKILL from outside, the OOM killer), or exiting (std::exit in a
// task) - breaks the pool, as in Python: every pending and running future
// fails with BrokenProcessPool "A process in the process pool was
// terminated abruptly while the future was running or pending (CAUSE)",
// where CAUSE names the worker and how it died ("a worker process (pid 1234)
// was killed by signal 11 (Segmentation fault) while running a task"); the
// remaining workers are killed and reaped; later submit() throws
// BrokenProcessPool. Nothing hangs. An initializer that throws breaks the
// pool in the same way ("A process initializer failed, ..."), after the
// worker printed "Exception in initializer:" and the exception on stderr.
//
// ## Shutdown and exit (C91-C93, C102, C103 as for ThreadPoolExecutor)
//
// shutdown(wait=false) never strands work (cpython gh-119592): the manager
// thread keeps dispatching until every submitted task has completed, then
// lets the workers go. The destructor is shutdown(true). At process exit
// (spindle's exit hook, before non-daemon threads are joined) every live
// pool is shut down and its queued work completes first, unless it was
// cancelled. max_tasks_per_child replaces a worker that reached its quota
// without stranding queued tasks (cpython gh-115634: Python hung there).
//
// ## Threads and blocking
//
// Each pool has one manager thread, a non-daemon spindle::Thread named
// "ProcessPoolExecutor-N_manager" (started by the first submit), which
// blocks in poll(2) on the workers' sockets and pidfds and an eventfd that
// submit() and shutdown() signal. Futures are completed in that thread, so
// done-callbacks run there: keep them short, as in Python.
//
// Memory ordering: a thread that sees a future done (result(), wait(), a
// callback) sees the result fully decoded.
//
// ## What is not promised
//
// Which worker runs a task. The order in which tasks start beyond "submitted
// first, dispatched first". To keep tiny tasks flowing, the manager sends a
// worker up to 64 tasks at a time when tasks are short (it keeps about 2 ms
// of measured work queued per worker; 1 task while it knows nothing about
// their length); a dispatched task counts as running, as Python's call queue
// items do, so cancel() and shutdown(cancel_futures=true) no longer reach it.
// Output of different workers may interleave. Python 3.14's map(buffersize=)
// is not offered: map() submits every chunk at once, as Python did before.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/detail/process_codec.hpp"
#include "spindle/errors.hpp"
#include "spindle/executor.hpp"
#include "spindle/future.hpp"

namespace spindle {

/// concurrent.futures.process.BrokenProcessPool: a worker process died (or
/// its initializer threw) and the pool can no longer run work.
class BrokenProcessPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

/// An exception of a type that cannot be rebuilt in the parent, thrown by a
/// task in a worker process. what() is "TYPE: MESSAGE".
class RemoteError : public RuntimeError {
 public:
  RemoteError(std::string type_name, std::string message, long pid);
  /// The demangled type of the original exception ("my::ParseError", "int").
  [[nodiscard]] const std::string& type_name() const noexcept { return type_; }
  /// The original what() ("" if it was not a std::exception).
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  /// The worker process that threw it.
  [[nodiscard]] long pid() const noexcept { return pid_; }

 private:
  std::string type_;
  std::string message_;
  long pid_;
};

/// How worker processes start; see the file comment for what each costs and
/// requires.
enum class StartMethod {
  spawn,  ///< posix_spawn of /proc/self/exe; the default
  fork,   ///< fork() of the parent from the manager thread
};
/// "spawn", "fork".
const char* to_string(StartMethod m) noexcept;

/// True if fn(args...) can be submitted to a ProcessPoolExecutor: F is a
/// function or a stateless class, every argument's wire type (decayed; C
/// strings as std::string) can be serialised and default-constructed, F is
/// invocable with them, and the result is void or serialisable.
template <class F, class... A>
concept process_submittable =
    detail::process::process_callable<F> &&
    (detail::process::deep_serializable<detail::process::wire_t<A>>::value && ...) &&
    std::is_invocable_v<std::decay_t<F>, detail::process::wire_t<A>&&...> &&
    (std::is_void_v<std::invoke_result_t<std::decay_t<F>, detail::process::wire_t<A>&&...>> ||
     detail::process::deep_serializable<
         detail::process::call_result_t<F, detail::process::wire_t<A>...>>::value);

namespace detail::process {

template <class F, class... A>
constexpr bool check_submittable() {
  static_assert(process_callable<F>,
                "ProcessPoolExecutor: the function must be a plain function (or function pointer) "
                "or a lambda without captures: the worker process runs the same executable and "
                "finds the function there by its address, but captured state cannot cross. Pass "
                "the captured values as arguments.");
  static_assert((deep_serializable<wire_t<A>>::value && ...),
                "ProcessPoolExecutor: every argument must be serialisable with cereal and "
                "default-constructible: standard types work as they are; for a type of your own "
                "add `template <class Archive> void serialize(Archive& ar) { ar(member1, "
                "member2); }`. Pointers and references into the parent's memory cannot cross to a "
                "worker process.");
  if constexpr (process_callable<F> && (deep_serializable<wire_t<A>>::value && ...)) {
    static_assert(std::is_invocable_v<std::decay_t<F>, wire_t<A>&&...>,
                  "ProcessPoolExecutor: the function cannot be called with these arguments (they "
                  "are passed as rvalues of their decayed types; C strings as std::string).");
    if constexpr (std::is_invocable_v<std::decay_t<F>, wire_t<A>&&...>) {
      using R = std::invoke_result_t<std::decay_t<F>, wire_t<A>&&...>;
      static_assert(std::is_void_v<R> || deep_serializable<call_result_t<F, wire_t<A>...>>::value,
                    "ProcessPoolExecutor: the function's result must be void or serialisable "
                    "with cereal and default-constructible (add a serialize() member to your "
                    "type); pointers cannot cross back from a worker process.");
    }
  }
  return process_submittable<F, A...>;
}

/// Completes the future of one task; the pool's manager calls it.
class Completion {
 public:
  virtual ~Completion() = default;
  /// set_running_or_notify_cancel(); false if the future was cancelled (or
  /// completed by someone else) and the task must not run.
  virtual bool start() noexcept = 0;
  /// Decodes the result and sets it; a decoding error becomes the exception.
  virtual void finish(Source& result) noexcept = 0;
  /// Sets the exception, unless the future is already done.
  virtual void fail(std::exception_ptr e) noexcept = 0;
  /// Cancels the (pending) future.
  virtual void cancel() noexcept = 0;
};

template <class R>
class FutureCompletion final : public Completion {
 public:
  explicit FutureCompletion(Future<R> f) noexcept : f_(std::move(f)) {}
  bool start() noexcept override {
    try {
      return f_.set_running_or_notify_cancel();
    } catch (...) {
      return false;
    }
  }
  void finish(Source& result) noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        result.done();
        f_.set_result();
      } else {
        R value = decode_value<R>(result);
        result.done();  // its pages are kept before anyone sees the result
        f_.set_result(std::move(value));
      }
    } catch (...) {
      fail(std::current_exception());
    }
  }
  void fail(std::exception_ptr e) noexcept override {
    try {
      f_.set_exception(std::move(e));
    } catch (...) {
    }
  }
  void cancel() noexcept override { f_.cancel(); }

 private:
  Future<R> f_;
};

/// One submitted task: the encoded call and what completes its future.
struct Task {
  Payload payload;
  std::unique_ptr<Completion> completion;
};

class PoolCore;

}  // namespace detail::process

/// A call of a function with its arguments, encoded to run in a worker
/// process: the pool's initializer (Python's initializer= and initargs=).
/// `.initializer = {setup, "config.txt", 3}` calls setup("config.txt", 3)
/// first in every worker. The same rules as submit() apply (compile-time
/// checked); the result, if any, is dropped. Copyable; empty by default.
class ProcessCall {
 public:
  ProcessCall() = default;
  template <class F, class... A>
    requires(!std::is_same_v<std::remove_cvref_t<F>, ProcessCall>)
  ProcessCall(F&& fn, A&&... args) {  // implicit, for `.initializer = {f, args...}`
    if constexpr (detail::process::check_submittable<F, A...>()) {
      using namespace detail::process;
      Sink sink(false);
      Payload p = encode_call<&init_entry<F, wire_t<A>...>>(sink, fn, std::forward<A>(args)...);
      bytes_ = std::make_shared<const std::string>(p.bytes());
    }
  }
  /// True if a call was given.
  explicit operator bool() const noexcept { return bytes_ != nullptr; }
  /// The encoded call (for the pool).
  [[nodiscard]] const std::shared_ptr<const std::string>& encoded() const noexcept {
    return bytes_;
  }

 private:
  std::shared_ptr<const std::string> bytes_;
};

/// Options of ProcessPoolExecutor, for designated initialisers:
/// `ProcessPoolExecutor pool({.max_workers = 2, .start_method = StartMethod::fork});`
struct ProcessPoolOptions {
  /// Unset: the number of CPUs this process may run on (Python's
  /// os.process_cpu_count()). <= 0: ValueError "max_workers must be greater
  /// than 0".
  std::optional<int> max_workers = {};
  /// How workers start (Python's mp_context); see the file comment.
  StartMethod start_method = StartMethod::spawn;
  /// Run first in every worker (Python's initializer + initargs). If it
  /// throws, the pool breaks (BrokenProcessPool).
  ProcessCall initializer = {};
  /// A worker exits after this many tasks and is replaced. < 1: ValueError
  /// "max_tasks_per_child must be >= 1"; with StartMethod::fork: ValueError
  /// "max_tasks_per_child is incompatible with the 'fork' start method".
  std::optional<int> max_tasks_per_child = {};
};

/// Options of ProcessPoolExecutor::map (Python's timeout= and chunksize=).
struct ProcessMapOptions {
  /// Time allowed for the whole map, from the map() call; reaching a result
  /// not ready by then throws TimeoutError.
  std::optional<std::chrono::nanoseconds> timeout = {};
  /// Inputs per task: each chunk runs as one task in one worker. < 1:
  /// ValueError "chunksize must be >= 1.".
  long chunksize = 1;
};

/// The range returned by ProcessPoolExecutor::map: the results in input
/// order (C101), Python's _chain_from_iterable_of_lists over the generator
/// of Executor::map, so the rules of MapResults (executor.hpp) hold, per
/// chunk: begin() starts it, and from then on it blocks for each chunk's
/// result in turn; reaching a chunk whose task threw rethrows that exception
/// before any result of the chunk is yielded (Python's _process_chunk), and
/// reaching one not ready by the deadline throws TimeoutError; either ends
/// the range (the undelivered chunks are cancelled, the next increment
/// reaches the end). Dropping a started range cancels the chunks not yet
/// delivered (those not yet dispatched to a worker); dropping one whose
/// begin() was never called cancels nothing. An input range: iterate it
/// once. The yielded R& lives until the next increment.
template <class R>
class ProcessMapResults {
 public:
  ProcessMapResults(ProcessMapResults&& o) noexcept
      : chunks_(std::move(o.chunks_)),
        it_(std::exchange(o.it_, {})),
        index_(o.index_),
        started_(std::exchange(o.started_, false)) {}
  ProcessMapResults& operator=(ProcessMapResults&&) = delete;
  ~ProcessMapResults() = default;

  /// An input iterator; the sentinel is std::default_sentinel.
  using iterator = detail::PullIterator<ProcessMapResults, R>;

  /// Starts the range and blocks for the first result (may throw, see above).
  iterator begin() { return advance() ? iterator(this) : iterator(); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend class ProcessPoolExecutor;
  friend struct detail::FutureAccess;  // MPIPoolExecutor::map builds one too
  friend iterator;
  using Chunks = MapResults<std::vector<R>>;
  explicit ProcessMapResults(std::unique_ptr<Chunks> chunks) noexcept
      : chunks_(std::move(chunks)) {}
  R& current() { return (*it_)[index_]; }
  bool advance() {
    try {
      if (!started_) {
        started_ = true;
        if (!chunks_) return false;
        it_ = chunks_->begin();
      } else if (it_ == std::default_sentinel) {
        return false;
      } else if (++index_ < it_->size()) {
        return true;
      } else {
        ++it_;
      }
      index_ = 0;
      while (it_ != std::default_sentinel && it_->empty()) ++it_;
      return it_ != std::default_sentinel;
    } catch (...) {
      it_ = {};  // the chunk range has ended itself
      throw;
    }
  }

  // On the heap: it_ points into it, and this range may be moved.
  std::unique_ptr<Chunks> chunks_;
  typename Chunks::iterator it_;
  std::size_t index_ = 0;
  bool started_ = false;
};

/// concurrent.futures.ProcessPoolExecutor. See the file comment for the
/// rules of what can be submitted, start methods, failures and shutdown.
class ProcessPoolExecutor {
 public:
  /// max_workers = the CPUs this process may run on; spawn start method.
  ProcessPoolExecutor() : ProcessPoolExecutor(ProcessPoolOptions{}) {}
  /// Throws ValueError "max_workers must be greater than 0" if max_workers <= 0.
  explicit ProcessPoolExecutor(int max_workers)
      : ProcessPoolExecutor(ProcessPoolOptions{.max_workers = max_workers}) {}
  /// Throws ValueError for a bad max_workers or max_tasks_per_child (see
  /// ProcessPoolOptions). Starts nothing: the manager thread and the
  /// workers start at the first submit().
  explicit ProcessPoolExecutor(ProcessPoolOptions options);
  /// shutdown(wait=true) (C102). Don't destroy a pool from its own done-callback.
  ~ProcessPoolExecutor();
  ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
  ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;

  /// Schedules fn(args...) in a worker process and returns its Future<R>,
  /// R the decayed result type (void allowed). The arguments are serialised
  /// now (as their wire types: decayed, C strings as std::string). A capturing
  /// lambda or an argument cereal cannot serialise is a compile-time error
  /// (see the file comment). Throws RuntimeError "cannot schedule new futures
  /// after shutdown" (C91) or "... after interpreter shutdown" (the process is
  /// exiting), BrokenProcessPool if the pool is broken, ValueError for a null
  /// function pointer, whatever a user serialize() throws, RuntimeError
  /// "can't start new thread" if the manager thread cannot start. Never
  /// blocks on the task (the first submit() to a fork pool waits until its
  /// workers are forked).
  template <class F, class... A>
  [[nodiscard]] auto submit(F&& fn, A&&... args) {
    using namespace detail::process;
    if constexpr (check_submittable<F, A...>()) {
      using R = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, wire_t<A>&&...>>;
      Sink sink;
      Payload p = encode_call<&call_entry<F, wire_t<A>...>>(sink, fn, std::forward<A>(args)...);
      Future<R> fut;
      submit_task(detail::process::Task{std::move(p), std::make_unique<FutureCompletion<R>>(fut)});
      return fut;
    } else {
      return Future<void>();  // unreachable: check_submittable failed to compile
    }
  }

  /// Python's map(fn, *iterables, timeout=None, chunksize=1): calls fn on each
  /// tuple of items of the input ranges (zipped; stops at the shortest), in
  /// tasks of `chunksize` calls each, all submitted before map returns, and
  /// returns a ProcessMapResults range of the results in input order. A
  /// trailing ProcessMapOptions sets timeout and chunksize. Throws
  /// ValueError "chunksize must be >= 1.", and what submit() throws. The
  /// function must return a value (use submit() for void).
  template <class F, class... A>
  [[nodiscard]] auto map(F&& fn, A&&... a) {
    return detail::with_trailing_options<ProcessMapOptions>(
        [this](const ProcessMapOptions& o, auto&& f, auto&&... r) {
          return map_impl(o, std::forward<decltype(f)>(f), std::forward<decltype(r)>(r)...);
        },
        std::forward<F>(fn), std::forward<A>(a)...);
  }

  /// Stops accepting work (later submit: RuntimeError, C91). With
  /// cancel_futures, cancels every task not yet dispatched to a worker
  /// (C93). Everything else still runs to completion, also with
  /// wait=false (gh-119592). With wait, blocks until every task has
  /// completed and every worker has exited and been reaped; called from a
  /// done-callback (the manager thread) it does not wait. Calling it again
  /// is allowed (C92).
  void shutdown(bool wait = true, bool cancel_futures = false);

  /// Python 3.14's terminate_workers(): shutdown(wait=false,
  /// cancel_futures=true), then SIGTERM to every live worker. Futures of
  /// tasks that were running fail with BrokenProcessPool. Does not wait (the
  /// destructor or shutdown() does).
  void terminate_workers();
  /// As terminate_workers(), with SIGKILL (Python 3.14's kill_workers()).
  void kill_workers();

  /// The configured maximum number of workers.
  [[nodiscard]] int max_workers() const noexcept;
  /// The start method.
  [[nodiscard]] StartMethod start_method() const noexcept;
  /// The process ids of the live workers (a snapshot; Python's _processes).
  [[nodiscard]] std::vector<long> worker_pids() const;

 private:
  void submit_task(detail::process::Task task);

  template <class F, class... Rs>
  auto map_impl(const ProcessMapOptions& opt, F&& fn, Rs&&... rs);

  std::shared_ptr<detail::process::PoolCore> core_;
};

template <class F, class... Rs>
auto ProcessPoolExecutor::map_impl(const ProcessMapOptions& opt, F&& fn, Rs&&... rs) {
  using namespace detail::process;
  static_assert(sizeof...(Rs) > 0, "map() needs at least one input range");
  static_assert((std::ranges::input_range<Rs> && ...), "map() takes input ranges");
  constexpr bool ok = check_submittable<F, std::ranges::range_reference_t<Rs>...>();
  if constexpr (ok) {
    using R = call_result_t<F, wire_t<std::ranges::range_reference_t<Rs>>...>;
    static_assert(!std::is_void_v<R>,
                  "map() needs a function that returns a value; use submit() for void");
    using Item = std::tuple<wire_t<std::ranges::range_reference_t<Rs>>...>;
    if (opt.chunksize < 1) throw ValueError("chunksize must be >= 1.");
    const detail::Deadline deadline =
        opt.timeout ? detail::future_deadline(*opt.timeout) : detail::Deadline::never();
    constexpr Entry entry = &chunk_entry<F, wire_t<std::ranges::range_reference_t<Rs>>...>;
    std::deque<Future<std::vector<R>>> fs;
    std::vector<Item> chunk;
    const auto flush = [&] {
      Sink sink;
      write_call_head<entry>(sink, fn);
      {
        OutStream os(sink);
        cereal::BinaryOutputArchive ar(os.get());
        ar(chunk);
      }
      Future<std::vector<R>> f;
      submit_task(detail::process::Task{sink.take(),
                                        std::make_unique<FutureCompletion<std::vector<R>>>(f)});
      fs.push_back(std::move(f));
      chunk.clear();
    };
    auto its = std::tuple(std::ranges::begin(rs)...);
    const auto ends = std::tuple(std::ranges::end(rs)...);
    const auto at_end = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((std::get<I>(its) == std::get<I>(ends)) || ...);
    };
    const auto seq = std::index_sequence_for<Rs...>{};
    while (!at_end(seq)) {
      std::apply([&](auto&... it) { chunk.emplace_back(*it...); }, its);
      std::apply([](auto&... it) { (++it, ...); }, its);
      if (static_cast<long>(chunk.size()) == opt.chunksize) flush();
    }
    if (!chunk.empty()) flush();
    return ProcessMapResults<R>(std::make_unique<MapResults<std::vector<R>>>(
        detail::FutureAccess::make<MapResults<std::vector<R>>>(
            std::move(fs), std::unique_ptr<detail::MapSource<std::vector<R>>>(),
            std::shared_ptr<detail::ExecutorAnchor>(), deadline)));
  } else {
    return ProcessMapResults<int>(nullptr);  // unreachable: the checks failed
  }
}

}  // namespace spindle
