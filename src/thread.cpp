// Thread: start, the thread's trampoline, join, attributes, excepthook,
// stack_size. The registry (enumerate, main/foreign threads, exit-time join)
// is in src/registry.cpp.
#include <cxxabi.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <typeinfo>

#include "spindle/thread.hpp"
#include "thread_internal.hpp"

namespace spindle {
namespace detail {
thread_local Thread* tls_current = nullptr;
thread_local const std::shared_ptr<ThreadCore>* tls_core = nullptr;

std::shared_ptr<Thread> shared_handle_of(ThreadCore& core) {
  std::scoped_lock guard(core.lock);
  if (!core.self) core.self = ThreadAccess::alias(core.shared_from_this());
  return core.self;
}

Thread& handle_of(const std::shared_ptr<ThreadCore>& core) { return *shared_handle_of(*core); }

bool wait_terminated(ThreadCore& c, Deadline deadline) noexcept {
  const WaitSite site{"Thread.join", &c};
  for (;;) {
    std::uint32_t w = c.word.load(std::memory_order_acquire);
    // kNew again only if pthread_create failed in start(): nothing to wait for.
    const std::uint32_t stage = w & ThreadCore::kStageMask;
    if (stage == ThreadCore::kTerminated || stage == ThreadCore::kNew) return true;
    if (!(w & ThreadCore::kWaiters)) {
      if (!c.word.compare_exchange_weak(w, w | ThreadCore::kWaiters, std::memory_order_acq_rel))
        continue;
      w |= ThreadCore::kWaiters;
    }
    if (!park(c.word, w, deadline, site)) {
      const std::uint32_t now = c.stage();
      return now == ThreadCore::kTerminated || now == ThreadCore::kNew;
    }
  }
}
}  // namespace detail

namespace {

using detail::ThreadCore;

std::atomic<std::size_t> g_stack_size{0};

void write_stderr(const std::string& text) noexcept {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

// Sets the calling thread's OS name (at most 15 bytes plus the NUL).
void set_os_name(const std::string& name) noexcept {
  char buf[16];
  const std::size_t n = name.size() < 15 ? name.size() : 15;
  std::memcpy(buf, name.data(), n);
  buf[n] = '\0';
  pthread_setname_np(pthread_self(), buf);
}

void wake_if_waiters(std::uint32_t prev, const std::atomic<std::uint32_t>& word) noexcept {
  if (prev & ThreadCore::kWaiters) detail::unpark_all(word);
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
    ExceptHookArgs args{exc, &current_thread()};
    excepthook(args);
  } catch (...) {
    write_stderr("spindle: an exception escaped a thread and could not be reported\n");
  }
}

// The thread's exit sequence, run when the body returns, throws, or is
// unwound by pthread_exit: destroy the target and this thread's local<T>
// instances, leave the registry, then publish "terminated" and wake joiners.
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
    wake_if_waiters(c.word.exchange(ThreadCore::kTerminated, std::memory_order_acq_rel), c.word);
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
  auto* holder = static_cast<std::shared_ptr<ThreadCore>*>(arg);
  const std::shared_ptr<ThreadCore> core = std::move(*holder);
  delete holder;
  ThreadCore& c = *core;
  c.ident.store(static_cast<std::uint64_t>(pthread_self()), std::memory_order_relaxed);
  c.native_id.store(static_cast<long>(::gettid()), std::memory_order_relaxed);
  Thread* runner;
  {
    std::scoped_lock guard(c.lock);
    c.wait = &detail::this_thread_wait_state();
    runner = c.runner;
    set_os_name(c.name);
  }
  detail::tls_current = runner;
  detail::tls_core = &core;
  wake_if_waiters(c.word.exchange(ThreadCore::kRunning, std::memory_order_acq_rel), c.word);
  {
    ExitSequence exit_sequence{core};
    run_body(c, runner);
  }
  return nullptr;
}

}  // namespace

const char* to_string(ThreadState s) noexcept {
  switch (s) {
    case ThreadState::new_: return "new";
    case ThreadState::ready: return "ready";
    case ThreadState::running: return "running";
    case ThreadState::blocked: return "blocked";
    case ThreadState::terminated: return "terminated";
  }
  return "unknown";
}

// ---------------------------------------------------------------- Thread

Thread::Thread(detail::AliasTag, std::shared_ptr<detail::ThreadCore> core) noexcept
    : core_(std::move(core)) {}

Thread::Thread() : core_(std::make_shared<detail::ThreadCore>()) { init(ThreadOptions{}); }

Thread::Thread(ThreadOptions opts) : core_(std::make_shared<detail::ThreadCore>()) {
  init(std::move(opts));
}

