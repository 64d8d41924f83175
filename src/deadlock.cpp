// Deadlock diagnostics: the wait-for graph checked when a thread is about
// to block without a timeout, find_deadlocks(), lock-order checking, and the
// thread dump on a signal. Design and the argument that no stale record
// makes a false cycle: docs/design/deadlock.md.
//
// The detector's state is one record per thread that has blocked under it
// (a thread_local, registered in a small hash table by owner token), guarded
// by one internal lock, `g_watch`. A wait is published, and withdrawn, under
// g_watch; a check reads the records under g_watch. So while a check runs,
// every published wait stays published, and every object such a wait names
// (a Lock being acquired, a thread being joined) stays alive: the waiting
// thread is still inside the call that uses it. Lock owners change without
// g_watch (the fast paths), so a cycle is re-read before it is believed.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "deadlock_internal.hpp"
#include "internal_lock.hpp"
#include "report.hpp"
#include "spindle/deadlock.hpp"
#include "spindle/detail/lock_tracking.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/thread.hpp"
#include "thread_internal.hpp"

namespace spindle::detail {

constinit std::atomic<bool> g_lock_order_on{false};
constinit std::atomic<bool> g_lock_order_used{false};
constinit std::atomic<int> g_deadlock_policy{static_cast<int>(DeadlockPolicy::raise)};

namespace {

constexpr int kRaise = static_cast<int>(DeadlockPolicy::raise);
constexpr int kOff = static_cast<int>(DeadlockPolicy::off);

// The detector's own locks: InternalLock (internal_lock.hpp), never a
// spindle::Lock - taking it is never checked or recorded (that would recurse).
using Guard = std::lock_guard<InternalLock>;

constinit InternalLock g_watch{};       // the records and every published wait
constinit InternalLock g_order_lock{};  // the lock-order graph
constinit InternalLock g_hooks_lock{};  // the two hooks

// ---------------------------------------------------------------- records

constexpr int kMaxCycle = 64;
constexpr int kMaxHeld = 32;
constexpr std::size_t kBuckets = 256;

}  // namespace

// One per thread that has used the detector or the lock-order checker.
struct Record {
  std::uintptr_t token = 0;  // owner_token() of the thread
  std::uint64_t ident = 0;   // get_ident() of the thread
  // Registry links, under g_watch.
  Record* bucket_next = nullptr;
  Record* prev = nullptr;
  Record* next = nullptr;
  // The published wait, written by the thread and read by others, all under
  // g_watch.
  bool waiting = false;
  bool can_raise = false;  // false in a NoDeadlockErrorScope or while unwinding
  WaitTarget target{};
  // Set (under g_watch) by a thread that closed a cycle through this wait
  // but could not throw itself; read by this thread when it wakes.
  std::atomic<bool> victim{false};
  // Lock order: the locks this thread holds (as far as the checker knows).
  // Written by the thread; cleared with a CAS, under g_watch, by a thread
  // that releases or destroys a lock this one acquired.
  std::atomic<const void*> held[kMaxHeld] = {};
  int held_top = 0;              // the thread's own: slots in use are below it
  std::uint64_t held_epoch = 0;  // checking was switched on anew: forget `held`
  bool in_order_hook = false;    // the checker's own lock operations are not checked
  // The thread's name when the checker last read it (a plain array: the
  // record must stay trivially destructible, see my_record()).
  char name[64] = {};
};

namespace {

Record* g_buckets[kBuckets] = {};  // by token, under g_watch
Record* g_records = nullptr;       // every record, under g_watch

std::size_t bucket_of(std::uintptr_t token) noexcept {
  return static_cast<std::size_t>(((token >> 6) * 0x9E3779B97F4A7C15ULL) >> 56) % kBuckets;
}

void registry_insert(Record* r) noexcept {
  Record*& b = g_buckets[bucket_of(r->token)];
  r->bucket_next = b;
  b = r;
  r->prev = nullptr;
  r->next = g_records;
  if (g_records != nullptr) g_records->prev = r;
  g_records = r;
}

void registry_erase(Record* r) noexcept {
  for (Record** p = &g_buckets[bucket_of(r->token)]; *p != nullptr; p = &(*p)->bucket_next) {
    if (*p == r) {
      *p = r->bucket_next;
      break;
    }
  }
  if (r->prev != nullptr) {
    r->prev->next = r->next;
  } else {
    g_records = r->next;
  }
  if (r->next != nullptr) r->next->prev = r->prev;
}

Record* lookup_token(std::uintptr_t token) noexcept {
  for (Record* r = g_buckets[bucket_of(token)]; r != nullptr; r = r->bucket_next)
    if (r->token == token) return r;
  return nullptr;
}

Record* lookup_ident(std::uint64_t ident) noexcept {
  for (Record* r = g_records; r != nullptr; r = r->next)
    if (r->ident == ident) return r;
  return nullptr;
}

// The calling thread's record: registered at first use, withdrawn when the
// thread ends. It is a trivially destructible thread_local, withdrawn by a
// pthread key's destructor, not by a C++ thread_local destructor: glibc
// allocates a node for each of those (__cxa_thread_atexit_impl), and in a
// child forked while such a thread lives, that node is reachable only from
// the vanished thread's TLS - a leak to LeakSanitizer in every forked child.
// Key destructors run after the thread's thread_local destructors, so the
// record serves them too; after it is withdrawn the thread is not watched.
// (The main thread's record is never withdrawn: its TLS lasts as long as the
// process.)
static_assert(std::is_trivially_destructible_v<Record>);
thread_local Record tls_record_storage;
thread_local Record* tls_record = nullptr;
thread_local bool tls_record_gone = false;
thread_local bool tls_no_deadlock_error = false;

pthread_key_t g_record_key;
bool g_record_key_made = false;  // false if the process ran out of keys: nothing is watched
pthread_once_t g_record_key_once = PTHREAD_ONCE_INIT;

void withdraw_record(void* p) {
  auto* r = static_cast<Record*>(p);
  {
    Guard g(g_watch);
    registry_erase(r);
  }
  tls_record = nullptr;
  tls_record_gone = true;
}

Record* my_record() noexcept {
  if (Record* r = tls_record) return r;
  if (tls_record_gone) return nullptr;
  pthread_once(&g_record_key_once,
               [] { g_record_key_made = pthread_key_create(&g_record_key, withdraw_record) == 0; });
  if (!g_record_key_made) return nullptr;  // could never be withdrawn
  Record* r = &tls_record_storage;
  if (pthread_setspecific(g_record_key, r) != 0) return nullptr;  // out of memory: not watched
  r->token = owner_token();
  r->ident = get_ident();
  {
    Guard g(g_watch);
    registry_insert(r);
  }
  tls_record = r;
  return r;
}

// ---------------------------------------------------------------- the walk

struct Hop {
  Record* thread;     // waits for `target`
  WaitTarget target;  // held by the next hop's thread
};

// Who holds what `t` waits for: the record of the thread that acquired the
// Lock, or of the thread being joined; null if nobody (known) does. Under
// g_watch.
Record* holder_of(const WaitTarget& t) noexcept {
  if (t.kind == WaitTarget::Kind::lock) {
    const std::uintptr_t token = t.owner->load(std::memory_order_acquire);
    return token == 0 ? nullptr : lookup_token(token);
  }
  const auto* core = static_cast<const ThreadCore*>(t.object);
  const std::uint32_t stage = core->stage();
  if (stage != ThreadCore::kReady && stage != ThreadCore::kRunning) return nullptr;
  const std::uint64_t id = core->ident.load(std::memory_order_acquire);
  return id == 0 ? nullptr : lookup_ident(id);
}

// Whether "waits for `via`, held by a thread whose own wait is `next`" is an
// edge that only that thread can end. A join, and an RLock (only its owner
// may release it): always. A plain Lock has no owner - any thread may
// release it, and Python code uses one as a signal that a third thread
// releases (the acquirer starts a worker that waits for it, then joins the
// worker...). It counts only when its acquirer is itself blocked acquiring a
// lock: the nested locking of every lock-order deadlock.
bool certain(const WaitTarget& via, const WaitTarget& next) noexcept {
  return via.owned || next.kind == WaitTarget::Kind::lock;
}

// The cycle that `start` closes by waiting for `first`, if any: fills
// hops[0..n) with hops[0] = {start, first} and returns n >= 2, else 0.
// Under g_watch. Published waits cannot change meanwhile; lock owners can,
// so after the walk every edge is read again and must still name the same
// thread (docs/design/deadlock.md: why that rules out a false cycle).
int find_cycle(Record* start, const WaitTarget& first, Hop* hops) noexcept {
  hops[0] = Hop{start, first};
  int n = 1;
  for (;;) {
    Record* h = holder_of(hops[n - 1].target);
    if (h == nullptr) return 0;
    if (h == start) {
      if (n == 1) return 0;  // waits for a Lock it acquired itself: a hand-off, not a cycle
      if (!certain(hops[n - 1].target, first)) return 0;
      break;
    }
    for (int i = 1; i < n; ++i)
      if (hops[i].thread == h) return 0;  // a cycle further on, not through `start`
    if (!h->waiting || n == kMaxCycle || !certain(hops[n - 1].target, h->target)) return 0;
    hops[n++] = Hop{h, h->target};
  }
  for (int i = 0; i < n; ++i)
    if (holder_of(hops[i].target) != hops[(i + 1) % n].thread) return 0;
  return n;
}

// What a report needs of a cycle, copied out under g_watch.
struct HopInfo {
  std::uint64_t ident;
  WaitTarget::Kind kind;
  const void* object;
};

int snapshot(const Hop* hops, int n, HopInfo* out) noexcept {
  for (int i = 0; i < n; ++i)
    out[i] = HopInfo{hops[i].thread->ident, hops[i].target.kind, hops[i].target.object};
  return n;
}

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

std::string unknown_name(std::uint64_t ident) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "<thread 0x%" PRIx64 ">", ident);
  return buf;
}

