// The thread registry: every alive thread (spindle threads, the main thread,
// foreign threads that called current_thread()), enumerate, active_count,
// dump_threads, the exit-time sequence (register_atexit callbacks, then
// joining the non-daemon threads), and fork(): the pthread_atfork handlers
// that leave a child with its one thread as the main thread.
//
// The registry is immortal (allocated once, never destroyed): daemon threads
// still running while static destructors run at exit can always use it.
#include <pthread.h>
#include <unistd.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "report.hpp"
#include "spindle/thread.hpp"
#include "thread_internal.hpp"

namespace spindle::detail {
namespace {

struct Registry {
  Lock lock;                   // guards everything below
  ThreadCore* head = nullptr;  // alive threads, newest first
  std::size_t count = 0;
  std::vector<std::function<void()>> atexits;
  bool exiting = false;
  bool handler_installed = false;
  std::atomic<bool> handler_flag{false};
  // The main thread's core and immortal handle. Replaced only in a forked
  // child whose forking thread was not the main thread (no other thread
  // exists then); the previous handle is never freed.
  std::shared_ptr<ThreadCore> main_core;
  Thread* main = nullptr;
};

std::atomic<unsigned long> g_dummy_counter{0};

bool on_main_thread() noexcept {
  return ::gettid() == ::getpid();
}

void adopt_calling_thread(ThreadCore& c) {
  c.ident.store(get_ident(), std::memory_order_relaxed);
  c.native_id.store(get_native_id(), std::memory_order_relaxed);
  std::scoped_lock guard(c.lock);
  c.wait = &this_thread_wait_state();
}

void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

Registry* make_registry() {
  auto* r = new Registry;
  r->main_core = std::make_shared<ThreadCore>(ThreadCore::Kind::main);
  ThreadCore& m = *r->main_core;
  m.name = "MainThread";
  m.word.store(ThreadCore::kRunning, std::memory_order_relaxed);
  r->main = ThreadAccess::make_raw(r->main_core);
  m.self = std::shared_ptr<Thread>(r->main, [](Thread*) {});  // never freed
  if (on_main_thread()) {
    adopt_calling_thread(m);
    tls_current = r->main;
  }
  m.registered = true;
  m.next = nullptr;
  r->head = &m;
  r->count = 1;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  return r;
}

Registry& registry() {
  static Registry* r = make_registry();
  return *r;
}

// Created at load time, on the main thread in every ordinary program, so the
// main thread's ident is known even if a foreign thread is the first caller.
[[maybe_unused]] const bool g_registry_ready = (registry(), true);

void link(Registry& r, ThreadCore* c) noexcept {
  c->prev = nullptr;
  c->next = r.head;
  if (r.head != nullptr) r.head->prev = c;
  r.head = c;
  c->registered = true;
  ++r.count;
}

void unlink(Registry& r, ThreadCore* c) noexcept {
  if (!c->registered) return;
  if (c->prev != nullptr) {
    c->prev->next = c->next;
  } else {
    r.head = c->next;
  }
  if (c->next != nullptr) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  c->registered = false;
  --r.count;
}

void publish_terminated(ThreadCore& c) noexcept {
  wake_waiters(c.word.exchange(ThreadCore::kTerminated, std::memory_order_acq_rel),
               ThreadCore::kWaiters, c.word);
}

// A foreign thread's entry lives until its OS thread ends (thread_local
// destructor), like Python's _DummyThread.
struct DummyReaper {
  std::shared_ptr<ThreadCore> core;
  ~DummyReaper() {
    if (!core) return;
    registry_remove(core.get());
    std::shared_ptr<Thread> self;
    {
      std::scoped_lock guard(core->lock);
      core->wait = nullptr;
      self = std::move(core->self);
    }
    if (tls_current == self.get()) tls_current = nullptr;
    publish_terminated(*core);
  }
};
thread_local bool tls_reaped = false;

// Everything that can throw (allocations) happens before anything becomes
// visible: a failure leaves no entry, no handle and no used-up number.
Thread& make_dummy() {
  auto core = std::make_shared<ThreadCore>(ThreadCore::Kind::dummy);
  std::shared_ptr<Thread> self = ThreadAccess::alias(core);
  Thread* handle = self.get();
  // Called from a thread_local destructor after this thread's entry was
  // removed: hand out an unregistered handle that lives as long as the
  // process (rare; keeps current_thread() valid).
  std::shared_ptr<ThreadCore>* forever = tls_reaped ? new std::shared_ptr<ThreadCore>() : nullptr;
  unsigned long n = g_dummy_counter.load(std::memory_order_relaxed);
  char digits[24];
  char* end;
  do {
    end = std::to_chars(digits, digits + sizeof digits, n + 1).ptr;
    try {
      core->name.reserve(6 + static_cast<std::size_t>(end - digits));
    } catch (...) {
      delete forever;
      throw;
    }
  } while (!g_dummy_counter.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  // Nothing below allocates.
  core->name.assign("Dummy-").append(digits, end);
  core->daemon.store(true, std::memory_order_relaxed);
  core->word.store(ThreadCore::kRunning, std::memory_order_relaxed);
  if (forever != nullptr) {
    *forever = core;              // kept for the life of the process, on purpose
    adopt_calling_thread(*core);  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks)
    core->self = std::move(self);
    tls_current = handle;
    return *handle;
  }
  adopt_calling_thread(*core);
  {
    std::scoped_lock guard(core->lock);
    core->self = std::move(self);
  }
  registry_add(core.get());
  static thread_local DummyReaper reaper;
  reaper.core = std::move(core);
  tls_current = handle;
  return *handle;
}

// Runs from std::exit. Allocates nothing of its own (an exception escaping
// an atexit handler would reach std::terminate).
void at_exit_handler() {
  Registry& r = registry();
  std::vector<std::function<void()>> calls;
  {
    std::scoped_lock guard(r.lock);
    r.exiting = true;
    calls.swap(r.atexits);
  }
  for (auto it = calls.rbegin(); it != calls.rend(); ++it) {
    try {
      (*it)();
    } catch (...) {
      report_hook_failure("Exception in threading atexit callback");
    }
  }
  if (on_main_thread()) publish_terminated(*r.main_core);

  // Join every non-daemon thread, one at a time, again and again while new
  // ones appear. The list of every core is walked rather than the registry,
  // so that a thread that has just left the registry, or one that ended
  // unjoined while a handle still holds it, is reaped too. A joined core is
  // not picked again (its OS thread is gone: `os` is joined).
  const ThreadCore* me = tls_core != nullptr ? tls_core->get() : nullptr;
  for (;;) {
    std::shared_ptr<ThreadCore> pending;
    {
      std::scoped_lock guard(g_all_cores.lock);
      for (ThreadCore* c = g_all_cores.head; c != nullptr; c = c->all_next) {
        if (c->kind != ThreadCore::Kind::spawned || c == me) continue;
        const std::uint32_t stage = c->stage();
        const std::uint32_t os = c->os.load(std::memory_order_acquire) & ThreadCore::kOsMask;
        if (c->daemon.load(std::memory_order_relaxed)) {
          // Abandoned if still running; if it has ended, let the system
          // reap it (nobody is going to join it now).
          if (stage == ThreadCore::kTerminated && os == ThreadCore::kOsJoinable) {
            std::uint32_t expected = ThreadCore::kOsJoinable;
            if (c->os.compare_exchange_strong(expected, ThreadCore::kOsJoined,
                                              std::memory_order_acq_rel))
              pthread_detach(static_cast<pthread_t>(c->ident.load(std::memory_order_acquire)));
          }
          continue;
        }
        if (stage == ThreadCore::kReady || stage == ThreadCore::kRunning ||
            (stage == ThreadCore::kTerminated && os == ThreadCore::kOsJoinable)) {
          pending = c->weak_from_this().lock();  // null if it is being destroyed
          if (pending) break;
        }
      }
    }
    if (!pending) break;
    join_core(*pending, Deadline::never());
  }
}

// ---------------------------------------------------------------- fork

constexpr int kMaxForkCallbacks = 16;
struct ForkCallbacks {
  Lock lock;  // serialises registrations; entries below `count` never change
  std::atomic<int> count{0};
  void (*prepare[kMaxForkCallbacks])() = {};
  void (*parent[kMaxForkCallbacks])() = {};
  void (*child[kMaxForkCallbacks])() = {};
};
constinit ForkCallbacks g_fork_callbacks{};

// What fork_prepare learnt and made for the parent/child handler. Written
// and read by the forking thread only (fork() runs all three on it).
struct ForkState {
  int callbacks = 0;                       // registrations seen by prepare
  ThreadCore* current = nullptr;           // the forking thread's core, if any
  std::shared_ptr<ThreadCore> spare_core;  // main core for an unknown forking thread
  Thread* spare_handle = nullptr;          // an immortal handle for a new main thread
};
ForkState g_fork;

// Takes every internal lock of the thread layer, in the one order used
// everywhere: excepthook slot, local<T>, fork callbacks, registry, the core
// list, then each core (nothing holds a core's lock while taking another
// lock). Another thread holding one finishes its short critical section
// first, so the child inherits every structure in a consistent state.
void fork_prepare() noexcept {
  const int n = g_fork_callbacks.count.load(std::memory_order_acquire);
  g_fork.callbacks = n;
  for (int i = n - 1; i >= 0; --i)
    if (g_fork_callbacks.prepare[i] != nullptr) g_fork_callbacks.prepare[i]();

  Registry& r = registry();
  ThreadCore* cur = nullptr;
  if (tls_core != nullptr) {
    cur = tls_core->get();
  } else if (tls_current != nullptr) {
    cur = ThreadAccess::core(*tls_current).get();
  } else if (on_main_thread()) {
    cur = r.main_core.get();
  }
  g_fork.current = cur;
  // Allocations the child may need, made while allocating can still fail
  // harmlessly (the child falls back to the old main thread's entry).
  if (cur != r.main_core.get() && g_fork.spare_handle == nullptr)
    g_fork.spare_handle = ThreadAccess::make_raw_nothrow();
  if (cur == nullptr) {
    try {
      g_fork.spare_core = std::make_shared<ThreadCore>(ThreadCore::Kind::main);
    } catch (...) {
    }
  }

  hook_slots_acquire();
  local_fork_prepare();
  g_fork_callbacks.lock.acquire();
  r.lock.acquire();
  g_all_cores.lock.acquire();
  for (ThreadCore* c = g_all_cores.head; c != nullptr; c = c->all_next) c->lock.acquire();
}

void release_locks(Registry& r) noexcept {
  for (ThreadCore* c = g_all_cores.head; c != nullptr; c = c->all_next) c->lock.release();
  g_all_cores.lock.release();
  r.lock.release();
  g_fork_callbacks.lock.release();
}

void fork_parent() noexcept {
  Registry& r = registry();
  release_locks(r);
  local_fork_parent();
  hook_slots_release();
  g_fork.spare_core.reset();  // unused here; its destructor takes the core list's lock
  for (int i = 0; i < g_fork.callbacks; ++i)
    if (g_fork_callbacks.parent[i] != nullptr) g_fork_callbacks.parent[i]();
}

// The child has one thread, the forking one. As CPython's
// threading._after_fork: it becomes the main thread (a foreign thread's
// Dummy is renamed MainThread and made non-daemon; a spindle thread keeps
// its name and daemon flag); every other thread is marked terminated and
// needs no join; the registry lists the survivor alone.
void fork_child() noexcept {
  Registry& r = registry();
  g_pid = ::getpid();
  ThreadCore* cur = g_fork.current;
  std::shared_ptr<ThreadCore> fresh;
  if (cur == nullptr) {
    fresh = std::move(g_fork.spare_core);  // already on the core list, its lock held
    if (fresh) {
      cur = fresh.get();
      cur->name = "MainThread";  // fits the string's inline buffer: no allocation
      cur->word.store(ThreadCore::kRunning, std::memory_order_relaxed);
    } else {
      cur = r.main_core.get();  // out of memory in prepare: reuse the old entry
    }
  }

  for (ThreadCore* c = g_all_cores.head; c != nullptr; c = c->all_next) {
    if (c == cur) continue;
    c->wait = nullptr;  // its thread's wait state may become another thread's TLS
    const std::uint32_t stage = c->word.load(std::memory_order_relaxed) & ThreadCore::kStageMask;
    if (stage == ThreadCore::kReady || stage == ThreadCore::kRunning)
      c->word.store(ThreadCore::kTerminated, std::memory_order_relaxed);
    c->os.store(ThreadCore::kOsNone, std::memory_order_relaxed);  // nothing to pthread_join here
  }
  while (r.head != nullptr) unlink(r, r.head);
  link(r, cur);

  cur->ident.store(get_ident(), std::memory_order_relaxed);
  cur->native_id.store(get_native_id(), std::memory_order_relaxed);
  cur->wait = &this_thread_wait_state();
  cur->os.store(ThreadCore::kOsNone, std::memory_order_relaxed);
  if (cur->kind == ThreadCore::Kind::dummy) {
    cur->name = "MainThread";
    cur->daemon.store(false, std::memory_order_relaxed);
  }
  cur->kind = ThreadCore::Kind::main;
  if (cur != r.main_core.get()) {
    // The old main core stays alive through its immortal handle.
    r.main_core = fresh ? std::move(fresh) : cur->shared_from_this();
    if (g_fork.spare_handle != nullptr) {
      ThreadAccess::bind(*g_fork.spare_handle, r.main_core);
      r.main = g_fork.spare_handle;
      g_fork.spare_handle = nullptr;
    }
    if (tls_current == nullptr && tls_core == nullptr) tls_current = r.main;
  }

  release_locks(r);
  local_fork_child();
  hook_slots_release();
  for (int i = 0; i < g_fork.callbacks; ++i)
    if (g_fork_callbacks.child[i] != nullptr) g_fork_callbacks.child[i]();
}

}  // namespace

void register_at_fork(void (*prepare)(), void (*parent)(), void (*child)()) {
  ForkCallbacks& f = g_fork_callbacks;
  std::scoped_lock guard(f.lock);
  const int i = f.count.load(std::memory_order_relaxed);
  if (i == kMaxForkCallbacks) throw RuntimeError("too many at-fork callbacks");
  f.prepare[i] = prepare;
  f.parent[i] = parent;
  f.child[i] = child;
  f.count.store(i + 1, std::memory_order_release);
}

void registry_add(ThreadCore* core) {
  Registry& r = registry();
  std::scoped_lock guard(r.lock);
  link(r, core);
}

void registry_remove(ThreadCore* core) {
  Registry& r = registry();
  std::scoped_lock guard(r.lock);
  unlink(r, core);
}

void ensure_exit_handler() {
  Registry& r = registry();
  if (r.handler_flag.load(std::memory_order_acquire)) return;
  std::scoped_lock guard(r.lock);
  if (r.handler_installed) return;
  if (std::atexit(at_exit_handler) != 0) throw RuntimeError("cannot install the exit handler");
  r.handler_installed = true;
  r.handler_flag.store(true, std::memory_order_release);
}

Thread& current_thread_slow() {
  if (tls_core != nullptr) {
    Thread& t = handle_of(*tls_core);
    tls_current = &t;
    return t;
  }
  Registry& r = registry();
  if (on_main_thread()) {
    if (r.main_core->native_id.load(std::memory_order_relaxed) == 0)
      adopt_calling_thread(*r.main_core);
    tls_current = r.main;
    return *r.main;
  }
  return make_dummy();
}

void register_atexit(std::function<void()> fn) {
  Registry& r = registry();
  {
    std::scoped_lock guard(r.lock);
    if (r.exiting) throw RuntimeError("can't register atexit after shutdown");
    r.atexits.push_back(std::move(fn));
  }
  ensure_exit_handler();
}

}  // namespace spindle::detail

