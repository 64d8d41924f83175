// ThreadPoolExecutor: a shared FIFO of task blocks for tasks submitted from
// outside the pool (intrusive, guarded by one Lock), one bounded ring per
// worker for tasks submitted by that worker's tasks (taken from by every
// worker: work stealing), lazily started spindle::Thread workers that park
// on a sequence word when idle, the untimed-wait helper, the process-exit
// hook that drains every live pool (C103), and the fork handlers that reset
// every live pool in a child process.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deadlock_internal.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/futures.hpp"
#include "spindle/thread.hpp"

namespace spindle {
namespace detail {

namespace {

constexpr const char* kBrokenMessage =
    "A thread initializer failed, the thread pool is not usable anymore";

int default_max_workers() {
  int cpus = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (cpus <= 0) cpus = 1;
  return std::min(32, cpus + 4);
}

// At most half the CPUs (at least one) spin for work at a time.
std::uint32_t spinner_limit() {
  cpu_set_t set;
  int cpus = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  return static_cast<std::uint32_t>(std::max(1, cpus / 2));
}

// help_run_queued's limits: nested runs on one worker, and stack kept free.
constexpr int kMaxHelpDepth = 256;
constexpr std::uintptr_t kHelpStackRoom = std::uintptr_t{64} << 10;

// The lowest address of the calling thread's stack (its guard page
// excluded), or 0 if unknown.
std::uintptr_t stack_low_address() noexcept {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  void* addr = nullptr;
  std::size_t size = 0;
  std::size_t guard = 0;
  const bool ok = pthread_attr_getstack(&attr, &addr, &size) == 0;
  (void)pthread_attr_getguardsize(&attr, &guard);
  pthread_attr_destroy(&attr);
  return ok ? reinterpret_cast<std::uintptr_t>(addr) + guard : 0;
}

// Ids of pools, for FutureStateBase::queued_in (0: none).
std::uint32_t next_pool_id() noexcept {
  static std::atomic<std::uint32_t> counter{0};
  std::uint32_t id = counter.fetch_add(1, std::memory_order_relaxed) + 1;
  if (id == 0) id = counter.fetch_add(1, std::memory_order_relaxed) + 1;  // wrapped
  return id;
}

// Cancels and releases a detached list of task blocks (outside every lock:
// cancel() runs done-callbacks, which may submit).
void cancel_list(FutureStateBase* list) noexcept {
  while (list != nullptr) {
    FutureStateBase* next = std::exchange(list->next_, nullptr);
    list->cancel();
    list->release();
    list = next;
  }
}

}  // namespace

/// A worker's own queue: the tasks its tasks submit. The owner pushes at the
/// tail; the owner and every other worker (and shutdown) take from the head,
/// first in, first out, each with one compare-and-swap on the head. Bounded:
/// when it is full, submit() uses the shared queue instead. Each slot holds
/// the queue's reference to its task.
class LocalQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  /// Owner only. False if full.
  bool push(FutureStateBase* t) noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint32_t head = head_.load(std::memory_order_acquire);
    if (tail - head >= kCapacity) return false;
    // No taker can be reading this slot: a taker reads slot i only while
    // head <= i < tail, and head > tail - kCapacity here.
    slots_[tail & kMask].store(t, std::memory_order_relaxed);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  /// Owner only: takes `t` back if it is the newest entry (the task a
  /// worker's task submitted last, and now waits for). False if it is not
  /// there or a taker got it first. The race for the last entry is decided
  /// as in Chase and Lev's deque: the owner lowers the tail, then reads the
  /// head (all sequentially consistent, as are the takers' reads), and a
  /// compare-and-swap on the head decides who has the last entry.
  bool unpush(FutureStateBase* t) noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    std::uint32_t head = head_.load(std::memory_order_seq_cst);
    if (static_cast<std::int32_t>(tail - head) <= 0) return false;
    if (slots_[(tail - 1) & kMask].load(std::memory_order_relaxed) != t) return false;
    tail_.store(tail - 1, std::memory_order_seq_cst);
    head = head_.load(std::memory_order_seq_cst);
    if (static_cast<std::int32_t>(tail - 1 - head) > 0) return true;  // not the last one: ours
    bool won = false;
    if (head == tail - 1) {
      won = head_.compare_exchange_strong(head, tail, std::memory_order_seq_cst,
                                          std::memory_order_relaxed);
    }
    // Empty now either way: head is tail (we or a taker moved it there).
    tail_.store(tail, std::memory_order_seq_cst);
    return won;
  }

