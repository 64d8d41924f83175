// spindle/thread.hpp - threading.Thread, the thread registry and excepthook.
//
// A Thread runs a callable (the "target") in a new OS thread, as Python's
// threading.Thread does:
//
//     spindle::Thread t(download_file, url);                  // Thread(target=..., args=(url,))
//     spindle::Thread d({.name = "poller", .daemon = true}, poll);
//     t.start(); t.join();                                    // or t.join(2s); t.is_alive()
//
//     class Worker : public spindle::Thread {                 // subclassing, as in Python
//       void run() override { ... }
//     };
//
// Arguments are decay-copied into the new thread (like std::thread); pass
// std::ref(x) to share an object. The target and its arguments are destroyed
// in the thread when the body returns, before join() returns.
//
// ## A Thread is a handle
//
// Dropping a Thread object neither joins nor kills its thread: the thread's
// shared state (name, ident, daemon flag, target, alive word) lives in a
// reference-counted block that the running thread also holds. A server may
// start a thread per client and drop each handle at once (seed 003): when the
// last reference goes without a join (the thread's own, or the last handle's
// after the thread ended), its OS thread is detached, so the system reclaims
// it; nothing leaks. Two handles of the same thread compare equal
// (operator==); current_thread() and enumerate() may hand out a different
// handle object for the same thread.
//
// ## join() waits for the OS thread
//
// As in Python 3.13, join() (and a join(timeout) that returns true) returns
// only once the OS thread is gone: one joiner pthread_joins it, any others
// wait for that one, and the kernel has also released the task (it is no
// longer in /proc/self/task nor counted against RLIMIT_NPROC), so a start
// right after a join is never refused on its account. is_alive() turns
// false a moment earlier, when the body and its clean-up (target, local<T>
// instances) are done; the OS thread's last steps are C++ thread_local
// destructors, which join() therefore also waits for. A timed join waits at
// most `timeout` for the body to end; the pthread_join after that is not
// bounded by it (CPython does the same).
//
// ## Lifetime rule for subclasses (when run() is overridden)
//
// A thread whose class overrides run() calls run() on the object itself, so
// the object must live until run() returns. spindle enforces this:
//   * If the object is owned by a std::shared_ptr when start() is called
//     (Thread derives from std::enable_shared_from_this), the running thread
//     keeps a reference until run() has returned: dropping it is safe.
//     make_thread<T>(args...) creates such an object.
//   * Otherwise the object must be joined before it is destroyed. ~Thread of
//     a still-running, non-shared subclass object prints
//     "spindle: Thread 'NAME' (a Thread subclass) destroyed while running ..."
//     on stderr and joins it, so its shared state stays valid; because the
//     derived part is already destroyed by then, a subclass that may be
//     destroyed while running should call join() in its own destructor.
//   * A plain target thread (run() not overridden) never touches the Thread
//     object; there is no rule to follow.
// Whether run() is overridden is found at start() from the object's vtable.
//
// ## Lifecycle state (seed 002's stages)
//
// state() is new (not started), ready (started, body not yet running),
// running, blocked (parked in a spindle wait; waiting_on() names the kind
// of object, its address and since when) or terminated. dump_threads()
// lists every live thread with that information.
//
// ## Process exit (C61)
//
// When main returns or std::exit is called, spindle - from a std::atexit
// handler installed at the first start() or register_atexit() - runs the
// detail::register_atexit callbacks (newest first), marks the main thread
// terminated, then joins every non-daemon thread (also those started while
// it joins), OS threads included. Daemon threads are abandoned: the registry
// is never destroyed, so they cannot crash on it and do not delay the exit.
// Because the handler is installed at first use, it runs before the
// destructors of the static objects constructed before that point, so
// threads using them are joined first. Objects local to main() are destroyed
// before exit begins: join the threads that use them before main returns.
//
// Undefined: a daemon thread that still touches the program's static objects
// (or main()'s locals) after main returns or std::exit is called. It keeps
// running while static destructors run and the process tears down, so it
// can use a destroyed object and crash or corrupt the exit. The safe
// patterns: join such threads before main returns (or make them non-daemon),
// or let them use only objects that are never destroyed - e.g. leaked
// singletons (`static T& t = *new T;`) - and spindle's own objects, which
// stay valid.
//
// ## fork() (CPython's threading._after_fork)
//
// In a child made by fork(), only the forking thread exists. spindle's
// pthread_atfork handlers make the child look as Python's does: the forking
// thread is main_thread() there (a spindle thread keeps its name and daemon
// flag; a foreign thread becomes "MainThread", non-daemon); every other
// thread reads !is_alive(), state() terminated, and its join() returns at
// once; enumerate() lists the forking thread alone; a new Thread can be
// started; exit() in the child joins only the child's own non-daemon
// threads. spindle's internal locks are taken around fork(), so none is left
// held by a thread that vanished. A user's Lock held by a vanished thread
// stays held (as in Python). local<T> instances of vanished threads are
// destroyed with their local (not inside fork()). Only fork() runs the
// handlers: vfork(), posix_spawn() and system() need none.
//
// ## Out of memory
//
// Every call either completes or throws std::bad_alloc having changed
// nothing: start() allocates nothing while it starts the thread (only
// building its RuntimeError can run out of memory) and a start() that throws
// leaves the Thread "new"; a construction that throws takes no "Thread-N"
// number; a failed
// enumerate() or current_thread() leaves no half-made entry. A thread's exit,
// destructors and the exit-time join allocate nothing. A report that runs
// out of memory prints a fixed line instead ("... could not be reported").
//
// ## Exceptions (C56, C57)
//
// An exception escaping a thread's body goes to excepthook(), never
// std::terminate. The default prints "Exception in thread NAME:" and the
// exception's type and message on stderr; the process goes on.
//
// ## Memory ordering
//
// Everything the thread did, its thread_local destructors included,
// happens-before the return of a join() (and of a join(timeout) that
// returned true). Everything done before start() happens-before the body
// starts.
//
// ## Not promised
//
// The order in which started threads run; that is_alive()/state()/
// enumerate() stay true after they return (they are snapshots); the handle
// object identity of current_thread() (compare with ==).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"

