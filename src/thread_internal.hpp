// Internal interface between src/thread.cpp, src/registry.cpp, src/local.cpp
// and src/timer.cpp, and the fork hook for spindle's other layers. Not
// installed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <new>

#include "spindle/detail/park.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"

namespace spindle {

namespace detail {

struct AliasTag {};

// The shared state of one thread: everything a handle reads, and what the
// running thread holds (src/thread.cpp).
class ThreadCore : public std::enable_shared_from_this<ThreadCore> {
 public:
  enum class Kind : std::uint8_t { spawned, main, dummy };
  // word: the stage in the low 2 bits, kWaiters when someone is parked on it.
  static constexpr std::uint32_t kNew = 0, kReady = 1, kRunning = 2, kTerminated = 3;
  static constexpr std::uint32_t kStageMask = 3, kWaiters = 4;
  // os: whether the OS thread still has to be reaped (pthread_join), in the
  // low 2 bits, kOsWaiters when a second joiner is parked on it.
  //   kOsNone: no OS thread of ours to reap (not started, the main thread,
  //            a foreign thread, or a thread that vanished in fork()).
  //   kOsJoinable -> kOsJoining (one joiner claimed it) -> kOsJoined.
  // A core destroyed while kOsJoinable detaches its thread.
  static constexpr std::uint32_t kOsNone = 0, kOsJoinable = 1, kOsJoining = 2, kOsJoined = 3;
  static constexpr std::uint32_t kOsMask = 3, kOsWaiters = 4;

  // Every core is on one process-wide list (for fork(); src/thread.cpp).
  explicit ThreadCore(Kind k = Kind::spawned, std::unique_ptr<ThreadTarget> t = nullptr) noexcept;
  ~ThreadCore();
  ThreadCore(const ThreadCore&) = delete;
  ThreadCore& operator=(const ThreadCore&) = delete;

  // The target: set at construction, called and destroyed by the thread.
  bool has_target() const noexcept { return target != nullptr; }
  void call_target() {
    if (target) target->call();
  }
  void drop_target() noexcept { target.reset(); }

  std::uint32_t stage() const noexcept { return word.load(std::memory_order_acquire) & kStageMask; }