  /// Any thread. Null if empty.
  FutureStateBase* pop() noexcept {
    std::uint32_t head = head_.load(std::memory_order_seq_cst);
    for (;;) {
      const std::uint32_t tail = tail_.load(std::memory_order_seq_cst);
      if (static_cast<std::int32_t>(tail - head) <= 0) return nullptr;
      // If the owner has reused this slot since, head has moved on and the
      // compare-and-swap fails.
      FutureStateBase* t = slots_[head & kMask].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(head, head + 1, std::memory_order_seq_cst,
                                      std::memory_order_seq_cst)) {
        return t;
      }
    }
  }

  /// Owner only: how many pushes would succeed now (at least).
  [[nodiscard]] std::uint32_t room() const noexcept {
    return kCapacity -
           (tail_.load(std::memory_order_relaxed) - head_.load(std::memory_order_acquire));
  }
  /// Owner only (or a forked child): the tail, counting every push so far.
  [[nodiscard]] std::uint32_t pushed() const noexcept {
    return tail_.load(std::memory_order_relaxed);
  }

  [[nodiscard]] bool empty() const noexcept {
    return static_cast<std::int32_t>(tail_.load(std::memory_order_seq_cst) -
                                     head_.load(std::memory_order_seq_cst)) <= 0;
  }

  /// In a forked child (one thread): takes every queued task, oldest first,
  /// and leaves the ring empty.
  FutureStateBase* take_all_in_child() noexcept {
    FutureStateBase* first = nullptr;
    FutureStateBase** link = &first;
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    for (std::uint32_t i = head_.load(std::memory_order_relaxed);
         static_cast<std::int32_t>(tail - i) > 0; ++i) {
      FutureStateBase* t = slots_[i & kMask].load(std::memory_order_relaxed);
      t->next_ = nullptr;
      *link = t;
      link = &t->next_;
    }
    head_.store(tail, std::memory_order_relaxed);
    return first;
  }

 private:
  static constexpr std::uint32_t kMask = kCapacity - 1;
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::atomic<FutureStateBase*> slots_[kCapacity] = {};
};