// Names of the given threads, from the registry.
std::vector<std::string> names_of(const std::vector<std::uint64_t>& idents) {
  std::vector<std::string> out(idents.size());
  const std::vector<std::shared_ptr<Thread>> threads = enumerate();
  for (std::size_t i = 0; i < idents.size(); ++i) {
    for (const auto& t : threads) {
      if (t->ident() == idents[i]) {
        out[i] = t->name();
        break;
      }
    }
    if (out[i].empty()) out[i] = unknown_name(idents[i]);
  }
  return out;
}

std::shared_ptr<Deadlock> build(const HopInfo* hops, int n) {
  auto d = std::make_shared<Deadlock>();
  std::vector<std::uint64_t> idents;
  idents.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) idents.push_back(hops[i].ident);
  std::vector<std::string> names = names_of(idents);
  d->threads.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    DeadlockedThread& t = d->threads[static_cast<std::size_t>(i)];
    const HopInfo& prev = hops[(i + n - 1) % n];
    t.name = std::move(names[static_cast<std::size_t>(i)]);
    t.ident = hops[i].ident;
    t.waits_kind = hops[i].kind == WaitTarget::Kind::lock ? "Lock" : "Thread.join";
    t.waits_for = hops[i].object;
    t.holds_kind = prev.kind == WaitTarget::Kind::lock ? "Lock" : "Thread";
    t.holds = prev.object;
  }
  return d;
}