namespace spindle {

class Thread;

/// Options for a Thread: Python's name= and daemon= keywords.
struct ThreadOptions {
  /// Empty: "Thread-N", N counting up from 1 per process (C58).
  std::string name = {};
  /// Unset: inherited from the thread that constructs the Thread (C58);
  /// the main thread is not a daemon, foreign threads are.
  std::optional<bool> daemon = {};
};

/// A thread's lifecycle stage. `new_` is "new" (a C++ keyword).
enum class ThreadState : std::uint8_t { new_, ready, running, blocked, terminated };

/// "new", "ready", "running", "blocked", "terminated".
const char* to_string(ThreadState s) noexcept;

/// What a blocked thread waits on (a snapshot).
struct ThreadWait {
  const char* kind;       ///< "Lock", "Condition", "Thread.join", ...
  const void* object;     ///< the object's address
  std::int64_t since_ns;  ///< since when: ns on std::chrono::steady_clock
};

namespace detail {

class ThreadCore;  // a thread's shared state (src/thread_internal.hpp)
struct AliasTag;   // builds handles of an existing thread (src/thread_internal.hpp)

/// A callable bound to decay-copied arguments: `f(args...)` when called
/// (once; both are moved into the call).
template <class F, class... Args>
struct Invoker {
  F f;
  std::tuple<Args...> args;
  void operator()() {
    std::apply([this](Args&... a) { std::invoke(std::move(f), std::move(a)...); }, args);
  }
};

/// A thread's target, type-erased: created by Thread's constructor, called
/// once in the new thread, destroyed there when the body returns.
class ThreadTarget {
 public:
  ThreadTarget() = default;
  ThreadTarget(const ThreadTarget&) = delete;
  ThreadTarget& operator=(const ThreadTarget&) = delete;
  virtual ~ThreadTarget() = default;
  virtual void call() = 0;
};

template <class Fn>
class BoundTarget final : public ThreadTarget {
 public:
  explicit BoundTarget(Fn fn) : fn_(std::move(fn)) {}
  void call() override { fn_(); }