class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  static constexpr std::uint32_t kShutdown = 1;  // shutdown() was called
  static constexpr std::uint32_t kExiting = 2;   // the process exit hook ran

  /// One worker thread. Owned by the core (workers_, or forgotten_ after a
  /// fork); the thread's body gets a pointer to it.
  struct Worker {
    explicit Worker(PoolCore* p) noexcept : pool(p) {}
    PoolCore* const pool;
    std::unique_ptr<Thread> thread;
    // True while this worker is inside shutdown(wait) or the exit hook of
    // its own pool; written under lock_. Another worker in the same position
    // does not wait for it (see join_workers).
    std::atomic<bool> in_shutdown{false};
    // Its index in rings_, or -1 if its tasks' submits use the shared queue.
    // Written before the thread starts (and in a forked child).
    int ring = -1;
    // The worker's own thread only: the lowest usable stack address, and
    // how many tasks it is running inside untimed waits (help_run_queued).
    std::uintptr_t stack_low = 0;
    int help_depth = 0;
    std::uint32_t ticks = 0;  // tasks taken, for next_task's fairness
    LocalQueue local;
  };

  PoolCore(int max_workers, std::string prefix, std::function<void()> initializer)
      : max_workers_(max_workers),
        prefix_(std::move(prefix)),
        initializer_(std::move(initializer)),
        ring_capacity_(std::min(max_workers, kMaxRings)),
        rings_(ring_capacity_ > 0 ? std::make_unique<std::atomic<Worker*>[]>(
                                        static_cast<std::size_t>(ring_capacity_))
                                  : nullptr) {}
  ~PoolCore();

  void submit(FutureStateBase* task);
  /// `may_throw`: false for the destructor (no "cannot join current thread").
  void shutdown(bool wait, bool cancel_futures, bool may_throw);
  void close_for_exit();

  int max_workers() const noexcept { return max_workers_; }
  const std::string& prefix() const noexcept { return prefix_; }
  int num_threads() const noexcept { return nthreads_.load(std::memory_order_relaxed); }
  std::uint32_t id() const noexcept { return id_; }

  // The registry's intrusive list (guarded by the registry's lock).
  PoolCore* reg_prev_ = nullptr;
  PoolCore* reg_next_ = nullptr;
  bool registered_ = false;

  /// The fork child handler's part: see ThreadPoolExecutor ("fork()").
  void after_fork_in_child() noexcept;

 private:
  // A 1-worker pool runs its tasks in the order they were submitted,
  // whoever submitted them (Python's FIFO): its worker's ring takes a task
  // only while the shared queue is empty, so every task in the ring is older
  // than every task in the shared queue, and the worker empties its ring
  // first. (With more workers, tasks start in an order of their own: see
  // ThreadPoolExecutor.)
  // The most tasks a worker moves from the shared queue to its ring at once.
  static constexpr std::size_t kBatch = 32;
  // Workers beyond this many use the shared queue for their tasks' submits.
  static constexpr int kMaxRings = 256;
  // closed_ bit: shutdown(cancel_futures=true) was called.
  static constexpr std::uint32_t kCancelQueued = 4;

  /// The lock-free path of submit() for a task's own submits; false if the
  /// shared queue's path must be taken.
  bool submit_local(Worker* self, FutureStateBase* task) noexcept;
  void start_worker_locked();
  void worker_main(Worker* self);
  FutureStateBase* next_task(Worker* self, bool& closed);
  FutureStateBase* pop_shared(Worker* self, bool& closed);
  FutureStateBase* steal(const Worker* self) noexcept;
  FutureStateBase* take_all_rings() noexcept;
  bool rings_empty() const noexcept;
  void wait_for_work();
  bool work_or_closed() const noexcept;
  void wake_one_if_needed() noexcept;
  void wake_all() noexcept {
    seq_.fetch_add(1, std::memory_order_release);
    unpark_all(seq_);
  }
  void initializer_failed();
  Worker* calling_worker() const noexcept;
  /// Waits for every worker but `self` (the calling worker, or null) and
  /// those inside shutdown or the exit hook.
  void join_workers(Worker* self);

  const int max_workers_;
  const std::string prefix_;
  const std::function<void()> initializer_;
  const std::uint32_t id_ = next_pool_id();
  const bool fifo_ = max_workers_ == 1;  // see kMaxRings

  Lock lock_;  // guards the queue, workers_, orphans_ and the closed_ bits' writes
  std::atomic<FutureStateBase*> head_{nullptr};  // atomic only for idle workers' peeks
  FutureStateBase* tail_ = nullptr;
  std::size_t shared_len_ = 0;  // tasks in the shared queue
  // A batch on its way from the shared queue to a worker's ring (pop_shared),
  // for a forked child: its tasks, how many, the ring and the ring's tail
  // before the batch. Guarded by lock_; transit_count_ is 0 otherwise.
  FutureStateBase* transit_[kBatch] = {};
  std::uint32_t transit_count_ = 0;
  Worker* transit_ring_ = nullptr;
  std::uint32_t transit_start_ = 0;
  std::atomic<std::uint32_t> closed_{0};
  std::atomic<bool> broken_{false};  // written under lock_
  // Only grows, and only before closed_ is set (so a shutdown that has set
  // closed_ under lock_ may walk it without the lock). Reset only in a
  // forked child, where no other thread runs.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Worker>> forgotten_;  // the parent's, in a forked child
  FutureStateBase* orphans_ = nullptr;              // the parent's queued tasks, in a forked child
  std::atomic<bool> has_orphans_{false};            // orphans_ != nullptr, for submit_local
  std::atomic<int> nthreads_{0};

  // The workers with a ring, by index: entries [0, nrings_) are set, and
  // stay valid while the core lives (worker records are never freed before).
  const int ring_capacity_;
  const std::unique_ptr<std::atomic<Worker*>[]> rings_;
  std::atomic<int> nrings_{0};

  // Python's _idle_semaphore: workers that went idle; submit() takes one
  // instead of starting a worker.
  alignas(64) std::atomic<std::uint32_t> idle_{0};
  // Idle workers park on seq_; submit() bumps it and wakes one when
  // sleepers_ says someone may be parked.
  alignas(64) std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<bool> waking_{false};  // a wake-up is on its way to a sleeper
  alignas(64) std::atomic<std::uint32_t> spinning_{0};
  const std::uint32_t max_spinners_ = spinner_limit();
};

