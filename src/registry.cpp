// The thread registry: every alive thread (spindle threads, the main thread,
// foreign threads that called current_thread()), enumerate, active_count,
// dump_threads, and the exit-time sequence (register_atexit callbacks, then
// joining the non-daemon threads).
//
// The registry is immortal (allocated once, never destroyed): daemon threads
// still running while static destructors run at exit can always use it.
#include <pthread.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "spindle/thread.hpp"
#include "thread_internal.hpp"

namespace spindle::detail {
namespace {

struct Registry {
  Lock lock;                       // guards everything below
  ThreadCore* head = nullptr;      // alive threads, newest first
  std::size_t count = 0;
  std::vector<std::function<void()>> atexits;
  bool exiting = false;
  bool handler_installed = false;
  std::atomic<bool> handler_flag{false};
  std::shared_ptr<ThreadCore> main_core;
  Thread* main = nullptr;          // immortal
};

std::atomic<unsigned long> g_thread_counter{0};
std::atomic<unsigned long> g_dummy_counter{0};

bool on_main_thread() noexcept { return ::gettid() == ::getpid(); }

void write_stderr(const std::string& text) noexcept {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

void adopt_calling_thread(ThreadCore& c) {
  c.ident.store(get_ident(), std::memory_order_relaxed);
  c.native_id.store(get_native_id(), std::memory_order_relaxed);
  std::scoped_lock guard(c.lock);
  c.wait = &this_thread_wait_state();
}

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
  if (c->prev != nullptr) c->prev->next = c->next; else r.head = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  c->registered = false;
  --r.count;
}

void publish_terminated(ThreadCore& c) noexcept {
  const std::uint32_t prev = c.word.exchange(ThreadCore::kTerminated, std::memory_order_acq_rel);
  if (prev & ThreadCore::kWaiters) unpark_all(c.word);
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

Thread& make_dummy() {
  auto core = std::make_shared<ThreadCore>(ThreadCore::Kind::dummy);
  core->name = "Dummy-" + std::to_string(g_dummy_counter.fetch_add(1, std::memory_order_relaxed) + 1);
  core->daemon.store(true, std::memory_order_relaxed);
  core->word.store(ThreadCore::kRunning, std::memory_order_relaxed);
  adopt_calling_thread(*core);
  core->self = ThreadAccess::alias(core);
  Thread* handle = core->self.get();
  if (tls_reaped) {
    // Called from a thread_local destructor after this thread's entry was
    // removed: hand out an unregistered handle that lives as long as the
    // process (rare; keeps current_thread() valid).
    tls_current = handle;
    new std::shared_ptr<ThreadCore>(std::move(core));
    return *handle;
  }
  registry_add(core.get());
  static thread_local DummyReaper reaper;
  reaper.core = std::move(core);
  tls_current = handle;
  return *handle;
}

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
      ExceptHookArgs a{std::current_exception(), nullptr};
      const std::string msg = a.message();
      write_stderr("Exception in threading atexit callback:\n" + a.type_name() +
                   (msg.empty() ? "" : ": " + msg) + "\n");
    }
  }
  if (on_main_thread()) publish_terminated(*r.main_core);

  // Join every non-daemon thread, again and again while new ones appear.
  const ThreadCore* me = tls_core != nullptr ? tls_core->get() : nullptr;
  for (;;) {
    std::vector<std::shared_ptr<ThreadCore>> pending;
    {
      std::scoped_lock guard(r.lock);
      for (ThreadCore* c = r.head; c != nullptr; c = c->next) {
        if (c->kind == ThreadCore::Kind::spawned && c != me &&
            !c->daemon.load(std::memory_order_relaxed))
          pending.push_back(c->shared_from_this());
      }
    }
    if (pending.empty()) break;
    for (auto& c : pending) wait_terminated(*c, Deadline::never());
  }
}

}  // namespace

unsigned long next_thread_number() noexcept {
  return g_thread_counter.fetch_add(1, std::memory_order_relaxed) + 1;
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
    if (r.main_core->native_id.load(std::memory_order_relaxed) == 0) adopt_calling_thread(*r.main_core);
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

Thread& main_thread() { return *detail::registry().main; }

std::vector<std::shared_ptr<Thread>> enumerate() {
  auto& r = detail::registry();
  std::vector<std::shared_ptr<Thread>> out;
  std::scoped_lock guard(r.lock);
  out.reserve(r.count);
  for (ThreadCore* c = r.head; c != nullptr; c = c->next) out.push_back(detail::shared_handle_of(*c));
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