[[noreturn]] void throw_deadlock(const HopInfo* hops, int n) {
  std::shared_ptr<Deadlock> d = build(hops, n);
  std::string what = "deadlock: thread \"" + d->threads[0].name +
                     "\" would wait forever; it closes " + d->describe();
  if (!what.empty() && what.back() == '\n') what.pop_back();
  throw DeadlockError(what, std::move(d));
}

// ---------------------------------------------------------------- hooks

struct Hooks {
  std::function<void(const Deadlock&)> deadlock;
  std::function<void(const LockOrderViolation&)> order;
};
// Made at first use under g_hooks_lock and never freed (threads still
// running at exit use it). No function-local static: its guard could be left
// held in a forked child. Not a HookSlot (report.hpp): that slot's
// spindle::Lock would be checked by this very detector and recorded by
// lock-order checking.
Hooks* g_hooks = nullptr;
Hooks& hooks() {
  if (g_hooks == nullptr) g_hooks = new Hooks;
  return *g_hooks;
}

void report_deadlock(const HopInfo* hops, int n) noexcept {
  try {
    std::shared_ptr<Deadlock> d = build(hops, n);
    std::function<void(const Deadlock&)> hook;
    {
      Guard g(g_hooks_lock);
      hook = hooks().deadlock;
    }
    if (!hook) {
      write_stderr("spindle: deadlock detected (the threads stay blocked): " + d->describe());
      return;
    }
    try {
      hook(*d);
    } catch (...) {
      report_hook_failure("Exception in the deadlock hook");
    }
  } catch (...) {
    write_stderr("spindle: deadlock detected; it could not be described (out of memory)\n");
  }
}

// A thread of the cycle, other than hops[0], that can throw: waiting in a
// Lock acquire that may throw (not a Condition re-acquire; not a join, which
// cannot be woken for it). Under g_watch.
Record* pick_victim(const Hop* hops, int n) noexcept {
  for (int i = 1; i < n; ++i) {
    Record* r = hops[i].thread;
    if (r->can_raise && r->target.kind == WaitTarget::Kind::lock) return r;
  }
  return nullptr;
}