namespace {

// The worker record of the calling thread, if it is a pool worker.
thread_local PoolCore::Worker* tls_worker = nullptr;

// Every live pool: for the process-exit hook and for the fork handlers.
// Never destroyed (used during exit and in forked children).
struct PoolRegistry {
  Lock lock;  // guards the list and `exiting`; held across fork() (prepare..parent/child)
  PoolCore* head = nullptr;
  bool exiting = false;
  // Guards `hooked`. register_atexit is called under this lock, never under
  // `lock`, so the fork prepare handler never waits for the thread layer.
  Lock hook_lock;
  bool hooked = false;
};
PoolRegistry& registry() {
  static auto* r = new PoolRegistry;
  return *r;
}

void exit_all_pools() {
  std::vector<std::shared_ptr<PoolCore>> live;
  {
    PoolRegistry& r = registry();
    std::scoped_lock guard(r.lock);
    r.exiting = true;
    for (PoolCore* p = r.head; p != nullptr; p = p->reg_next_) {
      if (auto sp = p->weak_from_this().lock()) live.push_back(std::move(sp));
    }
  }
  for (auto& p : live) p->close_for_exit();
}

// Python registers os.register_at_fork(before=lock.acquire,
// after_in_parent=lock.release, after_in_child=lock._at_fork_reinit) for
// its global shutdown lock only. spindle holds the registry's lock across
// the fork, so the list of pools is whole in the child, and resets every
// listed pool there. Nobody blocks while holding the registry's lock, so the
// prepare handler cannot deadlock.
void fork_prepare() noexcept {
  registry().lock.acquire();
}
void fork_parent() noexcept {
  try {
    registry().lock.release();
  } catch (...) {
  }
}
void fork_child() noexcept {
  PoolRegistry& r = registry();
  for (PoolCore* p = r.head; p != nullptr; p = p->reg_next_) p->after_fork_in_child();
  try {
    r.lock.release();
  } catch (...) {
  }
}

// Registers `core`; false if the process exit has already begun.
bool register_pool(const std::shared_ptr<PoolCore>& core) {
  static const bool fork_handlers_installed =
      pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
  (void)fork_handlers_installed;
  PoolRegistry& r = registry();
  bool exit_begun = false;
  {
    std::scoped_lock guard(r.hook_lock);
    if (!r.hooked) {
      try {
        register_atexit(exit_all_pools);
        r.hooked = true;
      } catch (const RuntimeError&) {
        exit_begun = true;
      }
    }
  }
  std::scoped_lock guard(r.lock);
  if (exit_begun) r.exiting = true;
  if (r.exiting) return false;
  PoolCore* p = core.get();
  p->reg_next_ = r.head;
  if (r.head != nullptr) r.head->reg_prev_ = p;
  r.head = p;
  p->registered_ = true;
  return true;
}

void unregister_pool(PoolCore* p) noexcept {
  PoolRegistry& r = registry();
  std::scoped_lock guard(r.lock);
  (p->reg_prev_ ? p->reg_prev_->reg_next_ : r.head) = p->reg_next_;
  if (p->reg_next_ != nullptr) p->reg_next_->reg_prev_ = p->reg_prev_;
  p->reg_prev_ = p->reg_next_ = nullptr;
  p->registered_ = false;
}

}  // namespace

PoolCore::~PoolCore() {
  if (registered_) unregister_pool(this);
  cancel_list(orphans_);
}

PoolCore::Worker* PoolCore::calling_worker() const noexcept {
  Worker* w = tls_worker;
  return w != nullptr && w->pool == this ? w : nullptr;
}

void PoolCore::submit(FutureStateBase* task) {
  task->set_queued_in(id_);
  if (ring_capacity_ > 0) {
    Worker* const self = calling_worker();
    if (self != nullptr && self->ring >= 0 && submit_local(self, task)) return;
  }
  FutureStateBase* orphans = nullptr;
  {
    std::scoped_lock guard(lock_);
    if (broken_.load(std::memory_order_relaxed)) throw BrokenThreadPool(kBrokenMessage);
    const std::uint32_t closed = closed_.load(std::memory_order_relaxed);
    if (closed & kShutdown) throw RuntimeError("cannot schedule new futures after shutdown");
    if (closed & kExiting)
      throw RuntimeError("cannot schedule new futures after interpreter shutdown");
    if (orphans_ != nullptr) [[unlikely]] {
      orphans = std::exchange(orphans_, nullptr);
      has_orphans_.store(false, std::memory_order_relaxed);
    }
    task->next_ = nullptr;
    if (tail_ != nullptr) {
      tail_->next_ = task;
    } else {
      head_.store(task, std::memory_order_relaxed);
    }
    tail_ = task;
    ++shared_len_;
    // Python's _adjust_thread_count: reuse an idle worker, else start one.
    std::uint32_t idle = idle_.load(std::memory_order_relaxed);
    while (idle > 0 && !idle_.compare_exchange_weak(idle, idle - 1, std::memory_order_relaxed)) {
    }
    if (idle == 0 && static_cast<int>(workers_.size()) < max_workers_) {
      try {
        start_worker_locked();
      } catch (...) {
        // The task stays queued; an existing worker (if any) will run it.
        if (workers_.empty()) {
          head_.store(nullptr, std::memory_order_relaxed);
          tail_ = nullptr;
          shared_len_ = 0;
          orphans_ = orphans;  // cancelled by the next submit or shutdown
          has_orphans_.store(orphans != nullptr, std::memory_order_relaxed);
          throw;
        }
      }
    }
  }
  wake_one_if_needed();
  if (orphans != nullptr) [[unlikely]]
    cancel_list(orphans);
}

bool PoolCore::submit_local(Worker* self, FutureStateBase* task) noexcept {
  // Only once every worker has started (until then submit() starts one per
  // task, as Python does), and never while a forked child has the parent's
  // tasks to cancel or the pool is closed or broken: those take the locked
  // path, which throws or cancels.
  if (nthreads_.load(std::memory_order_relaxed) < max_workers_ ||
      has_orphans_.load(std::memory_order_relaxed) || broken_.load(std::memory_order_relaxed) ||
      closed_.load(std::memory_order_acquire) != 0) {
    return false;
  }
  if (fifo_ && head_.load(std::memory_order_relaxed) != nullptr) return false;
  if (!self->local.push(task)) return false;
  // Dekker with shutdown(), which sets closed_ and then empties the rings:
  // if it set kCancelQueued too late for our check above, it may have
  // emptied this ring before our push. The submit happened before the
  // shutdown, so the task must end cancelled, not run: cancel it here (a
  // no-op if shutdown took and cancelled it). The ring keeps its reference.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (closed_.load(std::memory_order_relaxed) & kCancelQueued) (void)task->cancel();
  wake_one_if_needed();
  return true;
}