namespace spindle {

using detail::ThreadCore;

Thread& main_thread() {
  return *detail::registry().main;
}

std::vector<std::shared_ptr<Thread>> enumerate() {
  auto& r = detail::registry();
  std::vector<std::shared_ptr<Thread>> out;
  std::scoped_lock guard(r.lock);
  out.reserve(r.count);
  for (ThreadCore* c = r.head; c != nullptr; c = c->next)
    out.push_back(detail::shared_handle_of(*c));
  return out;
}

std::size_t active_count() {
  auto& r = detail::registry();
  std::scoped_lock guard(r.lock);
  return r.count;
}

std::string dump_threads() {
  std::vector<std::shared_ptr<Thread>> threads = enumerate();
  const std::int64_t now = detail::Deadline::now_ns();
  std::string out;
  for (auto it = threads.rbegin(); it != threads.rend(); ++it) {
    const Thread& t = **it;
    char line[256];
    const auto ident = t.ident();
    const auto state = t.state();
    std::snprintf(line, sizeof line, " ident=0x%" PRIx64 " native_id=%ld daemon=%s state=%s",
                  ident ? *ident : 0, t.ident() ? t.native_id().value_or(0) : 0L,
                  t.daemon() ? "yes" : "no", to_string(state));
    out += '"' + t.name() + '"' + line;
    if (auto w = t.waiting_on()) {
      std::snprintf(line, sizeof line, " on %s %p for %.3f s", w->kind, w->object,
                    static_cast<double>(now - w->since_ns) / 1e9);
      out += line;
    }
    out += '\n';
  }
  return out;
}

}  // namespace spindle