void withdraw(Record* r) noexcept {
  r->waiting = false;
  r->victim.store(false, std::memory_order_relaxed);
}

}  // namespace

// ---------------------------------------------------------------- WatchedWait

WatchedWait::WatchedWait(const WaitTarget& target) {
  const int policy = g_deadlock_policy.load(std::memory_order_relaxed);
  if (policy == kOff) return;
  Record* me = my_record();
  if (me == nullptr) return;
  // A wait made while this thread's own wait is published - the report of a
  // cycle it closed under `report` looks up names (the registry's and the
  // threads' locks) and calls the hook before the thread parks - is not
  // watched: it would overwrite that wait and withdraw it on return, so the
  // thread would park unseen. Only this thread writes `waiting`.
  if (me->waiting) return;
  // A destructor run by unwinding cannot let an exception out.
  const bool can_raise = !tls_no_deadlock_error && std::uncaught_exceptions() == 0;
  Hop hops[kMaxCycle];
  HopInfo info[kMaxCycle];
  int n = 0;
  bool raise = false;
  Record* victim = nullptr;
  std::uintptr_t victim_token = 0;
  const std::atomic<std::uint32_t>* victim_word = nullptr;
  {
    Guard g(g_watch);
    n = find_cycle(me, target, hops);
    if (n > 0) {
      snapshot(hops, n, info);
      if (policy == kRaise) {
        if (can_raise) {
          raise = true;
        } else if ((victim = pick_victim(hops, n)) != nullptr) {
          victim->victim.store(true, std::memory_order_release);
          victim_token = victim->token;
          victim_word = victim->target.word;
        }
      }
    }
    if (!raise) {
      me->waiting = true;
      me->can_raise = can_raise;
      me->target = target;
      record_ = me;
    }
  }
  if (n == 0) return;
  if (raise) throw_deadlock(info, n);
  if (victim != nullptr) {
    // The victim parks on its Lock's word: wake every waiter there (the
    // others re-check and park again). It may not have parked yet - then
    // this wake-up finds nobody and it parks after it - so wake until it has
    // seen its flag (or is gone). By now the Lock may be gone too: a wake-up
    // by address touches no object and at worst wakes a later waiter
    // spuriously (park.hpp).
    for (;;) {
      unpark_address(victim_word, std::numeric_limits<int>::max());
      {
        Guard g(g_watch);
        if (lookup_token(victim_token) != victim || !victim->victim.load(std::memory_order_relaxed))
          break;
      }
      sched_yield();
    }
    return;
  }
  report_deadlock(info, n);
}

WatchedWait::~WatchedWait() {
  if (record_ == nullptr) return;
  Guard g(g_watch);
  withdraw(record_);
}

void WatchedWait::woken() {
  if (record_ == nullptr || !record_->victim.load(std::memory_order_acquire)) return;
  Hop hops[kMaxCycle];
  HopInfo info[kMaxCycle];
  int n = 0;
  {
    Guard g(g_watch);
    record_->victim.store(false, std::memory_order_relaxed);
    if (g_deadlock_policy.load(std::memory_order_relaxed) != kRaise) return;
    n = find_cycle(record_, record_->target, hops);
    if (n == 0) return;  // the cycle has dissolved meanwhile
    snapshot(hops, n, info);
    withdraw(record_);
  }
  record_ = nullptr;
  throw_deadlock(info, n);
}

NoDeadlockErrorScope::NoDeadlockErrorScope() noexcept : previous_(tls_no_deadlock_error) {
  tls_no_deadlock_error = true;
}
NoDeadlockErrorScope::~NoDeadlockErrorScope() {
  tls_no_deadlock_error = previous_;
}

// ---------------------------------------------------------------- lock order