 private:
  Fn fn_;
};

template <class F, class... Args>
std::unique_ptr<ThreadTarget> make_thread_target(F&& f, Args&&... args) {
  using I = Invoker<std::decay_t<F>, std::decay_t<Args>...>;
  return std::make_unique<BoundTarget<I>>(
      I{std::forward<F>(f), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)});
}

/// Python's threading._register_atexit: `fn` runs at process exit, before
/// the non-daemon threads are joined (newest first). Throws RuntimeError
/// "can't register atexit after shutdown" once the exit has begun. An
/// exception from `fn` is reported on stderr and the exit goes on.
void register_atexit(std::function<void()> fn);

}  // namespace detail

/// threading.Thread. See the file comment for the handle semantics and the
/// subclass lifetime rule.
class Thread : public std::enable_shared_from_this<Thread> {
 public:
  /// A thread that will call f(args...) (decay-copied). Not started.
  template <class F, class... Args>
    requires(!std::is_same_v<std::remove_cvref_t<F>, ThreadOptions> &&
             std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>)
  explicit Thread(F&& f, Args&&... args)
      : Thread(ThreadOptions{},
               detail::make_thread_target(std::forward<F>(f), std::forward<Args>(args)...)) {}
  /// As above, with a name and/or daemon flag:
  /// `spindle::Thread t({.name = "x", .daemon = true}, fn, a);`
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  Thread(ThreadOptions opts, F&& f, Args&&... args)
      : Thread(std::move(opts),
               detail::make_thread_target(std::forward<F>(f), std::forward<Args>(args)...)) {}
  /// A thread without a target, for subclasses that override run().
  Thread();
  explicit Thread(ThreadOptions opts);

  /// Drops the handle; the thread keeps running. For a running subclass
  /// object that is not shared-owned, reports the misuse and joins (see the
  /// lifetime rule above).
  virtual ~Thread();

  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  /// Moves the handle (for std::vector<Thread>). Throws RuntimeError if
  /// `other` is a subclass object whose overridden run() is executing (its
  /// thread calls run() on that very object).
  Thread(Thread&& other);
  /// Moves the handle; throws RuntimeError as the move constructor does if
  /// either side is a subclass object whose run() is executing.
  Thread& operator=(Thread&& other);

  /// Starts the thread. Throws RuntimeError "threads can only be started
  /// once" on a second call (C50), RuntimeError "can't start new thread" if
  /// the OS refuses; then the Thread is "new" again and may be started
  /// later. Allocates nothing. Does not wait for the body to start running;
  /// ident() is set when start() returns.
  void start();

  /// Blocks until the thread terminates and its OS thread is gone (see the
  /// file comment). Throws RuntimeError "cannot join thread before it is
  /// started" (C51), "cannot join current thread" (C52), "cannot join a
  /// dummy thread" for a foreign thread's handle. Any number of threads may
  /// join the same thread at once.
  void join();
  /// Blocks at most `timeout` (negative acts as 0, C53; above TIMEOUT_MAX
  /// throws OverflowError) for the body to end. Returns !is_alive(): true if
  /// the thread has terminated, and then its OS thread is gone too. May be
  /// called many times (C54).
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) {
    if (timeout < timeout.zero()) timeout = timeout.zero();
    return join_until(detail::deadline_after(timeout));
  }

  /// True from start() until the body has returned (C54). Main: until exit;
  /// foreign threads: until their OS thread ends.
  [[nodiscard]] bool is_alive() const noexcept;
  [[nodiscard]] std::string name() const;
  /// Renames; for a running thread also its OS name (first 15 bytes).
  void set_name(std::string name);
  /// pthread_self() of the thread; empty before start, kept after exit (C59).
  [[nodiscard]] std::optional<std::uint64_t> ident() const noexcept;
  /// The kernel's thread id (gettid); empty before start, kept after exit
  /// (C59). Between start() and the first instant of the body it waits
  /// (briefly) for the thread to publish it.
  [[nodiscard]] std::optional<long> native_id() const;
  [[nodiscard]] bool daemon() const noexcept;
  /// Throws RuntimeError "cannot set daemon status of active thread" once
  /// started (C55).
  void set_daemon(bool daemonic);
  /// The lifecycle stage now (a snapshot).
  [[nodiscard]] ThreadState state() const;
  /// What the thread is parked on, if it is blocked (a snapshot).
  [[nodiscard]] std::optional<ThreadWait> waiting_on() const;

  /// Handles of the same thread compare equal.
  friend bool operator==(const Thread& a, const Thread& b) noexcept { return a.core_ == b.core_; }

 protected:
  /// The thread's body. The default calls the target given to the
  /// constructor (nothing if none). Override it in a subclass.
  virtual void run();

 private:
  // join with an already validated deadline.
  bool join_until(detail::Deadline deadline);
  friend struct ThreadAccess;
  Thread(const detail::AliasTag& tag, std::shared_ptr<detail::ThreadCore> core) noexcept;
  // Creates the thread's core (owning `target`, null for a subclass) and
  // applies the options; a construction that throws takes no "Thread-N".
  Thread(ThreadOptions opts, std::unique_ptr<detail::ThreadTarget> target);
  detail::ThreadCore& core() const;
  bool runs_on_this_object() const noexcept;

  std::shared_ptr<detail::ThreadCore> core_;
};