void Thread::init(ThreadOptions opts) {
  ThreadCore& c = *core_;
  c.name = opts.name.empty() ? "Thread-" + std::to_string(detail::next_thread_number())
                             : std::move(opts.name);
  c.daemon.store(opts.daemon ? *opts.daemon : current_thread().daemon(), std::memory_order_relaxed);
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
  std::string name;
  {
    std::scoped_lock guard(core_->lock);
    name = core_->name;
  }
  write_stderr("spindle: Thread '" + name +
               "' (a Thread subclass) destroyed while its run() executes; joining it. Join such an "
               "object before destroying it, or create it with spindle::make_thread<T>().\n");
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
  std::shared_ptr<Thread> keep = overrides ? weak_from_this().lock() : nullptr;
  {
    std::scoped_lock guard(c.lock);
    c.runner = overrides ? this : nullptr;
    c.runner_shared = keep != nullptr;
    c.self = std::move(keep);
    c.stack_size = g_stack_size.load(std::memory_order_relaxed);
  }
  detail::ensure_exit_handler();
  detail::registry_add(&c);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (c.stack_size != 0) pthread_attr_setstacksize(&attr, c.stack_size);
  auto* arg = new std::shared_ptr<ThreadCore>(core_);
  pthread_t tid;
  const int rc = pthread_create(&tid, &attr, trampoline, arg);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete arg;
    detail::registry_remove(&c);
    std::shared_ptr<Thread> drop;
    {
      std::scoped_lock guard(c.lock);
      c.runner = nullptr;
      c.runner_shared = false;
      drop = std::move(c.self);
    }
    wake_if_waiters(c.word.exchange(ThreadCore::kNew, std::memory_order_acq_rel), c.word);
    throw RuntimeError("can't start new thread");
  }
  c.ident.store(static_cast<std::uint64_t>(tid), std::memory_order_relaxed);
}

void Thread::join() { join_until(detail::Deadline::never()); }

bool Thread::join_until(detail::Deadline deadline) {
  ThreadCore& c = core();
  if (c.kind == ThreadCore::Kind::dummy) throw RuntimeError("cannot join a dummy thread");
  std::uint32_t w = c.word.load(std::memory_order_acquire);
  if ((w & ThreadCore::kStageMask) == ThreadCore::kNew)
    throw RuntimeError("cannot join thread before it is started");
  if ((w & ThreadCore::kStageMask) != ThreadCore::kTerminated &&
      c.ident.load(std::memory_order_relaxed) == get_ident())
    throw RuntimeError("cannot join current thread");
  return detail::wait_terminated(c, deadline);
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
  for (;;) {
    std::uint32_t w = c.word.load(std::memory_order_acquire);
    const std::uint32_t stage = w & ThreadCore::kStageMask;
    if (stage == ThreadCore::kNew) return std::nullopt;
    const long id = c.native_id.load(std::memory_order_relaxed);  // published before kRunning
    if (id != 0) return id;
    if (stage != ThreadCore::kReady) return std::nullopt;  // main thread first seen elsewhere
    if (!(w & ThreadCore::kWaiters)) {
      if (!c.word.compare_exchange_weak(w, w | ThreadCore::kWaiters, std::memory_order_acq_rel))
        continue;
      w |= ThreadCore::kWaiters;
    }
    detail::park(c.word, w, detail::Deadline::never(), detail::WaitSite{"Thread.native_id", &c});
  }
}

bool Thread::daemon() const noexcept {
  return core_ && core_->daemon.load(std::memory_order_relaxed);
}

void Thread::set_daemon(bool daemonic) {
  ThreadCore& c = core();
  if (c.stage() != ThreadCore::kNew) throw RuntimeError("cannot set daemon status of active thread");
  c.daemon.store(daemonic, std::memory_order_relaxed);
}

ThreadState Thread::state() const {
  ThreadCore& c = core();
  switch (c.stage()) {
    case ThreadCore::kNew: return ThreadState::new_;
    case ThreadCore::kReady: return ThreadState::ready;
    case ThreadCore::kTerminated: return ThreadState::terminated;
    default: break;
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

std::uint64_t get_ident() noexcept { return static_cast<std::uint64_t>(pthread_self()); }

long get_native_id() noexcept { return static_cast<long>(::gettid()); }

std::size_t stack_size() noexcept { return g_stack_size.load(std::memory_order_relaxed); }

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
struct HookSlot {
  Lock lock;
  std::function<void(const ExceptHookArgs&)> hook;
};
HookSlot& hook_slot() {
  static HookSlot* slot = new HookSlot;  // immortal: hooks may run during exit
  return *slot;
}
}  // namespace

std::string detail::describe_exception(const std::exception_ptr& exc) {
  ExceptHookArgs a{exc, nullptr};
  std::string type = a.type_name();
  std::string msg = a.message();
  return msg.empty() ? type : type + ": " + msg;
}

std::string ExceptHookArgs::type_name() const {
  if (!exc) return "<no exception>";
  try {
    std::rethrow_exception(exc);
  } catch (...) {
    const std::type_info* ti = abi::__cxa_current_exception_type();
    if (ti == nullptr) return "<unknown exception>";
    int status = 0;
    char* demangled = abi::__cxa_demangle(ti->name(), nullptr, nullptr, &status);
    std::string out = status == 0 && demangled != nullptr ? demangled : ti->name();
    std::free(demangled);
    return out;
  }
}

std::string ExceptHookArgs::message() const {
  if (!exc) return {};
  try {
    std::rethrow_exception(exc);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return {};
  }
}

void default_excepthook(const ExceptHookArgs& args) {
  const std::string name =
      args.thread != nullptr ? args.thread->name() : std::to_string(get_ident());
  write_stderr("Exception in thread " + name + ":\n" + detail::describe_exception(args.exc) + "\n");
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
    write_stderr("Exception in threading.excepthook:\n" + detail::describe_exception(std::current_exception()) + "\n");
  }
}

void set_excepthook(std::function<void(const ExceptHookArgs&)> hook) {
  HookSlot& s = hook_slot();
  std::scoped_lock guard(s.lock);
  s.hook.swap(hook);
}

std::function<void(const ExceptHookArgs&)> get_excepthook() {
  HookSlot& s = hook_slot();
  std::scoped_lock guard(s.lock);
  return s.hook ? s.hook : std::function<void(const ExceptHookArgs&)>(default_excepthook);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace spindle
