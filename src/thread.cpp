// Thread: start, the thread's trampoline, join, attributes, excepthook,
// stack_size. The registry (enumerate, main/foreign threads, exit-time join)
// is in src/registry.cpp.
#include <cxxabi.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "report.hpp"
#include "spindle/thread.hpp"
#include "thread_internal.hpp"

namespace spindle {
namespace detail {
thread_local Thread* tls_current = nullptr;
thread_local const std::shared_ptr<ThreadCore>* tls_core = nullptr;
constinit CoreList g_all_cores{};
pid_t g_pid = ::getpid();
std::atomic<unsigned long> g_thread_counter{0};

ThreadCore::ThreadCore(Kind k, std::unique_ptr<ThreadTarget> t) noexcept
    : kind(k), target(std::move(t)) {
  std::scoped_lock guard(g_all_cores.lock);
  all_next = g_all_cores.head;
  if (all_next != nullptr) all_next->all_prev = this;
  g_all_cores.head = this;
}

ThreadCore::~ThreadCore() {
  // Nobody joined the OS thread and no handle is left to do it: let the
  // system reap it (we may be that very thread, dropping its last reference).
  if ((os.load(std::memory_order_acquire) & kOsMask) == kOsJoinable)
    pthread_detach(static_cast<pthread_t>(ident.load(std::memory_order_relaxed)));
  std::scoped_lock guard(g_all_cores.lock);
  if (all_prev != nullptr) {
    all_prev->all_next = all_next;
  } else {
    g_all_cores.head = all_next;
  }
  if (all_next != nullptr) all_next->all_prev = all_prev;
}

std::shared_ptr<Thread> shared_handle_of(ThreadCore& core) {
  {
    std::scoped_lock guard(core.lock);
    if (core.self) return core.self;
  }
  // Built outside the core's lock: if an allocation fails, the half-built
  // handle's destructor takes that lock.
  std::shared_ptr<Thread> fresh = ThreadAccess::alias(core.shared_from_this());
  std::scoped_lock guard(core.lock);
  if (!core.self) core.self = std::move(fresh);
  return core.self;  // a losing `fresh` is destroyed after the unlock
}

Thread& handle_of(const std::shared_ptr<ThreadCore>& core) {
  return *shared_handle_of(*core);
}

bool wait_terminated(ThreadCore& c, Deadline deadline) noexcept {
  // kNew again only if pthread_create failed in start(): nothing to wait for.
  return wait_word(
      c.word, ThreadCore::kWaiters,
      [](std::uint32_t w) {
        const std::uint32_t stage = w & ThreadCore::kStageMask;
        return stage == ThreadCore::kTerminated || stage == ThreadCore::kNew;
      },
      deadline, WaitSite{"Thread.join", &c});
}

namespace {

// pthread_join with the joiner shown as "blocked on Thread.join" meanwhile,
// then wait until the kernel has released the task: pthread_join returns
// when the kernel clears the thread's tid (CLONE_CHILD_CLEARTID), a moment
// before the task leaves the thread group and the RLIMIT_NPROC count. A few
// yields cover that moment; tgkill(sig 0) says ESRCH once it is over. Bounded
// in case the tid were ever reused at once (pids are allocated cyclically).
void join_os_thread(ThreadCore& c) {
  ThreadWaitState& ws = this_thread_wait_state();
  ws.object.store(&c, std::memory_order_relaxed);
  ws.since_ns.store(Deadline::now_ns(), std::memory_order_relaxed);
  ws.kind.store("Thread.join", std::memory_order_release);
  pthread_join(static_cast<pthread_t>(c.ident.load(std::memory_order_acquire)), nullptr);
  ws.kind.store(nullptr, std::memory_order_relaxed);
  ws.object.store(nullptr, std::memory_order_relaxed);
  const long tid = c.native_id.load(std::memory_order_relaxed);
  for (int i = 0; i < 1000 && ::syscall(SYS_tgkill, g_pid, tid, 0) == 0; ++i) sched_yield();
}

// Reaps the OS thread of a spindle thread that has terminated or whose
// ident is known. Exactly one caller runs pthread_join; the others park on
// `os` until it is done.
void reap_os_thread(ThreadCore& c) {
  bool waited = false;
  for (;;) {
    std::uint32_t o = c.os.load(std::memory_order_acquire);
    switch (o & ThreadCore::kOsMask) {
      case ThreadCore::kOsNone:
        // Not (or not yet seen as) a thread of ours: a failed start, a
        // thread that vanished in fork(). Its end is the core's word.
        if (waited) return;
        wait_terminated(c, Deadline::never());
        waited = true;
        continue;
      case ThreadCore::kOsJoined:
        return;
      case ThreadCore::kOsJoinable: {
        const std::uint32_t claimed = (o & ThreadCore::kOsWaiters) | ThreadCore::kOsJoining;
        if (!c.os.compare_exchange_weak(o, claimed, std::memory_order_acq_rel)) continue;
        try {
          join_os_thread(c);
        } catch (...) {  // the joiner was cancelled (a forced unwind): let another join
          this_thread_wait_state().kind.store(nullptr, std::memory_order_relaxed);
          wake_waiters(c.os.exchange(ThreadCore::kOsJoinable, std::memory_order_acq_rel),
                       ThreadCore::kOsWaiters, c.os);
          throw;
        }
        wake_waiters(c.os.exchange(ThreadCore::kOsJoined, std::memory_order_acq_rel),
                     ThreadCore::kOsWaiters, c.os);
        return;
      }
      default:  // kOsJoining: another joiner runs pthread_join
        wait_word(
            c.os, ThreadCore::kOsWaiters,
            [](std::uint32_t w) { return (w & ThreadCore::kOsMask) != ThreadCore::kOsJoining; },
            Deadline::never(), WaitSite{"Thread.join", &c});
    }
  }
}
}  // namespace

bool join_core(ThreadCore& c, Deadline deadline) {
  if (c.kind != ThreadCore::Kind::spawned) return wait_terminated(c, deadline);
  // An untimed join of a thread whose pthread_t is known goes straight to
  // pthread_join (one sleep, no wake-up call from the exiting thread). A
  // timed one waits for the body's end first; the OS thread's last steps
  // after that are short, so reaping it is not bounded by the deadline (as
  // CPython's join).
  if (!deadline.is_never() || c.ident.load(std::memory_order_acquire) == 0) {
    if (!wait_terminated(c, deadline)) return false;
  }
  reap_os_thread(c);
  return true;
}

}  // namespace detail

namespace {

using detail::ThreadCore;

std::atomic<std::size_t> g_stack_size{0};

// Sets the calling thread's OS name (at most 15 bytes plus the NUL).
void set_os_name(const std::string& name) noexcept {
  char buf[16];
  const std::size_t n = name.size() < 15 ? name.size() : 15;
  std::memcpy(buf, name.data(), n);
  buf[n] = '\0';
  pthread_setname_np(pthread_self(), buf);
}

// Does `t`'s class override run()? Read from the vtable through GCC's bound
// member-function extension, compared with the base class's entry.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpmf-conversions"
#pragma GCC diagnostic ignored "-Wpedantic"
using RunFn = void (*)(Thread*);
#endif

void report_exception(std::exception_ptr exc) noexcept {
  try {
    ExceptHookArgs args{std::move(exc), &current_thread()};
    excepthook(args);
  } catch (...) {
    detail::write_stderr("spindle: an exception escaped a thread and could not be reported\n");
  }
}

// The thread's exit sequence, run when the body returns, throws, or is
// unwound by pthread_exit: destroy the target and this thread's local<T>
// instances, leave the registry, then publish "terminated" and wake joiners.
// Allocates nothing.
struct ExitSequence {
  const std::shared_ptr<ThreadCore>& core;
  ~ExitSequence() {
    ThreadCore& c = *core;
    c.drop_target();
    detail::local_thread_exit();
    detail::registry_remove(&c);
    std::shared_ptr<Thread> self;
    {
      std::scoped_lock guard(c.lock);
      c.wait = nullptr;
      self = std::move(c.self);
    }
    detail::tls_current = nullptr;
    detail::tls_core = nullptr;
    detail::wake_waiters(c.word.exchange(ThreadCore::kTerminated, std::memory_order_acq_rel),
                         ThreadCore::kWaiters, c.word);
    // May destroy a shared-owned subclass object (its last owner was this
    // thread) or the alias handle; both are past their run().
    self.reset();
  }
};

// UBSan flags the catch of abi::__forced_unwind (a foreign exception with
// no C++ object behind the reference) as a null reference binding; the
// binding is never read.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((no_sanitize_undefined))
#endif
void run_body(ThreadCore& c, Thread* runner) {
  try {
    if (runner != nullptr) {
      ThreadAccess::run(*runner);
    } else {
      c.call_target();
    }
  } catch (abi::__forced_unwind&) {
    throw;  // pthread_exit / cancellation: let it unwind (the exit sequence still runs)
  } catch (...) {
    report_exception(std::current_exception());
  }
}

void* trampoline(void* arg) {
  ThreadCore& c = *static_cast<ThreadCore*>(arg);
  c.ident.store(static_cast<std::uint64_t>(pthread_self()), std::memory_order_release);
  c.native_id.store(static_cast<long>(::gettid()), std::memory_order_relaxed);
  std::shared_ptr<ThreadCore> core;
  Thread* runner;
  {
    std::scoped_lock guard(c.lock);
    core = std::move(c.starter);  // kept the core alive until now
    c.wait = &detail::this_thread_wait_state();
    runner = c.runner;
    set_os_name(c.name);
  }
  detail::tls_current = runner;
  detail::tls_core = &core;
  detail::wake_waiters(c.word.exchange(ThreadCore::kRunning, std::memory_order_acq_rel),
                       ThreadCore::kWaiters, c.word);
  {
    ExitSequence exit_sequence{core};
    run_body(c, runner);
  }
  return nullptr;
}

}  // namespace

const char* to_string(ThreadState s) noexcept {
  switch (s) {
    case ThreadState::new_:
      return "new";
    case ThreadState::ready:
      return "ready";
    case ThreadState::running:
      return "running";
    case ThreadState::blocked:
      return "blocked";
    case ThreadState::terminated:
      return "terminated";
  }
  return "unknown";
}

// ---------------------------------------------------------------- Thread

Thread::Thread(const detail::AliasTag& /*tag*/, std::shared_ptr<detail::ThreadCore> core) noexcept
    : core_(std::move(core)) {}

Thread::Thread() : Thread(ThreadOptions{}, nullptr) {}

Thread::Thread(ThreadOptions opts) : Thread(std::move(opts), nullptr) {}

Thread::Thread(ThreadOptions opts, std::unique_ptr<detail::ThreadTarget> target)
    : core_(std::make_shared<ThreadCore>(ThreadCore::Kind::spawned, std::move(target))) {
  ThreadCore& c = *core_;
  // Whatever may throw comes first: a construction that fails with
  // bad_alloc takes no "Thread-N" number.
  const bool daemonic = opts.daemon ? *opts.daemon : current_thread().daemon();
  if (!opts.name.empty()) {
    c.name = std::move(opts.name);
  } else {
    unsigned long n = detail::g_thread_counter.load(std::memory_order_relaxed);
    char digits[24];
    char* end;
    do {
      end = std::to_chars(digits, digits + sizeof digits, n + 1).ptr;
      c.name.reserve(7 + static_cast<std::size_t>(end - digits));  // may throw; nothing taken yet
    } while (!detail::g_thread_counter.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
    c.name.assign("Thread-").append(digits, end);  // fits the reserved capacity
  }
  c.daemon.store(daemonic, std::memory_order_relaxed);
}

detail::ThreadCore& Thread::core() const {
  if (!core_) throw RuntimeError("Thread handle is empty (it was moved from)");
  return *core_;
}

bool Thread::runs_on_this_object() const noexcept {
  if (!core_) return false;
  std::scoped_lock guard(core_->lock);
  return core_->runner == this && !core_->runner_shared;
}

Thread::~Thread() {
  if (!core_ || !runs_on_this_object()) return;
  const std::uint32_t stage = core_->stage();
  if (stage == ThreadCore::kTerminated) return;
  if (core_->ident.load(std::memory_order_relaxed) == get_ident()) return;  // its own thread
  char name[64];  // no allocation in a destructor
  {
    std::scoped_lock guard(core_->lock);
    const std::size_t n = core_->name.copy(name, sizeof name - 1);
    name[n] = '\0';
  }
  std::fprintf(
      stderr,
      "spindle: Thread '%s' (a Thread subclass) destroyed while its run() executes; joining "
      "it. Join such an object before destroying it, or create it with "
      "spindle::make_thread<T>().\n",
      name);
  std::fflush(stderr);
  join_until(detail::Deadline::never());
}

Thread::Thread(Thread&& other) {
  if (other.runs_on_this_object() && other.core_->stage() != ThreadCore::kTerminated)
    throw RuntimeError("cannot move a Thread subclass object while its run() executes");
  core_ = std::move(other.core_);
}

Thread& Thread::operator=(Thread&& other) {
  if (this == &other) return *this;
  for (Thread* t : {this, &other}) {
    if (t->runs_on_this_object() && t->core_->stage() != ThreadCore::kTerminated)
      throw RuntimeError("cannot move a Thread subclass object while its run() executes");
  }
  core_ = std::move(other.core_);
  return *this;
}

void Thread::run() {
  if (core_) core_->call_target();
}

void Thread::start() {
  ThreadCore& c = core();
  detail::ensure_exit_handler();  // harmless if what follows fails
  std::uint32_t expected = ThreadCore::kNew;
  if (!c.word.compare_exchange_strong(expected, ThreadCore::kReady, std::memory_order_acq_rel))
    throw RuntimeError("threads can only be started once");

    // Subclass (run() overridden): the thread calls run() on this object and,
    // if a shared_ptr owns it, keeps it alive until run() returns.
#if defined(__GNUC__) && !defined(__clang__)
  static const RunFn base_run = [] {
    Thread probe(detail::AliasTag{}, nullptr);
    return (RunFn)(probe.*(&Thread::run));
  }();
  const bool overrides = (RunFn)(this->*(&Thread::run)) != base_run;
#else
  const bool overrides = !c.has_target();
#endif
  // From here on nothing allocates: the new thread's reference to the core
  // travels in the core itself (`starter`), so a start either happens or
  // throws RuntimeError with the Thread back in "new".
  std::shared_ptr<Thread> keep = overrides ? weak_from_this().lock() : nullptr;
  {
    std::scoped_lock guard(c.lock);
    c.runner = overrides ? this : nullptr;
    c.runner_shared = keep != nullptr;
    std::swap(c.self, keep);  // the previous value, if any, is dropped after the unlock
    c.stack_size = g_stack_size.load(std::memory_order_relaxed);
    c.starter = core_;
  }
  // Joinable before the thread exists: whoever sees it terminated reaps it.
  c.os.store(ThreadCore::kOsJoinable, std::memory_order_release);
  detail::registry_add(&c);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (c.stack_size != 0) pthread_attr_setstacksize(&attr, c.stack_size);
  pthread_t tid;
  const int rc = pthread_create(&tid, &attr, trampoline, &c);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    detail::registry_remove(&c);
    std::shared_ptr<Thread> drop_self;
    std::shared_ptr<ThreadCore> drop_starter;
    {
      std::scoped_lock guard(c.lock);
      c.runner = nullptr;
      c.runner_shared = false;
      drop_self = std::move(c.self);
      drop_starter = std::move(c.starter);
    }
    c.os.store(ThreadCore::kOsNone, std::memory_order_release);
    detail::wake_waiters(c.word.exchange(ThreadCore::kNew, std::memory_order_acq_rel),
                         ThreadCore::kWaiters, c.word);
    throw RuntimeError("can't start new thread");
  }
  c.ident.store(static_cast<std::uint64_t>(tid), std::memory_order_release);
}

void Thread::join() {
  join_until(detail::Deadline::never());
}

bool Thread::join_until(detail::Deadline deadline) {
  ThreadCore& c = core();
  if (c.kind == ThreadCore::Kind::dummy) throw RuntimeError("cannot join a dummy thread");
  std::uint32_t w = c.word.load(std::memory_order_acquire);
  if ((w & ThreadCore::kStageMask) == ThreadCore::kNew)
    throw RuntimeError("cannot join thread before it is started");
  if ((w & ThreadCore::kStageMask) != ThreadCore::kTerminated &&
      c.ident.load(std::memory_order_relaxed) == get_ident())
    throw RuntimeError("cannot join current thread");
  return detail::join_core(c, deadline);
}

bool Thread::is_alive() const noexcept {
  if (!core_) return false;
  const std::uint32_t s = core_->stage();
  return s == ThreadCore::kReady || s == ThreadCore::kRunning;
}

std::string Thread::name() const {
  ThreadCore& c = core();
  std::scoped_lock guard(c.lock);
  return c.name;
}

void Thread::set_name(std::string name) {
  ThreadCore& c = core();
  std::scoped_lock guard(c.lock);
  c.name = std::move(name);
  // Like Python 3.14, the OS name follows only when the thread renames itself
  // (another thread's pthread_t may be stale once it has exited).
  if (c.stage() == ThreadCore::kRunning && c.ident.load(std::memory_order_relaxed) == get_ident())
    set_os_name(c.name);
}

std::optional<std::uint64_t> Thread::ident() const noexcept {
  if (!core_) return std::nullopt;
  const std::uint64_t id = core_->ident.load(std::memory_order_relaxed);
  if (id == 0 || core_->stage() == ThreadCore::kNew) return std::nullopt;
  return id;
}

std::optional<long> Thread::native_id() const {
  ThreadCore& c = core();
  // The id is published before kRunning; wait while the thread is starting.
  detail::wait_word(
      c.word, ThreadCore::kWaiters,
      [&c](std::uint32_t w) {
        return (w & ThreadCore::kStageMask) != ThreadCore::kReady ||
               c.native_id.load(std::memory_order_relaxed) != 0;
      },
      detail::Deadline::never(), detail::WaitSite{"Thread.native_id", &c});
  if (c.stage() == ThreadCore::kNew) return std::nullopt;
  const long id = c.native_id.load(std::memory_order_relaxed);
  if (id != 0) return id;
  return std::nullopt;  // the main thread, first seen from another thread
}

bool Thread::daemon() const noexcept {
  return core_ && core_->daemon.load(std::memory_order_relaxed);
}

void Thread::set_daemon(bool daemonic) {
  ThreadCore& c = core();
  if (c.stage() != ThreadCore::kNew)
    throw RuntimeError("cannot set daemon status of active thread");
  c.daemon.store(daemonic, std::memory_order_relaxed);
}

ThreadState Thread::state() const {
  ThreadCore& c = core();
  switch (c.stage()) {
    case ThreadCore::kNew:
      return ThreadState::new_;
    case ThreadCore::kReady:
      return ThreadState::ready;
    case ThreadCore::kTerminated:
      return ThreadState::terminated;
    default:
      break;
  }
  std::scoped_lock guard(c.lock);
  if (c.wait != nullptr && c.wait->kind.load(std::memory_order_acquire) != nullptr)
    return ThreadState::blocked;
  return c.stage() == ThreadCore::kTerminated ? ThreadState::terminated : ThreadState::running;
}

std::optional<ThreadWait> Thread::waiting_on() const {
  ThreadCore& c = core();
  std::scoped_lock guard(c.lock);
  if (c.wait == nullptr) return std::nullopt;
  const char* kind = c.wait->kind.load(std::memory_order_acquire);
  if (kind == nullptr) return std::nullopt;
  return ThreadWait{kind, c.wait->object.load(std::memory_order_relaxed),
                    c.wait->since_ns.load(std::memory_order_relaxed)};
}

// ---------------------------------------------------------------- module functions

Thread& current_thread() {
  if (Thread* t = detail::tls_current) return *t;
  return detail::current_thread_slow();
}

std::uint64_t get_ident() noexcept {
  return static_cast<std::uint64_t>(pthread_self());
}

long get_native_id() noexcept {
  return static_cast<long>(::gettid());
}

std::size_t stack_size() noexcept {
  return g_stack_size.load(std::memory_order_relaxed);
}

std::size_t stack_size(std::size_t bytes) {
  if (bytes != 0) {
    bool ok = bytes >= 32768;
    if (ok) {
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      ok = pthread_attr_setstacksize(&attr, bytes) == 0;
      pthread_attr_destroy(&attr);
    }
    if (!ok) throw ValueError("size not valid: " + std::to_string(bytes) + " bytes");
  }
  return g_stack_size.exchange(bytes, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- excepthook

namespace {
using ExceptHook = std::function<void(const ExceptHookArgs&)>;
detail::HookSlot<ExceptHook>& excepthook_slot() {
  static detail::HookSlot<ExceptHook>& slot = detail::HookSlot<ExceptHook>::make();
  return slot;
}
// Made at load time, so that the fork handler never allocates it.
[[maybe_unused]] const bool g_hook_ready = (excepthook_slot(), true);
}  // namespace

std::string ExceptHookArgs::type_name() const {
  return detail::exception_type_name(exc);
}

std::string ExceptHookArgs::message() const {
  return detail::exception_message(exc);
}

void default_excepthook(const ExceptHookArgs& args) {
  const std::string name =
      args.thread != nullptr ? args.thread->name() : std::to_string(get_ident());
  detail::write_stderr("Exception in thread " + name + ":\n" +
                       detail::describe_exception(args.exc) + "\n");
}

void excepthook(const ExceptHookArgs& args) {
  std::function<void(const ExceptHookArgs&)> hook = get_excepthook();
  try {
    if (hook) {
      hook(args);
    } else {
      default_excepthook(args);
    }
  } catch (...) {
    detail::report_hook_failure("Exception in threading.excepthook");
  }
}

void set_excepthook(std::function<void(const ExceptHookArgs&)> hook) {
  (void)excepthook_slot().exchange(std::move(hook));  // the old one is destroyed unlocked
}

std::function<void(const ExceptHookArgs&)> get_excepthook() {
  ExceptHook hook = excepthook_slot().load();
  return hook ? hook : ExceptHook(default_excepthook);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace spindle