/// Creates a Thread subclass object owned by a shared_ptr, so that dropping
/// it while it runs is safe (the running thread keeps it alive).
template <class T, class... Args>
  requires std::is_base_of_v<Thread, T>
std::shared_ptr<T> make_thread(Args&&... args) {
  return std::make_shared<T>(std::forward<Args>(args)...);
}

/// The calling thread's Thread. Foreign threads (not started by spindle)
/// get a "Dummy-N" daemon handle that is alive until their OS thread ends
/// (Python's _DummyThread). Valid while the calling thread runs.
Thread& current_thread();
/// The process's main thread ("MainThread"); alive until exit begins. In a
/// child made by fork(), the thread that called fork().
Thread& main_thread();
/// Every alive thread: spindle threads, foreign threads that called into
/// spindle, and always the main thread (C60). A snapshot.
std::vector<std::shared_ptr<Thread>> enumerate();
/// enumerate().size(), without building the list.
std::size_t active_count();
/// pthread_self() of the caller, as an integer (Python's get_ident()).
std::uint64_t get_ident() noexcept;
/// gettid() of the caller (Python's get_native_id()).
long get_native_id() noexcept;

/// The stack size for threads started from now on; 0 is the OS default.
std::size_t stack_size() noexcept;
/// Sets it and returns the previous value. Throws ValueError "size not
/// valid: N bytes" below 32 KiB (other than 0), as Python does.
std::size_t stack_size(std::size_t bytes);

/// One line per alive thread: name, ident, native id, daemon, state, what it
/// waits on and for how long.
std::string dump_threads();

/// The arguments of excepthook (Python's threading.ExceptHookArgs).
struct ExceptHookArgs {
  std::exception_ptr exc;  ///< the exception that escaped the body
  Thread* thread;          ///< the thread; valid during the call only
  /// The exception's type, demangled ("spindle::ValueError", "int", ...).
  [[nodiscard]] std::string type_name() const;
  /// what() for std::exception, else an empty string.
  [[nodiscard]] std::string message() const;
};

/// Python's threading.__excepthook__: prints "Exception in thread NAME:"
/// then "TYPE: MESSAGE" on stderr.
void default_excepthook(const ExceptHookArgs& args);
/// Calls the installed hook (default_excepthook unless set_excepthook).
/// If the hook throws, prints "Exception in threading.excepthook:" and that
/// exception on stderr and returns (C57).
void excepthook(const ExceptHookArgs& args);
/// Installs `hook` for every thread; an empty function restores the default.
void set_excepthook(std::function<void(const ExceptHookArgs&)> hook);
/// The installed hook.
std::function<void(const ExceptHookArgs&)> get_excepthook();

}  // namespace spindle
