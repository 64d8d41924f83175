// ThreadPoolExecutor: a FIFO of task blocks (intrusive, guarded by one
// Lock), lazily started spindle::Thread workers that park on a sequence word
// when idle, and the process-exit hook that drains every live pool (C103).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

}  // namespace

class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  static constexpr std::uint32_t kShutdown = 1;  // shutdown() was called
  static constexpr std::uint32_t kExiting = 2;   // the process exit hook ran

  PoolCore(int max_workers, std::string prefix, std::function<void()> initializer)
      : max_workers_(max_workers),
        prefix_(std::move(prefix)),
        initializer_(std::move(initializer)) {}

  void submit(FutureStateBase* task);
  void shutdown(bool wait, bool cancel_futures);
  void close_for_exit();

  int max_workers() const noexcept { return max_workers_; }
  const std::string& prefix() const noexcept { return prefix_; }
  int num_threads() const noexcept { return nthreads_.load(std::memory_order_relaxed); }

 private:
  void start_worker_locked();
  void worker_main();
  FutureStateBase* pop(bool& closed);
  void wait_for_work();
  bool work_or_closed() const noexcept;
  void wake_one_if_needed() noexcept;
  void wake_all() noexcept {
    seq_.fetch_add(1, std::memory_order_release);
    unpark_all(seq_);
  }
  void initializer_failed();
  void join_all();

  const int max_workers_;
  const std::string prefix_;
  const std::function<void()> initializer_;

  Lock lock_;  // guards the queue, broken_, threads_ and the closed_ bits' writes
  std::atomic<FutureStateBase*> head_{nullptr};  // atomic only for idle workers' peeks
  FutureStateBase* tail_ = nullptr;
  std::atomic<std::uint32_t> closed_{0};
  bool broken_ = false;
  std::vector<std::unique_ptr<Thread>> threads_;  // only grows, and only before closed_
  std::atomic<int> nthreads_{0};

  // Python's _idle_semaphore: workers that went idle; submit() takes one
  // instead of starting a worker.
  alignas(64) std::atomic<std::uint32_t> idle_{0};
  // Idle workers park on seq_; submit() bumps it and wakes one when
  // sleepers_ says someone may be parked.
  alignas(64) std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint32_t> sleepers_{0};
  alignas(64) std::atomic<std::uint32_t> spinning_{0};
  const std::uint32_t max_spinners_ = spinner_limit();
  static constexpr int kIdleSpinRounds = 16;
};

namespace {

// Every live pool, for the process-exit hook.
struct PoolRegistry {
  Lock lock;
  std::vector<std::weak_ptr<PoolCore>> pools;
  bool hooked = false;
  bool exiting = false;
};
PoolRegistry& registry() {
  static auto* r = new PoolRegistry;  // never destroyed: used during exit
  return *r;
}

void exit_all_pools() {
  std::vector<std::shared_ptr<PoolCore>> live;
  {
    PoolRegistry& r = registry();
    std::scoped_lock guard(r.lock);
    r.exiting = true;
    for (auto& w : r.pools) {
      if (auto p = w.lock()) live.push_back(std::move(p));
    }
  }
  for (auto& p : live) p->close_for_exit();
}

// Registers `core`; false if the process exit has already begun.
bool register_pool(const std::shared_ptr<PoolCore>& core) {
  PoolRegistry& r = registry();
  std::scoped_lock guard(r.lock);
  if (!r.hooked && !r.exiting) {
    try {
      register_atexit(exit_all_pools);
      r.hooked = true;
    } catch (const RuntimeError&) {
      r.exiting = true;
    }
  }
  if (r.exiting) return false;
  std::erase_if(r.pools, [](const std::weak_ptr<PoolCore>& w) { return w.expired(); });
  r.pools.push_back(core);
  return true;
}

}  // namespace

void PoolCore::submit(FutureStateBase* task) {
  {
    std::scoped_lock guard(lock_);
    if (broken_) throw BrokenThreadPool(kBrokenMessage);
    const std::uint32_t closed = closed_.load(std::memory_order_relaxed);
    if (closed & kShutdown) throw RuntimeError("cannot schedule new futures after shutdown");
    if (closed & kExiting)
      throw RuntimeError("cannot schedule new futures after interpreter shutdown");
    task->next_ = nullptr;
    if (tail_ != nullptr) {
      tail_->next_ = task;
    } else {
      head_.store(task, std::memory_order_relaxed);
    }
    tail_ = task;
    // Python's _adjust_thread_count: reuse an idle worker, else start one.
    std::uint32_t idle = idle_.load(std::memory_order_relaxed);
    while (idle > 0 && !idle_.compare_exchange_weak(idle, idle - 1, std::memory_order_relaxed)) {
    }
    if (idle == 0 && static_cast<int>(threads_.size()) < max_workers_) {
      try {
        start_worker_locked();
      } catch (...) {
        // The task stays queued; an existing worker (if any) will run it.
        if (threads_.empty()) {
          head_.store(nullptr, std::memory_order_relaxed);
          tail_ = nullptr;
          throw;
        }
      }
    }
  }
  wake_one_if_needed();
}

