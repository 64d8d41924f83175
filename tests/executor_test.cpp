// ThreadPoolExecutor, Executor::submit and map: C90-C94, C101, C102 (C103 is
// tests/futures_exit.cmake), worker names, lazy start, tasks waiting on tasks
// (timed waits as in Python; untimed ones run a queued task of their own
// pool), the workers' own queues (stealing, order, shutdown), shutdown called
// inside workers, pools used in a forked child.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "spindle/event.hpp"
#include "spindle/futures.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

#if defined(__SANITIZE_THREAD__)
// The fork tests start threads in a child of a multithreaded process, which
// ThreadSanitizer refuses by default.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif

using namespace std::chrono_literals;
using spindle::Future;
using spindle::ThreadPoolExecutor;

namespace {

// A gate a task can block on until the test opens it (std primitives: the
// test must not depend on the code under test to release its tasks).
class Gate {
 public:
  void open() {
    {
      std::lock_guard<std::mutex> g(m_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> g(m_);
    cv_.wait(g, [this] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

void spin_until(const std::function<bool()>& pred) {
  while (!pred()) std::this_thread::yield();
}

int square(int x) {
  return x * x;
}

// Waits until the pool's worker `name` is parked (idle): it has announced
// itself idle, so a submit() would reuse it rather than start another.
void wait_until_parked(const std::string& name) {
  spin_until([&] {
    for (auto& t : spindle::enumerate()) {
      if (t->name() == name && t->state() == spindle::ThreadState::blocked) return true;
    }
    return false;
  });
}

// An executor that runs each task inline in schedule() and counts the
// tasks scheduled: what map() submits, and when, is then exact.
class InlineCountingExecutor final : public spindle::Executor {
 public:
  ~InlineCountingExecutor() override { retire(); }
  void shutdown(bool, bool) override {}
  std::atomic<int> scheduled{0};

 protected:
  void schedule(spindle::Task task) override {
    scheduled.fetch_add(1);
    task.run();
  }
};

// The hang guard of the fork tests: an alarm that kills the test process.
// A Watchdog would be a thread, and a fork that lands while a thread is
// being set up (or allocating) in a sanitizer's runtime leaves the child
// waiting for a lock that nobody will release. Alarms are not inherited by
// the child, which sets its own.
class AlarmGuard {
 public:
  explicit AlarmGuard(unsigned seconds) { alarm(seconds); }
  ~AlarmGuard() { alarm(0); }
  AlarmGuard(const AlarmGuard&) = delete;
  AlarmGuard& operator=(const AlarmGuard&) = delete;
};

// Runs `child` in a forked child process, which ends with _exit (or
// std::exit when `use_exit`) of what `child` returns; an alarm kills a child
// that hangs. Returns the child's wait status. The child must not use gtest
// assertions: its return value is the verdict.
int run_in_child(const std::function<int()>& child, bool use_exit = false) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    alarm(60);  // hang guard: SIGALRM ends the child
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer keeps the vanished threads in its thread table, and
    // glibc reuses their stacks - so their pthread_t values - for the
    // child's new threads, which TSan takes for duplicates: give the child's
    // threads a stack size no vanished thread had, so they get fresh stacks.
    spindle::stack_size(std::size_t{16} << 20);
#endif
    int code = 3;
    try {
      code = child();
    } catch (...) {
      code = 4;
    }
    if (use_exit) std::exit(code);
    _exit(code);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// An executor written against the public executor API only: it keeps the
// Tasks it is given, and the test decides what happens to each.
class HoldingExecutor final : public spindle::Executor {
 public:
  ~HoldingExecutor() override { retire(); }
  void shutdown(bool, bool) override {}
  std::vector<spindle::Task> tasks;

 protected:
  void schedule(spindle::Task task) override {
    if (refuse) throw spindle::RuntimeError("cannot schedule new futures after shutdown");
    tasks.push_back(std::move(task));
  }

 public:
  bool refuse = false;
};

}  // namespace

TEST(ThreadPoolExecutor, C90_max_workers_must_be_positive) {
  try {
    ThreadPoolExecutor pool(0);
    FAIL();
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "max_workers must be greater than 0");
  }
  EXPECT_THROW(ThreadPoolExecutor(-1), spindle::ValueError);
  EXPECT_THROW(ThreadPoolExecutor({.max_workers = 0}), spindle::ValueError);
}

TEST(ThreadPoolExecutor, C90_default_max_workers) {
  ThreadPoolExecutor pool;
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(pool.max_workers(), std::min(32, CPU_COUNT(&set) + 4));
}

TEST(ThreadPoolExecutor, C91_submit_after_shutdown_throws) {
  ThreadPoolExecutor pool(2);
  pool.shutdown();
  try {
    (void)pool.submit(square, 2);
    FAIL();
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
}

TEST(ThreadPoolExecutor, C92_shutdown_twice_is_allowed) {
  spindle_test::Watchdog dog("C92");
  ThreadPoolExecutor pool(2);
  auto f = pool.submit(square, 3);
  pool.shutdown();
  pool.shutdown();
  pool.shutdown(false, true);
  EXPECT_EQ(f.result(), 9);
}

TEST(ThreadPoolExecutor, C93_cancel_futures_cancels_pending_running_one_finishes) {
  spindle_test::Watchdog dog("C93");
  Gate gate;
  ThreadPoolExecutor pool(1);
  auto running = pool.submit([&] {
    gate.wait();
    return 1;
  });
  spin_until([&] { return running.running(); });
  std::vector<Future<int>> pending;
  for (int i = 0; i < 5; ++i) pending.push_back(pool.submit(square, i));
  pool.shutdown(false, true);
  for (auto& f : pending) EXPECT_TRUE(f.cancelled());
  EXPECT_FALSE(running.done());
  gate.open();
  pool.shutdown(true);
  EXPECT_EQ(running.result(), 1);
}

TEST(ThreadPoolExecutor, C94_initializer_throws_breaks_the_pool) {
  spindle_test::Watchdog dog("C94");
  testing::internal::CaptureStderr();
  ThreadPoolExecutor pool(1, "", [] { throw std::runtime_error("init failed"); });
  auto f = pool.submit(square, 2);
  EXPECT_THROW((void)f.result(), spindle::BrokenThreadPool);
  try {
    (void)pool.submit(square, 3);
    FAIL();
  } catch (const spindle::BrokenExecutor& e) {
    EXPECT_STREQ(e.what(), "A thread initializer failed, the thread pool is not usable anymore");
  }
  pool.shutdown();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Exception in initializer:"), std::string::npos) << err;
  EXPECT_NE(err.find("init failed"), std::string::npos) << err;
}

TEST(ThreadPoolExecutor, InitializerRunsInEachWorker) {
  spindle_test::Watchdog dog("initializer");
  thread_local int initialised = 0;
  ThreadPoolExecutor pool(2, "", [] { initialised = 7; });
  EXPECT_EQ(pool.submit([] { return initialised; }).result(), 7);
}

TEST(ThreadPoolExecutor, C102_destructor_waits_for_queued_work) {
  spindle_test::Watchdog dog("C102");
  std::atomic<int> ran{0};
  std::vector<Future<void>> fs;
  {
    ThreadPoolExecutor pool(2);
    for (int i = 0; i < 100; ++i) fs.push_back(pool.submit([&] { ran.fetch_add(1); }));
  }
  EXPECT_EQ(ran.load(), 100);
  for (auto& f : fs) EXPECT_TRUE(f.done());
}

TEST(ThreadPoolExecutor, SubmitDeducesResultTypes) {
  spindle_test::Watchdog dog("submit types");
  ThreadPoolExecutor pool(2);
  Future<int> a = pool.submit(square, 5);
  Future<std::string> b =
      pool.submit([](std::string s, int n) { return s + std::to_string(n); }, "x", 1);
  Future<void> c = pool.submit([] {});
  Future<std::unique_ptr<int>> d =
      pool.submit([](std::unique_ptr<int> p) { return p; }, std::make_unique<int>(4));
  EXPECT_EQ(a.result(), 25);
  EXPECT_EQ(b.result(), "x1");
  c.result();
  EXPECT_EQ(*d.result(), 4);
}

TEST(ThreadPoolExecutor, TaskExceptionGoesToTheFuture) {
  spindle_test::Watchdog dog("task exception");
  ThreadPoolExecutor pool(1);
  auto f = pool.submit([]() -> int { throw std::logic_error("bad task"); });
  EXPECT_THROW((void)f.result(), std::logic_error);
  EXPECT_EQ(pool.submit(square, 2).result(), 4);  // the worker survived
}

TEST(ThreadPoolExecutor, UnretrievedTaskExceptionReachesTheHook) {
  spindle_test::Watchdog dog("unretrieved");
  std::atomic<int> calls{0};
  auto prev =
      spindle::set_unretrieved_exception_hook([&](std::exception_ptr) { calls.fetch_add(1); });
  {
    ThreadPoolExecutor pool(1);
    auto f = pool.submit([]() -> int { throw std::runtime_error("dropped"); });
    pool.shutdown();  // the task has run; only our handle is left
  }
  EXPECT_EQ(calls.load(), 1);
  spindle::set_unretrieved_exception_hook(prev);
}

TEST(ThreadPoolExecutor, WorkersAreNamedFromThePrefix) {
  spindle_test::Watchdog dog("names");
  ThreadPoolExecutor pool({.max_workers = 1, .thread_name_prefix = "io"});
  EXPECT_EQ(pool.submit([] { return spindle::current_thread().name(); }).result(), "io_0");
  ThreadPoolExecutor unnamed(1);
  const std::string name = unnamed.submit([] { return spindle::current_thread().name(); }).result();
  EXPECT_EQ(name.rfind("ThreadPoolExecutor-", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 2), "_0") << name;
  EXPECT_EQ(unnamed.thread_name_prefix() + "_0", name);
}

TEST(ThreadPoolExecutor, WorkersStartLazilyAndIdleOnesAreReused) {
  spindle_test::Watchdog dog("lazy");
  ThreadPoolExecutor pool({.max_workers = 8, .thread_name_prefix = "lazy"});
  EXPECT_EQ(pool.num_threads(), 0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(pool.submit(square, i).result(), i * i);
    // Wait until the worker has gone idle (parked): it announced itself, so
    // the next submit must reuse it rather than start a second worker.
    spin_until([] {
      for (auto& t : spindle::enumerate()) {
        if (t->name() == "lazy_0" && t->state() == spindle::ThreadState::blocked) return true;
      }
      return false;
    });
    EXPECT_EQ(pool.num_threads(), 1);
  }
}

// ---- tasks that wait on tasks: timed waits only wait, as in Python --------

TEST(ThreadPoolExecutor, WaitingOnATaskQueuedBehindItTimesOutAsInPython) {
  // The only worker runs `outer`, so `inner` stays queued: result(50ms)
  // raises TimeoutError, as in Python; inner runs once outer returns.
  spindle_test::Watchdog dog("queued inner times out");
  ThreadPoolExecutor pool(1);
  auto outer = pool.submit([&pool] {
    auto inner = pool.submit(square, 6);
    bool timed_out = false;
    try {
      (void)inner.result(50ms);
    } catch (const spindle::TimeoutError&) {
      timed_out = true;
    }
    return std::pair{timed_out, inner};
  });
  auto& [timed_out, inner] = outer.result();
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(inner.result(), 36);
}

TEST(ThreadPoolExecutor, WaitingWhileHoldingTheLockTheQueuedTaskNeedsTimesOutAndBothFinish) {
  // outer holds a Lock and waits (with a timeout) on inner, which needs the
  // same Lock. Python: TimeoutError, then outer releases the lock and inner
  // finishes. Run with the inner task queued (1 worker) and with it blocked
  // on the lock in a second worker.
  spindle_test::Watchdog dog("lock held while waiting");
  for (int workers : {1, 2}) {
    spindle::Lock lock;
    ThreadPoolExecutor pool(workers);
    auto outer = pool.submit([&] {
      std::scoped_lock guard(lock);
      auto inner = pool.submit([&lock] {
        std::scoped_lock g(lock);
        return 5;
      });
      bool timed_out = false;
      try {
        (void)inner.result(200ms);
      } catch (const spindle::TimeoutError&) {
        timed_out = true;
      }
      return std::pair{timed_out, inner};
    });
    auto& [timed_out, inner] = outer.result();
    EXPECT_TRUE(timed_out) << workers << " workers";
    EXPECT_EQ(inner.result(), 5) << workers << " workers";
  }
}

TEST(ThreadPoolExecutor, WaitingWhileHoldingAnRLockNeverRunsTheInnerTaskInsideTheCriticalSection) {
  // outer holds an RLock; inner takes it too. The inner task must never
  // enter while outer is inside its critical section (running inner on
  // outer's thread would re-enter the RLock there).
  spindle_test::Watchdog dog("rlock held while waiting");
  for (int workers : {1, 2}) {
    spindle::RLock rlock;
    std::atomic<bool> outer_inside{false};
    ThreadPoolExecutor pool(workers);
    auto outer = pool.submit([&] {
      std::scoped_lock guard(rlock);
      outer_inside.store(true);
      auto inner = pool.submit([&] {
        std::scoped_lock g(rlock);
        return outer_inside.load();
      });
      bool timed_out = false;
      try {
        (void)inner.result(200ms);
      } catch (const spindle::TimeoutError&) {
        timed_out = true;
      }
      outer_inside.store(false);
      return std::pair{timed_out, inner};
    });
    auto& [timed_out, inner] = outer.result();
    EXPECT_TRUE(timed_out) << workers << " workers";
    EXPECT_FALSE(inner.result()) << workers
                                 << " workers: inner ran inside outer's critical section";
  }
}

// ---- untimed waits run a queued task of the worker's own pool ------------

TEST(ThreadPoolExecutor, UntimedWaitOnAQueuedTaskOfItsOwnPoolRunsItOnTheWaitingWorker) {
  // Python deadlocks here: the only worker waits for a task queued behind
  // it. spindle's worker runs the task itself, as a free worker would.
  spindle_test::Watchdog dog("untimed wait on a queued task");
  ThreadPoolExecutor pool(1, "solo");
  auto outer = pool.submit([&pool] {
    auto inner = pool.submit([] { return spindle::current_thread().name(); });
    return std::pair{inner.result(), spindle::current_thread().name()};
  });
  auto [inner_thread, outer_thread] = outer.result();
  EXPECT_EQ(inner_thread, "solo_0");
  EXPECT_EQ(outer_thread, "solo_0");
}

TEST(ThreadPoolExecutor, UntimedExceptionAndWaitAllAlsoRunQueuedTasksOfTheirOwnPool) {
  spindle_test::Watchdog dog("exception() and wait() on queued tasks");
  ThreadPoolExecutor pool(1);
  auto outer = pool.submit([&pool] {
    auto failing = pool.submit([]() -> int { throw std::runtime_error("inner"); });
    const bool got = failing.exception() != nullptr;
    std::vector<Future<int>> fs;
    for (int i = 0; i < 5; ++i) fs.push_back(pool.submit(square, i));
    auto [done, not_done] = spindle::wait(fs);
    int sum = 0;
    for (auto& f : fs) sum += f.result();
    return std::tuple{got, done.size(), not_done.size(), sum};
  });
  auto [got, done, not_done, sum] = outer.result();
  EXPECT_TRUE(got);
  EXPECT_EQ(done, 5U);
  EXPECT_EQ(not_done, 0U);
  EXPECT_EQ(sum, 0 + 1 + 4 + 9 + 16);
}

namespace {
// A parallel sum of [lo, hi) by recursive halving: the left half is a task,
// the right half is computed here, then the left task is waited for.
std::uint64_t fan_out_sum(ThreadPoolExecutor& pool, std::uint64_t lo, std::uint64_t hi) {
  if (hi - lo <= 8) {
    std::uint64_t s = 0;
    for (std::uint64_t i = lo; i < hi; ++i) s += i;
    return s;
  }
  const std::uint64_t mid = lo + (hi - lo) / 2;
  auto left = pool.submit([&pool, lo, mid] { return fan_out_sum(pool, lo, mid); });
  const std::uint64_t right = fan_out_sum(pool, mid, hi);
  return right + left.result();
}
}  // namespace

TEST(ThreadPoolExecutor, RecursiveFanOutCompletesOnAnyNumberOfWorkers) {
  spindle_test::Watchdog dog("recursive fan-out");
  constexpr std::uint64_t n = 20000;
  for (int workers : {1, 2, 3, 8}) {
    ThreadPoolExecutor pool(workers);
    auto top = pool.submit([&pool] { return fan_out_sum(pool, 0, n); });
    EXPECT_EQ(top.result(), n * (n - 1) / 2) << workers << " workers";
  }
}

TEST(ThreadPoolExecutor, DeepChainsOfNestedUntimedWaitsCompleteOnOneWorker) {
  // Each task submits the next and waits for it: 200 levels on one worker.
  spindle_test::Watchdog dog("nested chain");
  ThreadPoolExecutor pool(1);
  std::function<int(int)> chain = [&](int depth) -> int {
    if (depth == 0) return 0;
    return 1 + pool.submit(chain, depth - 1).result();
  };
  EXPECT_EQ(pool.submit(chain, 200).result(), 200);
}

TEST(ThreadPoolExecutor, UntimedWaitNeverRunsATaskOfAnotherPool) {
  // The waiting worker belongs to pool `a`; the task is queued in `b`: it
  // runs on b's worker (b's name, b's initializer), never on a's.
  spindle_test::Watchdog dog("other pool");
  Gate gate;
  ThreadPoolExecutor b(1, "b");
  auto blocker = b.submit([&] { gate.wait(); });  // b's task stays queued
  spin_until([&] { return blocker.running(); });
  ThreadPoolExecutor a(1, "a");
  spindle::Event waiting;
  auto outer = a.submit([&] {
    auto inner = b.submit([] { return spindle::current_thread().name(); });
    waiting.set();
    return inner.result();  // untimed, on a task of another pool
  });
  waiting.wait();
  gate.open();
  EXPECT_EQ(outer.result(), "b_0");
}

TEST(ThreadPoolExecutor, AStartedTaskIsWaitedForNotRunTwice) {
  // The inner task is already running on another worker when the outer task
  // waits for it: the outer task waits, and the inner one runs exactly once.
  spindle_test::Watchdog dog("started task");
  ThreadPoolExecutor pool(2);
  std::atomic<int> runs{0};
  Gate gate;
  spindle::Event started;
  auto outer = pool.submit([&] {
    auto inner = pool.submit([&] {
      runs.fetch_add(1);
      started.set();
      gate.wait();
      return 7;
    });
    started.wait();  // the other worker took it
    gate.open();
    return inner.result();
  });
  EXPECT_EQ(outer.result(), 7);
  EXPECT_EQ(runs.load(), 1);
}

// ---- the workers' own queues -------------------------------------------------

TEST(ThreadPoolExecutor, TasksSubmittedByATaskAreRunByTheOtherWorkers) {
  // The submitting task blocks until all of its children have run: only the
  // other workers can run them, by taking them from its queue.
  spindle_test::Watchdog dog("stealing");
  for (int workers : {2, 4}) {
    ThreadPoolExecutor pool(workers, "steal");
    // Start every worker first: a task's submits go to its own queue once
    // all workers run.
    std::vector<Future<void>> warm;
    std::latch all(workers);
    for (int i = 0; i < workers; ++i) warm.push_back(pool.submit([&] { all.arrive_and_wait(); }));
    for (auto& f : warm) f.result();
    ASSERT_EQ(pool.num_threads(), workers);
    constexpr int kChildren = 50;
    std::atomic<int> left{kChildren};
    spindle::Event all_ran;
    auto parent = pool.submit([&] {
      const std::string me = spindle::current_thread().name();
      std::vector<Future<std::string>> kids;
      for (int i = 0; i < kChildren; ++i) {
        kids.push_back(pool.submit([&] {
          if (left.fetch_sub(1) == 1) all_ran.set();
          return spindle::current_thread().name();
        }));
      }
      all_ran.wait();  // not a wait on a future: nothing runs here
      int elsewhere = 0;
      for (auto& k : kids) elsewhere += k.result() != me ? 1 : 0;
      return elsewhere;
    });
    EXPECT_EQ(parent.result(), kChildren) << workers << " workers";
  }
}

TEST(ThreadPoolExecutor, OneWorkerRunsTasksInSubmissionOrderWhoeverSubmitsThem) {
  // Python's single worker takes tasks first in, first out. A task's own
  // submit comes after a submit from main that happened before it, and
  // before one that happened after it.
  spindle_test::Watchdog dog("one-worker order");
  ThreadPoolExecutor pool(1);
  spindle::Lock lock;
  std::vector<std::string> order;
  auto record = [&](std::string what) {
    std::scoped_lock g(lock);
    order.push_back(std::move(what));
  };
  spindle::Event main_submitted;
  spindle::Event task_submitted;
  std::vector<Future<void>> fs;
  fs.push_back(pool.submit([&] {
    record("A");
    main_submitted.wait();  // main's C is queued now
    fs.push_back(pool.submit([&] { record("B"); }));
    task_submitted.set();
  }));
  fs.push_back(pool.submit([&] { record("C"); }));
  main_submitted.set();
  task_submitted.wait();
  auto d = pool.submit([&] { record("D"); });
  d.result();
  pool.shutdown(true);
  EXPECT_EQ(order, (std::vector<std::string>{"A", "C", "B", "D"}));
}

TEST(ThreadPoolExecutor, OneWorkerRunsItsOwnSubmitsBeforeLaterSubmitsFromOtherThreads) {
  spindle_test::Watchdog dog("one-worker order, own submits first");
  ThreadPoolExecutor pool(1);
  spindle::Lock lock;
  std::vector<int> order;
  spindle::Event submitted;
  std::vector<Future<void>> kids;
  auto parent = pool.submit([&] {
    for (int i = 0; i < 10; ++i) {
      kids.push_back(pool.submit([&, i] {
        std::scoped_lock g(lock);
        order.push_back(i);
      }));
    }
    submitted.set();
  });
  submitted.wait();
  auto later = pool.submit([&] {
    std::scoped_lock g(lock);
    order.push_back(100);
  });
  later.result();
  parent.result();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100}));
}

TEST(ThreadPoolExecutor, C93_cancel_futures_cancels_tasks_queued_by_tasks) {
  // Every worker is busy; one of them has queued tasks of its own. A
  // shutdown with cancel_futures cancels those as well (they are pending).
  spindle_test::Watchdog dog("cancel_futures and the workers' queues");
  ThreadPoolExecutor pool(2);
  Gate gate;
  spindle::Event queued;
  std::atomic<int> ran{0};
  std::vector<Future<void>> kids;
  auto other = pool.submit([&] { gate.wait(); });
  auto parent = pool.submit([&] {
    for (int i = 0; i < 5; ++i) kids.push_back(pool.submit([&] { ran.fetch_add(1); }));
    queued.set();
    gate.wait();
  });
  queued.wait();
  pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  for (auto& k : kids) EXPECT_TRUE(k.cancelled());
  gate.open();
  pool.shutdown(true);
  EXPECT_EQ(ran.load(), 0);
  EXPECT_FALSE(parent.cancelled());
}

TEST(ThreadPoolExecutor, C91_a_task_submitting_after_shutdown_gets_RuntimeError) {
  spindle_test::Watchdog dog("submit from a task after shutdown");
  ThreadPoolExecutor pool(2);
  std::vector<Future<void>> warm;
  std::latch all(2);
  for (int i = 0; i < 2; ++i) warm.push_back(pool.submit([&] { all.arrive_and_wait(); }));
  for (auto& f : warm) f.result();
  auto f = pool.submit([&pool] {
    pool.shutdown(/*wait=*/false);
    try {
      (void)pool.submit(square, 3);
    } catch (const spindle::RuntimeError& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  });
  EXPECT_EQ(f.result(), "cannot schedule new futures after shutdown");
}

TEST(ThreadPoolExecutor, TasksQueuedByTasksRunBeforeShutdownWaitReturns) {
  // shutdown(wait) without cancel_futures: every task queued in a worker's
  // own queue still runs (nothing is lost).
  spindle_test::Watchdog dog("shutdown drains the workers' queues");
  std::atomic<int> ran{0};
  {
    ThreadPoolExecutor pool(3);
    std::vector<Future<void>> parents;
    for (int p = 0; p < 6; ++p) {
      parents.push_back(pool.submit([&] {
        for (int i = 0; i < 40; ++i) (void)pool.submit([&] { ran.fetch_add(1); });
      }));
    }
    for (auto& f : parents) f.result();
    pool.shutdown(true);
  }
  EXPECT_EQ(ran.load(), 6 * 40);
}

// ---- shutdown(wait) called inside workers ----------------------------------

TEST(ThreadPoolExecutor, ShutdownWaitInAWorkerRaisesCannotJoinCurrentThreadAsPython) {
  spindle_test::Watchdog dog("shutdown in a worker");
  ThreadPoolExecutor pool(1);
  spindle::Event submitted;  // the worker shuts down only once `queued` is in
  auto f = pool.submit([&] {
    submitted.wait();
    pool.shutdown(true);
  });
  auto queued = pool.submit(square, 3);
  submitted.set();
  try {
    f.result();
    FAIL() << "no RuntimeError";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot join current thread");
  }
  EXPECT_EQ(queued.result(), 9);  // queued work still runs, as in Python
  EXPECT_THROW((void)pool.submit(square, 1), spindle::RuntimeError);
  pool.shutdown(false);
  pool.shutdown();
}

TEST(ThreadPoolExecutor, ShutdownNoWaitInAWorkerReturns) {
  spindle_test::Watchdog dog("shutdown(false) in a worker");
  ThreadPoolExecutor pool(1);
  auto f = pool.submit([&pool] {
    pool.shutdown(false, true);
    return 1;
  });
  EXPECT_EQ(f.result(), 1);
}

TEST(ThreadPoolExecutor, ShutdownInAWorkerWaitsForTheOtherWorkersFirst) {
  // Worker A's shutdown waits for worker B (not in shutdown) before it
  // raises, so when A's exception is thrown, B's task has finished.
  spindle_test::Watchdog dog("worker shutdown waits for others");
  ThreadPoolExecutor pool(2);
  Gate gate;
  std::atomic<bool> b_running{false};
  std::atomic<bool> b_done{false};
  auto a = pool.submit([&] {
    spin_until([&] { return b_running.load(); });
    try {
      pool.shutdown(true);
    } catch (const spindle::RuntimeError&) {
      return b_done.load();
    }
    return false;
  });
  auto b = pool.submit([&] {
    b_running.store(true);
    gate.wait();
    b_done.store(true);
  });
  spin_until([&] { return b_running.load(); });
  gate.open();
  EXPECT_TRUE(a.result());
  b.result();
}

TEST(ThreadPoolExecutor, TwoWorkersCallingShutdownWaitDoNotWaitForEachOther) {
  spindle_test::Watchdog dog("two workers in shutdown");
  for (int round = 0; round < 20; ++round) {
    ThreadPoolExecutor pool(2);
    std::barrier sync(2);
    auto task = [&] {
      sync.arrive_and_wait();
      pool.shutdown(true);
    };
    auto a = pool.submit(task);
    auto b = pool.submit(task);
    for (auto* f : {&a, &b}) {
      try {
        f->result();
        FAIL() << "no RuntimeError";
      } catch (const spindle::RuntimeError& e) {
        EXPECT_STREQ(e.what(), "cannot join current thread");
      }
    }
  }
}

TEST(ThreadPoolExecutor, WorkersAndTheMainThreadAllInShutdownThenTheDestructor) {
  spindle_test::Watchdog dog("workers + main in shutdown");
  for (int round = 0; round < 20; ++round) {
    std::vector<Future<void>> fs;
    {
      ThreadPoolExecutor pool(4);
      std::barrier sync(5);
      for (int i = 0; i < 4; ++i) {
        fs.push_back(pool.submit([&, i] {
          sync.arrive_and_wait();
          pool.shutdown(true, i % 2 == 0);
        }));
      }
      sync.arrive_and_wait();
      pool.shutdown(true);
    }  // and the destructor
    for (auto& f : fs) EXPECT_THROW(f.result(), spindle::RuntimeError);
  }
}

TEST(ThreadPoolExecutor, CallbacksMaySubmit) {
  spindle_test::Watchdog dog("callbacks submit");
  ThreadPoolExecutor pool(2);
  Future<int> second;
  std::atomic<bool> added{false};
  Future<int> first = pool.submit(square, 3);
  Future<int> chained;
  std::atomic<int> stage{0};
  first.add_done_callback([&](Future<int>& f) {
    chained = pool.submit(square, f.result());
    stage.store(1);
  });
  (void)first.result();
  spin_until([&] { return stage.load() == 1; });
  EXPECT_EQ(chained.result(), 81);
}

TEST(ThreadPoolExecutor, ShutdownFromACallbackDoesNotDeadlock) {
  spindle_test::Watchdog dog("shutdown in callback");
  ThreadPoolExecutor pool(1);
  Gate gate;
  auto blocker = pool.submit([&] { gate.wait(); });
  spin_until([&] { return blocker.running(); });
  auto queued = pool.submit(square, 1);
  std::atomic<bool> submit_threw{false};
  queued.add_done_callback([&](Future<int>&) {
    try {
      (void)pool.submit(square, 2);
    } catch (const spindle::RuntimeError&) {
      submit_threw = true;
    }
  });
  pool.shutdown(false, true);  // cancels `queued`; its callback submits
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(submit_threw.load());
  gate.open();
}

// ---- map ------------------------------------------------------------------

TEST(Map, C101_results_in_input_order) {
  spindle_test::Watchdog dog("map order");
  ThreadPoolExecutor pool(4);
  std::vector<int> in{5, 1, 4, 2, 3};
  std::vector<int> out;
  for (auto& r : pool.map(square, in)) out.push_back(r);
  EXPECT_EQ(out, (std::vector<int>{25, 1, 16, 4, 9}));
  std::vector<std::string> words{"a", "b", "c"};
  std::vector<std::string> joined;
  for (auto& r : pool.map([](const std::string& w, int n) { return w + std::to_string(n); }, words,
                          std::vector<int>{1, 2}))
    joined.push_back(r);
  EXPECT_EQ(joined, (std::vector<std::string>{"a1", "b2"}));  // zip stops at the shortest
}

TEST(Map, C101_exception_thrown_when_its_result_is_reached) {
  spindle_test::Watchdog dog("map exception");
  ThreadPoolExecutor pool(2);
  std::vector<int> got;
  auto results = pool.map(
      [](int x) {
        if (x == 2) throw std::domain_error("two");
        return x;
      },
      std::vector<int>{0, 1, 2, 3});
  auto it = results.begin();
  got.push_back(*it);
  ++it;
  got.push_back(*it);
  EXPECT_THROW(++it, std::domain_error);
  EXPECT_EQ(got, (std::vector<int>{0, 1}));
}

TEST(Map, C101_timeout_measured_from_the_call) {
  spindle_test::Watchdog dog("map timeout");
  Gate gate;
  ThreadPoolExecutor pool(1);
  auto results = pool.map(
      [&](int x) {
        gate.wait();
        return x;
      },
      std::vector<int>{1, 2}, spindle::MapOptions{.timeout = 1ms});
  EXPECT_THROW((void)results.begin(), spindle::TimeoutError);
  gate.open();
}

TEST(Map, C101_map_submits_without_iteration) {
  // CPython's test_map_submits_without_iteration (bpo-11777): a map whose
  // results are never iterated still runs every task.
  spindle_test::Watchdog dog("map without iteration");
  Gate gate;
  std::atomic<int> ran{0};
  ThreadPoolExecutor pool(1);
  auto blocker = pool.submit([&] { gate.wait(); });
  {
    auto results = pool.map(
        [&](int x) {
          ran.fetch_add(1);
          return x;
        },
        std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }  // dropped without begin()
  gate.open();
  pool.shutdown();
  EXPECT_EQ(ran.load(), 10);
}

TEST(Map, C101_dropping_a_started_range_cancels_undelivered) {
  spindle_test::Watchdog dog("map drop started");
  Gate gate;
  std::atomic<bool> second_running{false};
  std::vector<std::atomic<bool>> ran(4);
  ThreadPoolExecutor pool(1);
  {
    auto results = pool.map(
        [&](int x) {
          ran[static_cast<std::size_t>(x)].store(true);
          if (x == 1) {
            second_running.store(true);
            gate.wait();
          }
          return x;
        },
        std::vector<int>{0, 1, 2, 3});
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    spin_until([&] { return second_running.load(); });  // the worker is in task 1
  }  // dropped after delivering one result: 2 and 3 are cancelled
  gate.open();
  pool.shutdown();
  EXPECT_TRUE(ran[0].load());
  EXPECT_TRUE(ran[1].load());
  EXPECT_FALSE(ran[2].load());
  EXPECT_FALSE(ran[3].load());
}

TEST(Map, C101_an_exception_ends_the_range_and_cancels_the_rest_at_once) {
  // Python's generator: the exception (here TimeoutError) leaves it, its
  // finally cancels what was not delivered, and it is exhausted.
  spindle_test::Watchdog dog("map exception ends range");
  Gate gate;
  std::atomic<int> ran{0};
  ThreadPoolExecutor pool(1);
  auto blocker = pool.submit([&] { gate.wait(); });
  auto results = pool.map(
      [&](int x) {
        ran.fetch_add(1);
        return x;
      },
      std::vector<int>{1, 2, 3}, spindle::MapOptions{.timeout = 0s});
  EXPECT_THROW((void)results.begin(), spindle::TimeoutError);
  gate.open();
  pool.shutdown();  // the range is still alive: the tasks were cancelled by the exception
  EXPECT_EQ(ran.load(), 0);
}

TEST(Map, C101_iteration_after_a_task_exception_reaches_the_end) {
  InlineCountingExecutor ex;
  auto results = ex.map(
      [](int x) {
        if (x == 1) throw std::domain_error("one");
        return x;
      },
      std::vector<int>{0, 1, 2, 3});
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  EXPECT_THROW(++it, std::domain_error);
  ++it;
  EXPECT_TRUE(it == std::default_sentinel);
}

TEST(Map, C101_buffersize_submits_one_more_per_result_as_python_3_14) {
  InlineCountingExecutor ex;
  auto results = ex.map([](int x) { return x * 10; }, std::vector<int>{0, 1, 2, 3, 4, 5, 6},
                        spindle::MapOptions{.buffersize = 3});
  EXPECT_EQ(ex.scheduled.load(), 3);  // map() submits buffersize tasks
  int k = 0;
  for (auto& r : results) {
    // Each step submitted one more before waiting for result k.
    EXPECT_EQ(ex.scheduled.load(), std::min(7, 3 + k + 1)) << "result " << k;
    EXPECT_EQ(r, k * 10);
    ++k;
  }
  EXPECT_EQ(k, 7);
  EXPECT_EQ(ex.scheduled.load(), 7);
}

TEST(Map, C101_buffersize_range_dropped_submits_no_more) {
  InlineCountingExecutor ex;
  std::atomic<int> ran{0};
  auto f = [&](int x) {
    ran.fetch_add(1);
    return x;
  };
  { auto unstarted = ex.map(f, std::vector<int>(10, 1), spindle::MapOptions{.buffersize = 2}); }
  EXPECT_EQ(ex.scheduled.load(), 2);
  EXPECT_EQ(ran.load(), 2);
  {
    auto started = ex.map(f, std::vector<int>(10, 1), spindle::MapOptions{.buffersize = 2});
    (void)started.begin();
  }
  EXPECT_EQ(ex.scheduled.load(), 5);
  EXPECT_EQ(ran.load(), 5);
}

TEST(Map, C101_buffersize_below_one_is_ValueError) {
  InlineCountingExecutor ex;
  for (long bad : {0L, -1L}) {
    try {
      (void)ex.map(square, std::vector<int>{1}, spindle::MapOptions{.buffersize = bad});
      FAIL() << bad;
    } catch (const spindle::ValueError& e) {
      EXPECT_STREQ(e.what(), "buffersize must be None or > 0");
    }
  }
  EXPECT_EQ(ex.scheduled.load(), 0);
}

TEST(Map, C101_negative_timeout_acts_as_zero) {
  spindle_test::Watchdog dog("map negative timeout");
  Gate gate;
  ThreadPoolExecutor pool(1);
  auto blocker = pool.submit([&] { gate.wait(); });
  auto results = pool.map(square, std::vector<int>{1, 2}, spindle::MapOptions{.timeout = -1s});
  EXPECT_THROW((void)results.begin(), spindle::TimeoutError);
  gate.open();
  InlineCountingExecutor ex;  // results ready at once: a negative timeout still delivers them
  int n = 0;
  for (auto& r : ex.map(square, std::vector<int>{1, 2}, spindle::MapOptions{.timeout = -1s})) {
    n += r;
  }
  EXPECT_EQ(n, 5);
}

TEST(Map, C101_buffersize_bounds_tasks_submitted_ahead) {
  spindle_test::Watchdog dog("map buffersize");
  std::atomic<int> ran{0};
  ThreadPoolExecutor pool(2);
  {
    auto results = pool.map(
        [&](int x) {
          ran.fetch_add(1);
          return x;
        },
        std::vector<int>(100, 1), spindle::MapOptions{.buffersize = 2});
    auto it = results.begin();  // submits a third, consumes the first
    EXPECT_EQ(*it, 1);
  }
  pool.shutdown();
  EXPECT_LE(ran.load(), 3);
}

TEST(Map, C101_buffersize_consumes_everything_lazily) {
  spindle_test::Watchdog dog("map buffersize all");
  ThreadPoolExecutor pool(3);
  long sum = 0;
  for (auto& r : pool.map(square, std::vector<int>{1, 2, 3, 4, 5, 6, 7},
                          spindle::MapOptions{.buffersize = 3}))
    sum += r;
  EXPECT_EQ(sum, 140);
}

TEST(Map, WaitAndAsCompletedOnPoolFutures) {
  spindle_test::Watchdog dog("pool wait");
  ThreadPoolExecutor pool(4);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(pool.submit(square, i));
  auto [done, not_done] = spindle::wait(fs);
  EXPECT_EQ(done.size(), 50u);
  EXPECT_TRUE(not_done.empty());
  std::vector<Future<int>> more;
  for (int i = 0; i < 50; ++i) more.push_back(pool.submit(square, i));
  long sum = 0;
  for (auto& f : spindle::as_completed(more)) sum += f.result();
  EXPECT_EQ(sum, 40425);
}

// ---- fork ---------------------------------------------------------------

TEST(ThreadPoolExecutor, ForkedChildSubmitsToAPoolCreatedInTheParent) {
  // The parent's pool has an idle worker (Python's child then hangs on
  // submit). The child's pool starts a fresh worker, runs the task, and is
  // destroyed; the child ends with _exit.
  AlarmGuard hang_guard(120);
  std::optional<ThreadPoolExecutor> pool;
  pool.emplace(spindle::ThreadPoolOptions{.max_workers = 2, .thread_name_prefix = "forked"});
  ASSERT_EQ(pool->submit(square, 2).result(), 4);
  wait_until_parked("forked_0");
  const int status = run_in_child([&] {
    if (pool->num_threads() != 0) return 10;
    if (pool->submit(square, 7).result() != 49) return 11;
    if (pool->num_threads() != 1) return 12;
    if (pool->submit([] { return spindle::current_thread().name(); })
            .result()
            .rfind("forked_", 0) != 0)
      return 13;
    pool.reset();
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
  EXPECT_EQ(pool->submit(square, 3).result(), 9);  // the parent's pool is untouched
  EXPECT_EQ(pool->num_threads(), 1);
  pool.reset();
}

TEST(ThreadPoolExecutor, ForkedChildDoesNotRunTheParentsQueuedTasks) {
  // A task queued at the fork is the parent's: the parent runs it; the
  // child cancels its copy of the future at its first submit.
  AlarmGuard hang_guard(120);
  Gate gate;
  std::atomic<int> ran_queued{0};
  ThreadPoolExecutor pool(1);
  auto blocker = pool.submit([&] { gate.wait(); });
  spin_until([&] { return blocker.running(); });
  auto queued = pool.submit([&] {
    ran_queued.fetch_add(1);
    return 1;
  });
  const int status = run_in_child([&] {
    if (queued.done()) return 10;
    if (pool.submit(square, 5).result() != 25) return 11;
    if (!queued.cancelled()) return 12;
    try {
      (void)queued.result();
      return 13;
    } catch (const spindle::CancelledError&) {
    }
    if (ran_queued.load() != 0) return 14;
    pool.shutdown(true);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
  gate.open();
  EXPECT_EQ(queued.result(), 1);
  EXPECT_EQ(ran_queued.load(), 1);
}

TEST(ThreadPoolExecutor, ForkedChildCancelsTheTasksQueuedByTheParentsTasks) {
  // Tasks a parent worker's task queued in its own queue are the parent's
  // as well: the parent runs them; the child cancels its copies.
  AlarmGuard hang_guard(120);
  Gate gate;
  std::atomic<int> ran{0};
  ThreadPoolExecutor pool(2);
  std::latch all(2);
  std::vector<Future<void>> warm;
  for (int i = 0; i < 2; ++i) warm.push_back(pool.submit([&] { all.arrive_and_wait(); }));
  for (auto& f : warm) f.result();
  std::atomic<bool> queued{false};
  std::vector<Future<int>> kids;
  auto other = pool.submit([&] { gate.wait(); });
  auto parent = pool.submit([&] {
    for (int i = 0; i < 3; ++i) {
      kids.push_back(pool.submit([&ran, i] {
        ran.fetch_add(1);
        return i;
      }));
    }
    queued.store(true);
    gate.wait();
  });
  spin_until([&] { return queued.load(); });
  const int status = run_in_child([&] {
    if (pool.submit(square, 5).result() != 25) return 11;
    for (auto& k : kids) {
      if (!k.cancelled()) return 12;
    }
    if (ran.load() != 0) return 13;
    pool.shutdown(true);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
  gate.open();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(kids[static_cast<std::size_t>(i)].result(), i);
  EXPECT_EQ(ran.load(), 3);
}

TEST(ThreadPoolExecutor, ForkInsideATaskKeepsTheForkingWorkerInTheChild) {
  // The forking worker exists in the child (it is the child's only thread):
  // the child's pool counts it and starts one fresh worker beside it.
  AlarmGuard hang_guard(120);
  ThreadPoolExecutor pool(2);
  auto outer = pool.submit([&pool] {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(60);
      int code = 0;
      if (pool.num_threads() != 1) code = 10;
      try {
        if (code == 0 && pool.submit(square, 4).result() != 16) code = 11;
        if (code == 0 && pool.num_threads() != 2) code = 12;
      } catch (...) {
        code = 13;
      }
      _exit(code);
    }
    return pid;
  });
  const pid_t pid = outer.result();
  ASSERT_GT(pid, 0);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

// The child exits through exit(0): the thread layer's reset of its registry
// in the child keeps the exit-time join from waiting for the parent's
// workers, which do not exist there.
TEST(ThreadPoolExecutor, ForkedChildExitsNormallyAfterUsingThePool) {
  AlarmGuard hang_guard(120);
  std::optional<ThreadPoolExecutor> pool;
  pool.emplace(2);
  ASSERT_EQ(pool->submit(square, 2).result(), 4);
  const int status = run_in_child(
      [&] {
        if (pool->submit(square, 7).result() != 49) return 11;
        pool.reset();
        return 0;
      },
      /*use_exit=*/true);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
  pool.reset();
}

// ---------------------------------------------------------------- the executor-writer API

TEST(ExecutorApi, TaskRunCompletesTheFutureWithTheValueAndEmptiesTheHandle) {
  HoldingExecutor ex;
  spindle::Future<int> f = ex.submit([](int a) { return a * 2; }, 21);
  ASSERT_EQ(ex.tasks.size(), 1u);
  EXPECT_FALSE(f.done());
  EXPECT_TRUE(ex.tasks[0].run());
  EXPECT_FALSE(static_cast<bool>(ex.tasks[0]));
  EXPECT_EQ(f.result(), 42);
  EXPECT_THROW((void)ex.tasks[0].run(), spindle::InvalidStateError);
}

TEST(ExecutorApi, TaskRunPutsTheCallablesExceptionInTheFuture) {
  HoldingExecutor ex;
  auto f = ex.submit([]() -> int { throw spindle::ValueError("bad input"); });
  EXPECT_TRUE(ex.tasks[0].run());
  EXPECT_THROW((void)f.result(), spindle::ValueError);
}

TEST(ExecutorApi, TaskOfACancelledFutureDoesNotRun) {
  HoldingExecutor ex;
  bool ran = false;
  auto f = ex.submit([&ran] { ran = true; });
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(ex.tasks[0].cancelled());
  EXPECT_FALSE(ex.tasks[0].run());
  EXPECT_FALSE(ran);
  EXPECT_THROW(f.result(), spindle::CancelledError);
}

TEST(ExecutorApi, TaskFailGivesThePendingFutureTheException) {
  HoldingExecutor ex;
  auto f = ex.submit([] { return 1; });
  EXPECT_TRUE(ex.tasks[0].fail(std::make_exception_ptr(spindle::BrokenThreadPool("broken"))));
  EXPECT_THROW((void)f.result(), spindle::BrokenThreadPool);
  auto g = ex.submit([] { return 2; });
  EXPECT_THROW((void)ex.tasks[1].fail(nullptr), spindle::ValueError);
  EXPECT_TRUE(static_cast<bool>(ex.tasks[1]));  // unchanged: it can still run
  EXPECT_TRUE(ex.tasks[1].run());
  EXPECT_EQ(g.result(), 2);
}

TEST(ExecutorApi, ATaskDroppedUnrunCancelsItsFutureSoNobodyWaitsForever) {
  HoldingExecutor ex;
  auto f = ex.submit([] { return 1; });
  ex.tasks.clear();
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW((void)f.result(), spindle::CancelledError);
}

TEST(ExecutorApi, AScheduleThatThrowsReachesTheSubmitter) {
  HoldingExecutor ex;
  ex.refuse = true;
  EXPECT_THROW((void)ex.submit([] { return 1; }), spindle::RuntimeError);
}

TEST(ExecutorApi, TasksRunOnAnotherThreadCompleteTheirFuturesAndMapWorks) {
  HoldingExecutor ex;
  auto results = ex.map([](int x) { return x + 1; }, std::vector<int>{1, 2, 3});
  std::thread runner([&ex] {
    for (auto& t : ex.tasks) t.run();
  });
  runner.join();
  std::vector<int> got;
  for (int r : results) got.push_back(r);
  EXPECT_EQ(got, (std::vector<int>{2, 3, 4}));
}