namespace {

constexpr std::size_t kMaxOrderEdges = std::size_t{1} << 16;
constexpr std::size_t kMaxReported = 4096;

struct OrderNode {
  // "this, then `to`": the lock taken later -> the thread that first did so.
  std::unordered_map<const void*, std::string> out;
  std::unordered_set<const void*> in;
};
struct OrderGraph {
  std::unordered_map<const void*, OrderNode> nodes;
  std::set<std::pair<const void*, const void*>> reported;  // pairs, smaller address first
  std::size_t edges = 0;
  std::size_t dropped = 0;
};
// Made at first use under g_order_lock, never freed (Locks are destroyed at
// exit too).
OrderGraph* g_graph = nullptr;
OrderGraph& graph() {
  if (g_graph == nullptr) g_graph = new OrderGraph;
  return *g_graph;
}

constinit std::atomic<std::uint64_t> g_order_epoch{0};
constinit std::atomic<std::size_t> g_held_dropped{0};

bool has_edge(const OrderGraph& gr, const void* from, const void* to) {
  auto it = gr.nodes.find(from);
  return it != gr.nodes.end() && it->second.out.contains(to);
}

// A chain of recorded orders from `from` to `to` (breadth first: the
// shortest), empty if none.
std::vector<LockOrderStep> find_path(const OrderGraph& gr, const void* from, const void* to) {
  // lock -> (the lock before it on the path, the thread of that edge)
  std::unordered_map<const void*, std::pair<const void*, const std::string*>> parent;
  std::deque<const void*> queue{from};
  parent.emplace(from, std::make_pair(nullptr, nullptr));
  while (!queue.empty()) {
    const void* at = queue.front();
    queue.pop_front();
    auto it = gr.nodes.find(at);
    if (it == gr.nodes.end()) continue;
    for (const auto& [next, thread] : it->second.out) {
      if (!parent.emplace(next, std::make_pair(at, &thread)).second) continue;
      if (next == to) {
        std::vector<LockOrderStep> path;
        for (const void* p = to; p != from;) {
          const auto& [src, name] = parent.at(p);
          path.push_back(LockOrderStep{src, p, *name});
          p = src;
        }
        std::reverse(path.begin(), path.end());
        return path;
      }
      queue.push_back(next);
    }
  }
  return {};
}

void sync_epoch(Record* me) noexcept {
  const std::uint64_t epoch = g_order_epoch.load(std::memory_order_acquire);
  if (me->held_epoch == epoch) return;
  for (auto& h : me->held) h.store(nullptr, std::memory_order_relaxed);
  me->held_top = 0;
  me->held_epoch = epoch;
}

// Clears `lock` from the held slots of the thread whose token is `owner`
// (another thread than the caller).
void clear_held_of(std::uintptr_t owner, const void* lock) noexcept {
  Guard g(g_watch);
  Record* r = lookup_token(owner);
  if (r == nullptr) return;
  for (auto& h : r->held) {
    const void* expected = lock;
    if (h.compare_exchange_strong(expected, nullptr, std::memory_order_relaxed)) return;
  }
}

// The calling thread's name, without making it a handle (this may run in a
// thread's exit sequence, or in a thread spindle does not know) and without
// waiting for its core's lock, which the caller may hold (fork() takes every
// core's lock): if that lock is busy, the name last read, or the ident.
std::string current_name(Record* me) {
  const ThreadCore* core = nullptr;
  if (const std::shared_ptr<ThreadCore>* own = tls_core) {
    core = own->get();
  } else if (Thread* t = tls_current) {
    core = ThreadAccess::core(*t).get();
  }
  if (core != nullptr && core->lock.try_lock()) {
    const std::size_t n = core->name.copy(me->name, sizeof me->name - 1);
    me->name[n] = '\0';
    core->lock.unlock();
  }
  return me->name[0] == '\0' ? unknown_name(get_ident()) : std::string(me->name);
}

struct InOrderHook {
  Record* r;
  explicit InOrderHook(Record* rec) noexcept : r(rec) { r->in_order_hook = true; }
  ~InOrderHook() { r->in_order_hook = false; }
  InOrderHook(const InOrderHook&) = delete;
  InOrderHook& operator=(const InOrderHook&) = delete;
};

void report_violation(const LockOrderViolation& v) noexcept {
  try {
    std::function<void(const LockOrderViolation&)> hook;
    {
      Guard g(g_hooks_lock);
      hook = hooks().order;
    }
    if (!hook) {
      write_stderr("spindle: " + v.describe() + "\n");
      return;
    }
    try {
      hook(v);
    } catch (...) {
      report_hook_failure("Exception in the lock-order hook");
    }
  } catch (...) {
    write_stderr("spindle: a lock-order inversion could not be described (out of memory)\n");
  }
}

}  // namespace