void PoolCore::start_worker_locked() {
  const std::string name = prefix_ + "_" + std::to_string(threads_.size());
  auto t = std::make_unique<Thread>(ThreadOptions{.name = name, .daemon = false},
                                    [core = shared_from_this()] { core->worker_main(); });
  t->start();
  threads_.push_back(std::move(t));
  nthreads_.fetch_add(1, std::memory_order_relaxed);
}

FutureStateBase* PoolCore::pop(bool& closed) {
  std::scoped_lock guard(lock_);
  FutureStateBase* t = head_.load(std::memory_order_relaxed);
  if (t != nullptr) {
    head_.store(t->next_, std::memory_order_relaxed);
    if (t->next_ == nullptr) tail_ = nullptr;
    t->next_ = nullptr;
  }
  closed = closed_.load(std::memory_order_relaxed) != 0;
  return t;
}

bool PoolCore::work_or_closed() const noexcept {
  return head_.load(std::memory_order_relaxed) != nullptr ||
         closed_.load(std::memory_order_relaxed) != 0;
}

void PoolCore::wait_for_work() {
  // An idle worker first spins (briefly yielding the CPU between rounds)
  // while few others do: tiny tasks then flow without a system call on
  // either side, because submit() wakes nobody while a spinner is looking.
  // Measured in bench/bench_futures.cpp: without it every submit paid a
  // futex wake and every worker a futex wait.
  std::uint32_t spinners = spinning_.load(std::memory_order_relaxed);
  const bool spin =
      spinners < max_spinners_ &&
      spinning_.compare_exchange_strong(spinners, spinners + 1, std::memory_order_seq_cst);
  if (spin) {
    for (int round = 0; round < kIdleSpinRounds; ++round) {
      for (int i = 0; i < 64; ++i) {
        if (work_or_closed()) {
          spinning_.fetch_sub(1, std::memory_order_seq_cst);
          return;
        }
        cpu_relax();
      }
      std::this_thread::yield();
    }
  }
  const std::uint32_t key = seq_.load(std::memory_order_acquire);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  if (spin) spinning_.fetch_sub(1, std::memory_order_seq_cst);
  bool ready;
  {
    std::scoped_lock guard(lock_);
    ready = work_or_closed();
  }
  if (!ready) park(seq_, key, Deadline::never(), WaitSite{"ThreadPoolExecutor.idle", this});
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

void PoolCore::wake_one_if_needed() noexcept {
  // Dekker with wait_for_work(): a worker counts itself a sleeper (and only
  // then stops spinning) before it looks at the queue under lock_; we look
  // at the counters after pushing under lock_. Either it sees the task or
  // we see it.
  if (spinning_.load(std::memory_order_seq_cst) != 0) return;
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  seq_.fetch_add(1, std::memory_order_release);
  unpark_one(seq_);
}

void PoolCore::worker_main() {
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
    FutureStateBase* task = pop(closed);
    if (task != nullptr) {
      announced = false;
      // More queued and nobody looking: hand a wake-up on, so that work
      // spreads over the workers without the submitter paying for it.
      if (head_.load(std::memory_order_relaxed) != nullptr) wake_one_if_needed();
      if (task->try_claim()) task->run_claimed();
      task->release();
      continue;
    }
    if (closed) return;  // queue empty and no more work can come
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
    broken_ = true;
    list = head_.exchange(nullptr, std::memory_order_relaxed);
    tail_ = nullptr;
  }
  while (list != nullptr) {
    FutureStateBase* next = std::exchange(list->next_, nullptr);
    if (list->try_begin_complete()) {
      list->complete_exception(std::make_exception_ptr(BrokenThreadPool(kBrokenMessage)));
    }
    list->release();
    list = next;
  }
}

void PoolCore::shutdown(bool wait, bool cancel_futures) {
  FutureStateBase* list = nullptr;
  {
    std::scoped_lock guard(lock_);
    closed_.fetch_or(kShutdown, std::memory_order_relaxed);
    if (cancel_futures) {
      list = head_.exchange(nullptr, std::memory_order_relaxed);
      tail_ = nullptr;
    }
  }
  wake_all();
  // Cancel outside the lock: cancel() runs done-callbacks, which may submit.
  while (list != nullptr) {
    FutureStateBase* next = std::exchange(list->next_, nullptr);
    list->cancel();
    list->release();
    list = next;
  }
  if (wait) join_all();
}

void PoolCore::close_for_exit() {
  {
    std::scoped_lock guard(lock_);
    closed_.fetch_or(kExiting, std::memory_order_relaxed);
  }
  wake_all();
  join_all();
}

void PoolCore::join_all() {
  // threads_ no longer grows: closed_ was set under lock_ before we got here.
  const std::uint64_t me = get_ident();
  for (auto& t : threads_) {
    if (t->ident() == me) continue;  // a worker shutting its own pool down
    t->join();
  }
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
  core_->shutdown(true, false);
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  core_->shutdown(wait, cancel_futures);
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
void ThreadPoolExecutor::schedule(detail::FutureStateBase* task) {
  core_->submit(task);
}

}  // namespace spindle