void PoolCore::start_worker_locked() {
  const std::string name = prefix_ + "_" + std::to_string(workers_.size());
  workers_.reserve(workers_.size() + 1);  // so that a started worker is always recorded
  auto w = std::make_unique<Worker>(this);
  const int ring = nrings_.load(std::memory_order_relaxed);
  if (ring < ring_capacity_) w->ring = ring;
  w->thread = std::make_unique<Thread>(
      ThreadOptions{.name = name, .daemon = false},
      [core = shared_from_this(), self = w.get()] { core->worker_main(self); });
  w->thread->start();
  if (w->ring >= 0) {
    rings_[static_cast<std::size_t>(ring)].store(w.get(), std::memory_order_relaxed);
    nrings_.store(ring + 1, std::memory_order_release);
  }
  workers_.push_back(std::move(w));
  nthreads_.fetch_add(1, std::memory_order_relaxed);
}

FutureStateBase* PoolCore::pop_shared(Worker* self, bool& closed) {
  // The exit decision needs "empty and closed" from one critical section:
  // only a peek that finds the queue empty while closed_ is clear skips it.
  if (head_.load(std::memory_order_relaxed) == nullptr &&
      closed_.load(std::memory_order_relaxed) == 0) {
    closed = false;
    return nullptr;
  }
  std::scoped_lock guard(lock_);
  closed = closed_.load(std::memory_order_relaxed) != 0;
  FutureStateBase* t = head_.load(std::memory_order_relaxed);
  if (t == nullptr) return nullptr;
  // Take our share of the rest as well (at most kBatch) into our ring, oldest
  // first, where the other workers can take it: one lock round trip then
  // serves several tasks, and the submitter's pushes find the queue's cache
  // line at home more often. The ring's tasks stay older than the shared
  // queue's, as a 1-worker pool's order needs.
  std::uint32_t batch = 0;
  if (self->ring >= 0 && shared_len_ > 1) {
    const int workers = std::max(1, nthreads_.load(std::memory_order_relaxed));
    const std::size_t share = (shared_len_ - 1) / static_cast<std::size_t>(workers);
    batch = static_cast<std::uint32_t>(std::min<std::size_t>({share, kBatch, self->local.room()}));
  }
  FutureStateBase* rest = t->next_;
  if (batch > 0) {
    // Record the batch, detach it, then push it: a forked child finds each
    // task in exactly one of the shared queue, the ring and the record's
    // part past what the ring's tail says was pushed.
    for (std::uint32_t i = 0; i < batch; ++i) {
      transit_[i] = rest;
      rest = rest->next_;
    }
    transit_ring_ = self;
    transit_start_ = self->local.pushed();
    transit_count_ = batch;
    head_.store(rest, std::memory_order_relaxed);
    if (rest == nullptr) tail_ = nullptr;
    for (std::uint32_t i = 0; i < batch; ++i) {
      (void)self->local.push(transit_[i]);  // room() said there is room; only we push
    }
    transit_count_ = 0;
  } else {
    head_.store(rest, std::memory_order_relaxed);
    if (rest == nullptr) tail_ = nullptr;
  }
  shared_len_ -= 1 + batch;
  t->next_ = nullptr;
  return t;
}

FutureStateBase* PoolCore::steal(const Worker* self) noexcept {
  const int n = nrings_.load(std::memory_order_acquire);
  if (n == 0) return nullptr;
  // Start after our own ring, so that thieves spread over the victims.
  const int start = self != nullptr && self->ring >= 0 ? self->ring + 1 : 0;
  for (int k = 0; k < n; ++k) {
    Worker* w = rings_[static_cast<std::size_t>((start + k) % n)].load(std::memory_order_relaxed);
    if (w == self) continue;
    if (FutureStateBase* t = w->local.pop()) return t;
  }
  return nullptr;
}

bool PoolCore::rings_empty() const noexcept {
  const int n = nrings_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (!rings_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed)->local.empty()) {
      return false;
    }
  }
  return true;
}

FutureStateBase* PoolCore::take_all_rings() noexcept {
  FutureStateBase* first = nullptr;
  FutureStateBase** link = &first;
  const int n = nrings_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    LocalQueue& q = rings_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed)->local;
    while (FutureStateBase* t = q.pop()) {
      t->next_ = nullptr;
      *link = t;
      link = &t->next_;
    }
  }
  return first;
}