void lock_order_acquired(const void* lock) noexcept {
  Record* me = my_record();
  if (me == nullptr || me->in_order_hook) return;
  sync_epoch(me);
  for (int i = 0; i < me->held_top; ++i) {
    if (me->held[i].load(std::memory_order_relaxed) == nullptr) {
      me->held[i].store(lock, std::memory_order_relaxed);
      return;
    }
  }
  if (me->held_top == kMaxHeld) {
    g_held_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  me->held[me->held_top++].store(lock, std::memory_order_relaxed);
}

void lock_order_released(const void* lock, std::uintptr_t owner) noexcept {
  if (owner == 0) return;
  Record* me = tls_record;
  if (me != nullptr && owner == me->token) {
    for (int i = me->held_top - 1; i >= 0; --i) {
      if (me->held[i].load(std::memory_order_relaxed) == lock) {
        me->held[i].store(nullptr, std::memory_order_relaxed);
        break;
      }
    }
    while (me->held_top > 0 &&
           me->held[me->held_top - 1].load(std::memory_order_relaxed) == nullptr)
      --me->held_top;
    return;
  }
  clear_held_of(owner, lock);  // a Lock released by another thread than its acquirer
}

void lock_order_forget(const void* lock, std::uintptr_t owner) noexcept {
  if (owner != 0) lock_order_released(lock, owner);
  Guard g(g_order_lock);
  if (g_graph == nullptr) return;
  OrderGraph& gr = *g_graph;
  auto it = gr.nodes.find(lock);
  if (it == gr.nodes.end()) return;
  gr.edges -= it->second.out.size() + it->second.in.size();
  const OrderNode node = std::move(it->second);
  gr.nodes.erase(it);
  // Neighbours left with no edge go too: the graph holds locks with orders.
  auto drop_if_bare = [&gr](std::unordered_map<const void*, OrderNode>::iterator n) {
    if (n->second.in.empty() && n->second.out.empty()) gr.nodes.erase(n);
  };
  for (const auto& edge : node.out) {
    auto to = gr.nodes.find(edge.first);
    if (to == gr.nodes.end()) continue;
    to->second.in.erase(lock);
    drop_if_bare(to);
  }
  for (const void* p : node.in) {
    auto from = gr.nodes.find(p);
    if (from == gr.nodes.end()) continue;
    from->second.out.erase(lock);
    drop_if_bare(from);
  }
  for (auto r = gr.reported.begin(); r != gr.reported.end();) {
    if (r->first == lock || r->second == lock) {
      r = gr.reported.erase(r);
    } else {
      ++r;
    }
  }
}

void lock_order_before_blocking(const void* lock) {
  Record* me = my_record();
  if (me == nullptr || me->in_order_hook) return;
  sync_epoch(me);
  const void* held[kMaxHeld];
  int k = 0;
  for (int i = 0; i < me->held_top; ++i) {
    const void* h = me->held[i].load(std::memory_order_relaxed);
    if (h == nullptr || h == lock || std::find(held, held + k, h) != held + k) continue;
    held[k++] = h;
  }
  if (k == 0) return;
  const InOrderHook in_hook(me);
  std::vector<LockOrderViolation> violations;
  try {
    bool missing = false;
    {
      Guard g(g_order_lock);
      const OrderGraph& gr = graph();
      for (int i = 0; i < k && !missing; ++i) missing = !has_edge(gr, held[i], lock);
    }
    if (!missing) return;  // every order already known: the common case
    const std::string name = current_name(me);
    Guard g(g_order_lock);
    OrderGraph& gr = graph();
    for (int i = 0; i < k; ++i) {
      if (has_edge(gr, held[i], lock)) continue;
      std::vector<LockOrderStep> earlier = find_path(gr, lock, held[i]);
      if (!earlier.empty()) {
        // The opposite order is known: report it (once per pair); the edge
        // is not added, so the graph stays free of cycles.
        const auto pair = std::minmax(lock, held[i]);
        if (gr.reported.size() < kMaxReported && gr.reported.insert(pair).second)
          violations.push_back(LockOrderViolation{name, lock, held[i], std::move(earlier)});
        continue;
      }
      if (gr.edges >= kMaxOrderEdges) {
        ++gr.dropped;
        continue;
      }
      gr.nodes[held[i]].out.emplace(lock, name);
      gr.nodes[lock].in.insert(held[i]);
      ++gr.edges;
    }
  } catch (const std::bad_alloc&) {
    // Out of memory: this order is not recorded; the acquisition goes on.
  }
  for (const LockOrderViolation& v : violations) report_violation(v);
}

// ---------------------------------------------------------------- fork

namespace {

void dump_install_lock() noexcept;
void dump_install_unlock() noexcept;

// fork(): the detector's locks are taken inside other locks' slow paths
// (a thread holding spindle's registry lock may wait for g_watch), so
// taking them in `prepare`, before the thread layer takes its own, could
// deadlock. Instead the child, where only the forking thread exists (outside
// every critical section of these locks), frees them and rebuilds what a
// vanished thread may have left half-changed: the records always (the other
// threads' records live in their TLS, which the child may reuse), the order
// graph and the hooks only if their lock was held (then they start empty).
void fork_prepare() {
  dump_install_lock();
}
void fork_parent() {
  dump_install_unlock();
}
void restart_dump_thread_in_child() noexcept;
// A half-changed graph or hook pair is set aside in the child, unread (and
// still reachable, so not a leak to LeakSanitizer).
OrderGraph* g_abandoned_graph = nullptr;
Hooks* g_abandoned_hooks = nullptr;
void fork_child() {
  g_watch.reset_in_child();
  for (auto& b : g_buckets) b = nullptr;
  g_records = nullptr;
  if (Record* me = tls_record) {
    withdraw(me);
    registry_insert(me);
  }
  if (g_order_lock.reset_in_child()) g_abandoned_graph = std::exchange(g_graph, nullptr);
  if (g_hooks_lock.reset_in_child()) g_abandoned_hooks = std::exchange(g_hooks, nullptr);
  restart_dump_thread_in_child();
  dump_install_unlock();
}
[[maybe_unused]] const bool g_fork_registered =
    (register_at_fork(fork_prepare, fork_parent, fork_child), true);

// ---------------------------------------------------------------- dump signal

struct DumpSignal {
  std::atomic<std::uint32_t> requests{0};
  std::atomic<bool> running{false};  // the printing thread exists
  std::uint32_t baseline = 0;        // requests seen when it was started
  InternalLock install;
};
constinit DumpSignal g_dump{};
void dump_install_lock() noexcept {
  g_dump.install.lock();
}
void dump_install_unlock() noexcept {
  g_dump.install.unlock();
}

extern "C" void on_dump_signal(int /*signo*/) {
  const int saved = errno;
  g_dump.requests.fetch_add(1, std::memory_order_release);
  unpark_all(g_dump.requests);  // a raw futex wake: async-signal-safe
  errno = saved;
}

void* dump_thread(void* /*unused*/) {
  std::uint32_t seen = g_dump.baseline;  // written before pthread_create
  for (;;) {
    const std::uint32_t now = g_dump.requests.load(std::memory_order_acquire);
    if (now == seen) {
      park(g_dump.requests, seen, Deadline::never(), WaitSite{"thread dump signal", &g_dump});
      continue;
    }
    seen = now;
    try {
      const std::string text = thread_dump();
      write_stderr(text);
    } catch (...) {
      write_stderr("spindle: the thread dump could not be made (out of memory)\n");
    }
  }
  return nullptr;
}

// The printing thread's stack: it only formats the dump, and a size far
// below the default means that in a forked child (where it is started again)
// glibc never hands it the cached stack of a thread that vanished in the
// fork, whose pthread_t ThreadSanitizer still counts as in use.
constexpr std::size_t kDumpStack = std::size_t{512} << 10;

// Starts the printing thread with every signal blocked, so that it never
// takes the signal itself. False if the OS refuses.
bool start_dump_thread() noexcept {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  (void)pthread_attr_setstacksize(&attr, kDumpStack);  // on failure: the default
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t tid;
  g_dump.baseline = g_dump.requests.load(std::memory_order_acquire);
  const int rc = pthread_create(&tid, &attr, dump_thread, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) return false;
  pthread_detach(tid);
  return true;
}

void restart_dump_thread_in_child() noexcept {
  if (g_dump.running.load(std::memory_order_relaxed) && !start_dump_thread())
    g_dump.running.store(false, std::memory_order_relaxed);
}

}  // namespace
}  // namespace spindle::detail