  std::atomic<std::uint32_t> word{kNew};
  std::atomic<std::uint32_t> os{kOsNone};
  std::atomic<bool> daemon{false};
  std::atomic<std::uint64_t> ident{0};
  std::atomic<long> native_id{0};
  Kind kind;                   // set once; a forked child's forking thread becomes main
  std::size_t stack_size = 0;  // captured at start()
  std::unique_ptr<ThreadTarget> target;
  mutable Lock lock;  // guards the fields below
  std::string name;
  ThreadWaitState* wait = nullptr;      // the thread's park state while it lives
  std::shared_ptr<Thread> self;         // handle held by the running thread
  std::shared_ptr<ThreadCore> starter;  // start() -> the new thread: its reference
  Thread* runner = nullptr;             // object whose run() is called (subclass)
  bool runner_shared = false;           // runner kept alive by `self`
  ThreadCore* prev = nullptr;           // registry list (registry lock)
  ThreadCore* next = nullptr;
  bool registered = false;
  ThreadCore* all_prev = nullptr;  // list of every core (its own lock)
  ThreadCore* all_next = nullptr;
};

}  // namespace detail

// The one friend of Thread inside the library: builds handles that share an
// existing core (aliases, the main thread, foreign threads' dummies).
struct ThreadAccess {
  static std::shared_ptr<Thread> alias(std::shared_ptr<detail::ThreadCore> core) {
    std::unique_ptr<Thread> h(new Thread(detail::AliasTag{}, std::move(core)));
    return std::shared_ptr<Thread>(std::move(h));  // if this throws, ~Thread runs unlocked
  }
  static Thread* make_raw(std::shared_ptr<detail::ThreadCore> core) {
    return new Thread(detail::AliasTag{}, std::move(core));
  }
  // An empty handle, for the fork handler to bind in the child (no allocation
  // may fail there). Null if out of memory.
  static Thread* make_raw_nothrow() noexcept {
    return new (std::nothrow) Thread(detail::AliasTag{}, nullptr);
  }
  static const std::shared_ptr<detail::ThreadCore>& core(const Thread& t) noexcept {
    return t.core_;
  }
  static void bind(Thread& t, std::shared_ptr<detail::ThreadCore> core) noexcept {
    t.core_ = std::move(core);
  }
  static void run(Thread& t) { t.run(); }
};

namespace detail {

// ---------------------------------------------------------------- fork hook
//
// register_at_fork(prepare, parent, child): spindle's own pthread_atfork
// for its other layers (the thread pool, ...). Contract:
//
//   * Each pointer may be null. Register once per layer (e.g. from a
//     function-local static initialiser); at most 16 registrations per
//     process, beyond which it throws RuntimeError. Registrations are never
//     removed: the functions must stay callable for the life of the process.
//     Thread-safe. Must not be called from inside one of the callbacks.
//   * prepare: in the forking thread, before fork(), newest registration
//     first, BEFORE the thread layer takes its internal locks: it may use
//     every spindle function (take its own Lock, enumerate(), ...).
//   * parent / child: after fork() returns, in the parent / in the child,
//     oldest registration first, AFTER the thread layer has finished its own
//     part. In the child that means: only the forking thread exists; it is
//     main_thread(); every other Thread handle reads !is_alive() and its
//     join() returns at once; enumerate() lists the forking thread alone;
//     the thread layer's internal locks are free; new Threads can be
//     started. A layer's own locks are NOT reset by spindle: a Lock that a
//     vanished thread held stays locked in the child, so a child callback
//     that needs one must re-create or release it (or take it in prepare and
//     release it in parent and child).
//   * Callbacks must not throw (they run inside fork(); an exception reaches
//     std::terminate). They may allocate. `child` may start threads.
//   * Only fork() runs them: not vfork(), posix_spawn() or system().
void register_at_fork(void (*prepare)(), void (*parent)(), void (*child)());
/// register_at_fork(nullptr, nullptr, child).
inline void register_at_fork_child(void (*child)()) {
  register_at_fork(nullptr, nullptr, child);
}

// ---------------------------------------------------------------- threads

// The calling thread's handle, when known (set by the trampoline, the main
// thread's registration and the dummy path). Trivial: safe during exit.
extern thread_local Thread* tls_current;
// The running spindle thread's own reference to its core (the trampoline's
// frame); null in other threads and after the body's exit sequence.
extern thread_local const std::shared_ptr<ThreadCore>* tls_core;

// Every ThreadCore in the process, linked by all_prev/all_next under `lock`
// (the fork handler takes every core's lock through it). Constant-initialised
// and never destroyed.
struct CoreList {
  Lock lock;
  ThreadCore* head = nullptr;
};
extern constinit CoreList g_all_cores;

// getpid(), refreshed in a forked child (for tgkill after a join).
extern pid_t g_pid;

// A handle for a running thread's core, created once (current_thread() in a
// target thread, enumerate()); the allocation is made outside the core's lock.
// Requires core.self to be reset by the thread at exit (breaks the core <->
// alias cycle), so it is only called for a registered core or by the thread
// itself.
Thread& handle_of(const std::shared_ptr<ThreadCore>& core);
std::shared_ptr<Thread> shared_handle_of(ThreadCore& core);

// Waits until `core` has terminated or `deadline`; true if terminated.
bool wait_terminated(ThreadCore& core, Deadline deadline) noexcept;
// join(): waits until `core` has terminated (or `deadline`), then - for a
// spindle thread - until its OS thread is gone (pthread_join by exactly one
// joiner; the others park until it is done). True if both happened.
bool join_core(ThreadCore& core, Deadline deadline);

// Registry (src/registry.cpp).
void registry_add(ThreadCore* core);
void registry_remove(ThreadCore* core);
void ensure_exit_handler();
Thread& current_thread_slow();
// Monotonic "Thread-N" numbering (C58).
extern std::atomic<unsigned long> g_thread_counter;

// local<T> (src/local.cpp): destroys the calling thread's instances.
void local_thread_exit() noexcept;
// fork: take the local lock / release it / in the child, also orphan the
// tables of the threads that do not exist there.
void local_fork_prepare() noexcept;
void local_fork_parent() noexcept;
void local_fork_child() noexcept;

}  // namespace detail
}  // namespace spindle