FutureStateBase* PoolCore::next_task(Worker* self, bool& closed) {
  closed = false;
  // Its own ring first (the tasks its tasks submitted, likely waited for
  // soon), but every 64th time the shared queue first, so that a worker
  // busy with its own tasks' tasks never leaves the shared queue waiting.
  if (self->ring >= 0 && (fifo_ || (++self->ticks & 63) != 0)) {
    if (FutureStateBase* t = self->local.pop()) return t;
  }
  if (FutureStateBase* t = pop_shared(self, closed)) return t;
  if (self->ring >= 0) {
    if (FutureStateBase* t = self->local.pop()) return t;
  }
  if (FutureStateBase* t = steal(self)) return t;
  // Exit only when closed and nothing is queued anywhere: a ring is pushed
  // only by its running owner, which empties it before it exits.
  if (closed && !rings_empty()) closed = false;
  return nullptr;
}

bool PoolCore::work_or_closed() const noexcept {
  return head_.load(std::memory_order_relaxed) != nullptr ||
         closed_.load(std::memory_order_relaxed) != 0 || !rings_empty();
}

void PoolCore::wait_for_work() {
  // An idle worker first spins (briefly yielding the CPU between rounds)
  // while few others do: spin.hpp's kIdleWorkerRounds says why.
  std::uint32_t spinners = spinning_.load(std::memory_order_relaxed);
  const bool spin =
      spinners < max_spinners_ &&
      spinning_.compare_exchange_strong(spinners, spinners + 1, std::memory_order_seq_cst);
  if (spin &&
      spin_rounds(kIdleWorkerRounds, kIdleWorkerPauses, [this] { return work_or_closed(); })) {
    spinning_.fetch_sub(1, std::memory_order_seq_cst);
    return;
  }
  const std::uint32_t key = seq_.load(std::memory_order_acquire);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  // A wake-up still marked in flight may have gone to a worker that has
  // already looked: clear the mark before looking, so that a task pushed
  // after our look wakes someone.
  waking_.store(false, std::memory_order_seq_cst);
  if (spin) spinning_.fetch_sub(1, std::memory_order_seq_cst);
  bool ready;
  {
    std::scoped_lock guard(lock_);
    ready = work_or_closed();
  }
  if (!ready) {
    park(seq_, key, Deadline::never(), WaitSite{"ThreadPoolExecutor.idle", this});
    waking_.store(false, std::memory_order_relaxed);  // this one has arrived
  }
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

void PoolCore::wake_one_if_needed() noexcept {
  // Dekker with wait_for_work(): a worker counts itself a sleeper (and only
  // then stops spinning) before it looks at the queues (the shared one
  // under lock_); we look at the counters after pushing (under lock_, or to
  // a ring followed by a full fence). Either it sees the task or we see it.
  //
  // At most one wake-up is in flight (waking_): the woken worker takes a
  // task and, if more are queued, wakes the next (worker_main), so a burst
  // of submits costs the submitter one system call, not one per task, and
  // never wakes more workers than find work. Every worker clears waking_
  // before its last look at the queues, so the mark cannot outlive the
  // sleepers and hide a task from them.
  if (spinning_.load(std::memory_order_seq_cst) != 0) return;
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  if (waking_.load(std::memory_order_relaxed) || waking_.exchange(true, std::memory_order_seq_cst))
    return;
  seq_.fetch_add(1, std::memory_order_release);
  unpark_one(seq_);
}

void PoolCore::worker_main(Worker* self) {
  tls_worker = self;
  struct ClearTls {
    ~ClearTls() { tls_worker = nullptr; }  // the record may die with the core after return
  } clear_tls;
  self->stack_low = stack_low_address();
  if (initializer_) {
    try {
      initializer_();
    } catch (...) {
      std::string what = "unknown exception";
      try {
        throw;
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      std::fprintf(stderr, "Exception in initializer:\n%s\n", what.c_str());
      std::fflush(stderr);
      initializer_failed();
      return;
    }
  }
  bool announced = false;
  for (;;) {
    bool closed = false;
    FutureStateBase* task = next_task(self, closed);
    if (task != nullptr) {
      announced = false;
      // More queued and nobody looking: hand a wake-up on, so that work
      // spreads over the workers without the submitter paying for it.
      if (head_.load(std::memory_order_relaxed) != nullptr ||
          (self->ring >= 0 && !self->local.empty())) {
        wake_one_if_needed();
      }
      if (task->try_claim()) task->run_claimed();
      task->release();
      continue;
    }
    if (closed) return;  // nothing queued anywhere and no more work can come
    if (!announced) {
      idle_.fetch_add(1, std::memory_order_relaxed);
      announced = true;
    }
    wait_for_work();
  }
}

void PoolCore::initializer_failed() {
  FutureStateBase* list;
  {
    std::scoped_lock guard(lock_);
    broken_.store(true, std::memory_order_relaxed);
    list = head_.exchange(nullptr, std::memory_order_relaxed);
    tail_ = nullptr;
    shared_len_ = 0;
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);  // broken_ before the rings' reads
  FutureStateBase* ringed = take_all_rings();
  for (FutureStateBase* l : {list, ringed}) {
    while (l != nullptr) {
      FutureStateBase* next = std::exchange(l->next_, nullptr);
      if (l->try_begin_complete()) {
        l->complete_exception(std::make_exception_ptr(BrokenThreadPool(kBrokenMessage)));
      }
      l->release();
      l = next;
    }
  }
}

void PoolCore::shutdown(bool wait, bool cancel_futures, bool may_throw) {
  Worker* const self = calling_worker();
  FutureStateBase* list = nullptr;
  {
    std::scoped_lock guard(lock_);
    closed_.fetch_or(cancel_futures ? kShutdown | kCancelQueued : kShutdown,
                     std::memory_order_seq_cst);
    list = std::exchange(orphans_, nullptr);
    has_orphans_.store(false, std::memory_order_relaxed);
    if (cancel_futures) {
      FutureStateBase* queued = head_.exchange(nullptr, std::memory_order_relaxed);
      if (queued != nullptr) {
        tail_->next_ = list;  // the queue's own order first
        list = queued;
      }
      tail_ = nullptr;
      shared_len_ = 0;
    }
    if (wait && self != nullptr) self->in_shutdown.store(true, std::memory_order_relaxed);
  }
  FutureStateBase* ringed = nullptr;
  if (cancel_futures) {
    // Dekker with submit_local(): closed_ before the rings' reads.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    ringed = take_all_rings();
  }
  wake_all();
  // Cancel outside the lock: cancel() runs done-callbacks, which may submit.
  cancel_list(list);
  cancel_list(ringed);
  if (!wait) return;
  join_workers(self);
  if (self != nullptr && may_throw) throw RuntimeError("cannot join current thread");
}

void PoolCore::close_for_exit() {
  Worker* const self = calling_worker();
  FutureStateBase* list = nullptr;
  {
    std::scoped_lock guard(lock_);
    closed_.fetch_or(kExiting, std::memory_order_relaxed);
    list = std::exchange(orphans_, nullptr);
    if (self != nullptr) self->in_shutdown.store(true, std::memory_order_relaxed);
  }
  wake_all();
  cancel_list(list);
  join_workers(self);
}

void PoolCore::join_workers(Worker* self) {
  // workers_ no longer grows: closed_ was set under lock_ before we got here.
  //
  // No two workers wait for each other: a worker marks itself in_shutdown
  // under lock_ before it looks at the others' marks, so of two workers in
  // here, the one that marked itself second sees the first one's mark and
  // skips it. (Python joins its threads in set order and raises on reaching
  // the caller; the first worker in that order waits for no one.) Threads
  // that are not workers of this pool are never waited for.
  //
  // These joins never throw DeadlockError (shutdown runs from the pool's
  // destructor): if one would close a wait-for cycle, the worker's task that
  // waits for a lock held here throws it instead, and its future holds it.
  const detail::NoDeadlockErrorScope joins_from_shutdown;
  for (auto& w : workers_) {
    if (w.get() == self || w->in_shutdown.load(std::memory_order_relaxed)) continue;
    w->thread->join();
  }
  if (self != nullptr) {
    std::scoped_lock guard(lock_);
    self->in_shutdown.store(false, std::memory_order_relaxed);
  }
}

void PoolCore::after_fork_in_child() noexcept {
  // Only the forking thread exists here. The pool's lock may have been held
  // by a thread that is gone, in the middle of an update ("torn").
  const bool torn = lock_.locked();
  std::destroy_at(&lock_);
  std::construct_at(&lock_);
  // The parent's queued tasks are not run here; the next submit, shutdown
  // or exit cancels the child's copies of their futures (outside this
  // handler: cancel() runs callbacks). Following head_ is safe even when
  // torn: every update keeps the chain from head_ made of queued blocks.
  FutureStateBase* queued = head_.exchange(nullptr, std::memory_order_relaxed);
  // A batch torn on its way to a ring (pop_shared): once detached from the
  // queue (its first task no longer in the chain from head_), the tasks the
  // ring's tail does not count yet are orphans too.
  FutureStateBase* unpushed = nullptr;
  if (transit_count_ > 0) {
    bool detached = true;
    for (FutureStateBase* n = queued; n != nullptr; n = n->next_) {
      if (n == transit_[0]) {
        detached = false;
        break;
      }
    }
    if (detached) {
      const std::uint32_t pushed = transit_ring_->local.pushed() - transit_start_;
      for (std::uint32_t i = transit_count_; i-- > pushed;) {
        transit_[i]->next_ = unpushed;
        unpushed = transit_[i];
      }
    }
    transit_count_ = 0;
  }
  for (FutureStateBase* list : {queued, unpushed}) {
    if (list != nullptr) {
      FutureStateBase* last = list;
      while (last->next_ != nullptr) last = last->next_;
      last->next_ = orphans_;
      orphans_ = list;
    }
  }
  tail_ = nullptr;
  shared_len_ = 0;
  // The workers' rings hold parent tasks too: orphans as well. (A push torn
  // by the fork, its slot written but not its tail, is not seen: that task's
  // submit never returned in the child, and its block is leaked.)
  const int nrings = nrings_.load(std::memory_order_relaxed);
  for (int i = 0; i < nrings; ++i) {
    Worker* w = rings_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    FutureStateBase* taken = w->local.take_all_in_child();
    if (taken != nullptr) {
      FutureStateBase* last = taken;
      while (last->next_ != nullptr) last = last->next_;
      last->next_ = orphans_;
      orphans_ = taken;
    }
    w->ring = -1;
  }
  nrings_.store(0, std::memory_order_relaxed);
  has_orphans_.store(orphans_ != nullptr, std::memory_order_relaxed);
  // Forget the workers: they do not exist here, so they are never joined.
  // A worker that called fork() itself is the child's thread: keep it.
  Worker* const survivor = calling_worker();
  if (torn) {
    // A worker may have been being added: don't read the list, abandon it
    // (leaked), and own the survivor's record afresh.
    std::construct_at(&workers_);
    if (survivor != nullptr) {
      try {
        workers_.emplace_back(survivor);
      } catch (...) {
        // Not recorded: the pool will not wait for it.
      }
    }
  } else {
    // Keep the records allocated (forgotten_), so that nothing that still
    // points at them dangles.
    std::unique_ptr<Worker> kept;
    for (auto& w : workers_) {
      if (w.get() == survivor) kept = std::move(w);
    }
    try {
      forgotten_.insert(forgotten_.end(), std::make_move_iterator(workers_.begin()),
                        std::make_move_iterator(workers_.end()));
    } catch (...) {
      for (auto& w : workers_) (void)w.release();
    }
    workers_.clear();
    if (kept) {
      try {
        workers_.push_back(std::move(kept));  // capacity is there: no allocation
      } catch (...) {
        (void)kept.release();
      }
    }
  }
  nthreads_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  idle_.store(0, std::memory_order_relaxed);
  sleepers_.store(0, std::memory_order_relaxed);
  waking_.store(false, std::memory_order_relaxed);
  spinning_.store(0, std::memory_order_relaxed);
}

bool help_run_queued(FutureStateBase& s) noexcept {
  PoolCore::Worker* const w = tls_worker;
  if (w == nullptr || w->pool->id() != s.queued_in()) return false;
  // Nested helping grows this stack: leave room for the task's own frames,
  // and past that wait, as a Python worker would.
  const auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  if (w->help_depth >= kMaxHelpDepth || w->stack_low == 0 || sp < w->stack_low + kHelpStackRoom) {
    return false;
  }
  // Usually the task is the newest in this worker's own ring: take its
  // entry out, with the entry's reference. Otherwise the entry stays where
  // it is, and whoever takes it finds the task started and drops it.
  const bool own_entry = w->ring >= 0 && w->local.unpush(&s);
  const bool claimed = s.try_claim();  // false: started, or cancelled, by another thread
  if (claimed) {
    ++w->help_depth;
    s.run_claimed();
    --w->help_depth;
  }
  if (own_entry) s.release();  // never the last reference: the waiter holds one
  return claimed;
}

}  // namespace detail

ThreadPoolExecutor::ThreadPoolExecutor(ThreadPoolOptions options) {
  int max_workers = detail::default_max_workers();
  if (options.max_workers) {
    if (*options.max_workers <= 0) throw ValueError("max_workers must be greater than 0");
    max_workers = *options.max_workers;
  }
  std::string prefix = std::move(options.thread_name_prefix);
  if (prefix.empty()) {
    static std::atomic<unsigned> counter{0};
    prefix =
        "ThreadPoolExecutor-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  }
  core_ = std::make_shared<detail::PoolCore>(max_workers, std::move(prefix),
                                             std::move(options.initializer));
  if (!detail::register_pool(core_)) core_->close_for_exit();
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  retire();
  core_->shutdown(true, false, false);
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  core_->shutdown(wait, cancel_futures, true);
}
int ThreadPoolExecutor::max_workers() const noexcept {
  return core_->max_workers();
}
const std::string& ThreadPoolExecutor::thread_name_prefix() const noexcept {
  return core_->prefix();
}
int ThreadPoolExecutor::num_threads() const noexcept {
  return core_->num_threads();
}
void ThreadPoolExecutor::schedule(Task task) {
  core_->submit(detail::TaskAccess::peek(task));  // takes the reference only if it does not throw
  (void)detail::TaskAccess::release(task);
}

}  // namespace spindle