namespace spindle {

using detail::Guard;

const Deadlock& DeadlockError::deadlock() const noexcept {
  static const Deadlock empty{};
  return cycle_ ? *cycle_ : empty;
}

std::string Deadlock::describe() const {
  std::string out =
      "a cycle of " + std::to_string(threads.size()) + " threads, each waiting for the next:\n";
  const std::size_t n = threads.size();
  for (std::size_t i = 0; i < n; ++i) {
    const DeadlockedThread& t = threads[i];
    const DeadlockedThread& next = threads[(i + 1) % n];
    out += "  thread \"" + t.name + "\"";
    if (std::string(t.holds_kind) == "Lock") out += " holds Lock " + detail::hex(t.holds) + " and";
    if (std::string(t.waits_kind) == "Lock") {
      out += " waits for Lock " + detail::hex(t.waits_for) + ", held by \"" + next.name + "\"\n";
    } else {
      out += " waits for thread \"" + next.name + "\" to end (join)\n";
    }
  }
  return out;
}

DeadlockPolicy set_deadlock_policy(DeadlockPolicy policy) noexcept {
  return static_cast<DeadlockPolicy>(
      detail::g_deadlock_policy.exchange(static_cast<int>(policy), std::memory_order_relaxed));
}

DeadlockPolicy deadlock_policy() noexcept {
  return static_cast<DeadlockPolicy>(detail::g_deadlock_policy.load(std::memory_order_relaxed));
}

void set_deadlock_hook(std::function<void(const Deadlock&)> hook) {
  Guard g(detail::g_hooks_lock);
  detail::hooks().deadlock.swap(hook);
}  // the previous hook is destroyed here, after the unlock

std::vector<Deadlock> find_deadlocks() {
  using detail::Hop;
  using detail::HopInfo;
  std::vector<std::vector<HopInfo>> cycles;
  {
    Guard g(detail::g_watch);
    Hop hops[detail::kMaxCycle];
    for (detail::Record* r = detail::g_records; r != nullptr; r = r->next) {
      if (!r->waiting) continue;
      const int n = detail::find_cycle(r, r->target, hops);
      if (n == 0) continue;
      // Each cycle once: from its thread with the smallest record address.
      bool smallest = true;
      for (int i = 1; i < n; ++i) smallest = smallest && r < hops[i].thread;
      if (!smallest) continue;
      std::vector<HopInfo> info(static_cast<std::size_t>(n));
      detail::snapshot(hops, n, info.data());
      cycles.push_back(std::move(info));
    }
  }
  std::vector<Deadlock> out;
  out.reserve(cycles.size());
  for (const auto& c : cycles)
    out.push_back(std::move(*detail::build(c.data(), static_cast<int>(c.size()))));
  return out;
}

// ---------------------------------------------------------------- lock order

std::string LockOrderViolation::describe() const {
  std::string out = "lock-order inversion: thread \"" + thread + "\" takes Lock " +
                    detail::hex(acquiring) + " while holding Lock " + detail::hex(held) +
                    ", but earlier";
  for (std::size_t i = 0; i < earlier.size(); ++i) {
    const LockOrderStep& s = earlier[i];
    out += (i == 0 ? " " : ", then ");
    out += "thread \"" + s.thread + "\" took Lock " + detail::hex(s.then) + " while holding Lock " +
           detail::hex(s.first);
  }
  out += ". Run at the same time, these orders can deadlock.";
  return out;
}

bool set_lock_order_checking(bool on) noexcept {
  if (on) {
    detail::g_lock_order_used.store(true, std::memory_order_relaxed);
    // Held locks recorded before an earlier switch-off are stale: forget them.
    if (!detail::g_lock_order_on.load(std::memory_order_relaxed))
      detail::g_order_epoch.fetch_add(1, std::memory_order_release);
  }
  return detail::g_lock_order_on.exchange(on, std::memory_order_relaxed);
}

bool lock_order_checking() noexcept {
  return detail::g_lock_order_on.load(std::memory_order_relaxed);
}

void set_lock_order_hook(std::function<void(const LockOrderViolation&)> hook) {
  Guard g(detail::g_hooks_lock);
  detail::hooks().order.swap(hook);
}

LockOrderStats lock_order_stats() {
  Guard g(detail::g_order_lock);
  if (detail::g_graph == nullptr) return LockOrderStats{};
  const detail::OrderGraph& gr = *detail::g_graph;
  return LockOrderStats{gr.nodes.size(), gr.edges,
                        gr.dropped + detail::g_held_dropped.load(std::memory_order_relaxed)};
}

// ---------------------------------------------------------------- thread dump

std::string thread_dump() {
  std::string out = "Thread dump:\n" + dump_threads();
  const std::vector<Deadlock> found = find_deadlocks();
  if (found.empty()) {
    out += "No deadlock found.\n";
  } else {
    for (const Deadlock& d : found) out += "Deadlock: " + d.describe();
  }
  out += "End of thread dump.\n";
  return out;
}

void install_thread_dump_signal(int signo) {
  if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
    throw ValueError("invalid signal number " + std::to_string(signo));
  Guard g(detail::g_dump.install);
  if (!detail::g_dump.running.load(std::memory_order_relaxed)) {
    if (!detail::start_dump_thread()) throw RuntimeError("can't start the thread dump thread");
    detail::g_dump.running.store(true, std::memory_order_relaxed);
  }
  struct sigaction sa {};
  sa.sa_handler = detail::on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(signo, &sa, nullptr) != 0)
    throw RuntimeError("can't install a handler for signal " + std::to_string(signo));
}

}  // namespace spindle
