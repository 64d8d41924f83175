// Many-thread runs of ThreadPoolExecutor and futures. Sizes are full in
// release, a tenth under sanitizers (spindle_test::scaled).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/futures.hpp"
#include "spindle/queue.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using spindle::Future;
using spindle::ThreadPoolExecutor;

#if defined(__SANITIZE_THREAD__)
// The fork test starts threads in a child of a multithreaded process, which
// ThreadSanitizer refuses by default.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif

namespace {

int os_thread_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

// A joined thread may take a moment to leave /proc after its body returned;
// poll (bounded by the test's watchdog) rather than sleep.
void expect_os_threads_back_to(int baseline) {
  while (os_thread_count() > baseline) std::this_thread::yield();
  EXPECT_EQ(os_thread_count(), baseline);
}

void tiny_tasks(int max_workers) {
  spindle_test::Watchdog dog("tiny tasks, max_workers=" + std::to_string(max_workers),
                             std::chrono::seconds(600));
  const long n = spindle_test::scaled(1'000'000);
  const std::size_t threads_before = spindle::active_count();
  const int os_before = os_thread_count();
  std::vector<Future<long>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  {
    ThreadPoolExecutor pool(max_workers);
    for (long i = 0; i < n; ++i) fs.push_back(pool.submit([i] { return i; }));
    long sum = 0;
    for (auto& f : fs) sum += f.result();
    EXPECT_EQ(sum, n * (n - 1) / 2);
    EXPECT_LE(pool.num_threads(), max_workers);
    pool.shutdown();
  }
  for (auto& f : fs) ASSERT_TRUE(f.done());
  EXPECT_EQ(spindle::active_count(), threads_before);
  expect_os_threads_back_to(os_before);
}

// Forks `forks` times, each time once the pool has made progress (`steps`
// moved), so that forks land in every part of submit(), of the workers'
// loop and of what the tasks do. Each child runs `child` (its exit code; an
// exception is 3) under an alarm; a child that fails ends the loop.
void fork_while_busy(std::atomic<long>& steps, long forks, const std::function<int()>& child) {
  for (long i = 0; i < forks; ++i) {
    const long before = steps.load();
    while (steps.load() == before) std::this_thread::yield();  // the pool is busy
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      return;
    }
    if (pid == 0) {
      alarm(60);
      int code = 3;
      try {
        code = child();
      } catch (...) {
      }
      _exit(code);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      ADD_FAILURE() << "fork " << i << ": status " << status;
      return;  // and the caller stops the pool: its tasks use the caller's frame
    }
  }
}

}  // namespace

TEST(FuturesStress, MillionTinyTasks1Worker) {
  tiny_tasks(1);
}
TEST(FuturesStress, MillionTinyTasks4Workers) {
  tiny_tasks(4);
}
TEST(FuturesStress, MillionTinyTasks32Workers) {
  tiny_tasks(32);
}

TEST(FuturesStress, ShutdownWithCancelFuturesRacingSubmit) {
  spindle_test::Watchdog dog("shutdown racing submit", std::chrono::seconds(600));
  const long rounds = spindle_test::scaled(200, 2000);
  for (long round = 0; round < rounds; ++round) {
    ThreadPoolExecutor pool(4);
    std::atomic<bool> go{false};
    std::vector<std::vector<Future<int>>> got(3);
    std::vector<std::thread> submitters;
    for (int s = 0; s < 3; ++s) {
      submitters.emplace_back([&, s] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < 1000; ++i) {
          try {
            got[static_cast<std::size_t>(s)].push_back(pool.submit([i] { return i; }));
          } catch (const spindle::RuntimeError&) {
            return;  // shut down: every later submit throws too
          }
        }
      });
    }
    go.store(true);
    pool.shutdown(true, true);
    for (auto& t : submitters) t.join();
    // Every future the submitters got is finished or cancelled, never lost.
    for (auto& v : got) {
      for (auto& f : v) {
        ASSERT_TRUE(f.done());
        if (!f.cancelled()) (void)f.result();
      }
    }
  }
}

TEST(FuturesStress, CallbacksThatSubmit) {
  spindle_test::Watchdog dog("callbacks that submit", std::chrono::seconds(600));
  const int chains = static_cast<int>(spindle_test::scaled(2000));
  constexpr int kDepth = 10;
  std::atomic<long> finished{0};
  {
    ThreadPoolExecutor pool(4);
    std::function<void(int)> step = [&](int depth) {
      auto f = pool.submit([depth] { return depth; });
      f.add_done_callback([&](Future<int>& g) {
        const int d = g.result();
        if (d + 1 < kDepth) {
          step(d + 1);
        } else {
          finished.fetch_add(1);
        }
      });
    };
    for (int c = 0; c < chains; ++c) step(0);
    while (finished.load() < chains) std::this_thread::yield();
  }
  EXPECT_EQ(finished.load(), chains);
}

TEST(FuturesStress, DestroyAPool10000Times) {
  spindle_test::Watchdog dog("destroy pools", std::chrono::seconds(600));
  const long n = spindle_test::scaled(10'000);
  const std::size_t before = spindle::active_count();
  long sum = 0;
  for (long i = 0; i < n; ++i) {
    ThreadPoolExecutor pool(static_cast<int>(i % 3) + 1);
    if (i % 2 == 0) {
      auto f = pool.submit([i] { return i; });
      auto g = pool.submit([i] { return i; });
      sum += f.result() - g.result();
    }
  }
  EXPECT_EQ(sum, 0);
  EXPECT_EQ(spindle::active_count(), before);
}

TEST(FuturesStress, AsCompletedAndWaitUnderLoad) {
  spindle_test::Watchdog dog("as_completed under load", std::chrono::seconds(600));
  const long n = spindle_test::scaled(100'000);
  ThreadPoolExecutor pool(4);
  std::vector<Future<long>> fs;
  for (long i = 0; i < n; ++i) fs.push_back(pool.submit([i] { return i; }));
  long sum = 0;
  for (auto& f : spindle::as_completed(fs)) sum += f.result();
  EXPECT_EQ(sum, n * (n - 1) / 2);
  auto [done, not_done] = spindle::wait(fs, spindle::FIRST_EXCEPTION);
  EXPECT_EQ(done.size(), static_cast<std::size_t>(n));
  EXPECT_TRUE(not_done.empty());
}

TEST(FuturesStress, ForkWhileAPoolResubmitsItself) {
  // CPython's test_hang_global_shutdown_lock (bpo-45021), and more: a pool
  // whose task keeps submitting itself, so forks land in every part of
  // submit() and of the workers' loop. Each child must be able to use the
  // pool (fresh worker, task result) and leave; an alarm turns a hang into
  // a failure.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A fork lands while another thread is inside the sanitizer's allocator,
  // whose lock g++ 12's runtimes do not hold across fork(): the child's
  // first allocation (starting a worker) then waits forever. CPython skips
  // its fork tests under TSan for the same kind of reason.
  GTEST_SKIP() << "the sanitizer runtime's allocator is not fork-safe while other threads allocate";
#endif
  spindle_test::Watchdog dog("fork while resubmitting", std::chrono::seconds(600));
  const long forks = spindle_test::scaled(50, 500);
  ThreadPoolExecutor pool(2);
  std::atomic<bool> stop{false};
  std::atomic<long> steps{0};
  std::function<void()> resubmit = [&] {
    steps.fetch_add(1);
    if (stop.load()) return;
    try {
      (void)pool.submit(resubmit);
    } catch (const spindle::RuntimeError&) {
    }
  };
  (void)pool.submit(resubmit);
  (void)pool.submit(resubmit);
  fork_while_busy(steps, forks, [&] {
    stop.store(true);  // the child's copies of queued tasks must not resubmit
    if (pool.submit([] { return 6 * 7; }).result() != 42) return 1;
    pool.shutdown(true);
    return 0;
  });
  stop.store(true);
  pool.shutdown(true);
}

namespace {
// A parallel sum of [lo, hi): the left half a task, waited for untimed.
long fan_out(ThreadPoolExecutor& pool, long lo, long hi) {
  if (hi - lo <= 4) {
    long s = 0;
    for (long i = lo; i < hi; ++i) s += i;
    return s;
  }
  const long mid = lo + (hi - lo) / 2;
  auto left = pool.submit([&pool, lo, mid] { return fan_out(pool, lo, mid); });
  const long right = fan_out(pool, mid, hi);
  return right + left.result();
}
}  // namespace

TEST(FuturesStress, FanOutFromTasksAndOutsideThreadsAtOnce) {
  // Three outside threads each start fan-outs on one pool while a fourth
  // floods it with tiny tasks: the workers' rings, stealing, batches taken
  // from the shared queue and untimed waits all at once. Every sum exact.
  spindle_test::Watchdog dog("fan-out under load", std::chrono::seconds(600));
  const long n = spindle_test::scaled(20'000);
  const int rounds = static_cast<int>(spindle_test::scaled(20, 200));
  for (int workers : {2, 4}) {
    ThreadPoolExecutor pool(workers);
    std::atomic<bool> stop{false};
    std::atomic<long> tiny{0};
    std::thread flood([&] {
      std::vector<Future<void>> fs;
      while (!stop.load()) {
        fs.push_back(pool.submit([&] { tiny.fetch_add(1); }));
        if (fs.size() == 1000) {
          for (auto& f : fs) f.result();
          fs.clear();
        }
      }
      for (auto& f : fs) f.result();
    });
    std::vector<std::thread> outside;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 3; ++t) {
      outside.emplace_back([&] {
        for (int r = 0; r < rounds; ++r) {
          auto top = pool.submit([&pool, n] { return fan_out(pool, 0, n); });
          if (top.result() != n * (n - 1) / 2) wrong.fetch_add(1);
        }
      });
    }
    for (auto& t : outside) t.join();
    stop.store(true);
    flood.join();
    EXPECT_EQ(wrong.load(), 0) << workers << " workers";
    EXPECT_GT(tiny.load(), 0);
  }
}

TEST(FuturesStress, ShutdownWithCancelFuturesRacingTasksThatSubmit) {
  // Tasks keep submitting into their workers' own queues while another
  // thread shuts the pool down with cancel_futures: every future a task got
  // ends finished or cancelled (none lost, none left pending), and a
  // cancelled one never ran.
  spindle_test::Watchdog dog("cancel_futures racing tasks' submits", std::chrono::seconds(600));
  const long rounds = spindle_test::scaled(200, 1000);
  for (long round = 0; round < rounds; ++round) {
    ThreadPoolExecutor pool(3);
    std::vector<std::vector<std::pair<Future<void>, std::shared_ptr<std::atomic<bool>>>>> got(3);
    std::atomic<int> started{0};
    std::vector<Future<void>> parents;
    for (int p = 0; p < 3; ++p) {
      parents.push_back(pool.submit([&, p] {
        started.fetch_add(1);
        auto& mine = got[static_cast<std::size_t>(p)];
        for (int i = 0; i < 2000; ++i) {
          auto ran = std::make_shared<std::atomic<bool>>(false);
          try {
            mine.emplace_back(pool.submit([ran] { ran->store(true); }), ran);
          } catch (const spindle::RuntimeError&) {
            return;
          }
        }
      }));
    }
    while (started.load() < 3) std::this_thread::yield();
    pool.shutdown(true, true);
    for (auto& v : got) {
      for (auto& [f, ran] : v) {
        ASSERT_TRUE(f.done());
        if (f.cancelled()) {
          ASSERT_FALSE(ran->load());
        } else {
          ASSERT_TRUE(ran->load());
        }
      }
    }
  }
}

TEST(FuturesStress, FutureBlocksAreReusedAcrossThreadsAndThreadExits) {
  // Futures made on one thread and dropped on another, by threads that come
  // and go: the blocks are reused, so a steady stream keeps memory flat.
  spindle_test::Watchdog dog("future blocks reused", std::chrono::seconds(600));
  auto resident_kib = [] {
    long pages = 0;
    long resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
      std::fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
  };
  const long per_round = spindle_test::scaled(200'000);
  [[maybe_unused]] long baseline = 0;  // unused under ASan (see the end)
  for (int round = 0; round < 6; ++round) {
    spindle::Queue<std::vector<Future<int>>> handoff(4);
    std::thread maker([&] {
      for (long made = 0; made < per_round; made += 1000) {
        std::vector<Future<int>> batch;
        for (int i = 0; i < 1000; ++i) {
          Future<int> f;
          f.set_result(i);
          batch.push_back(std::move(f));
        }
        handoff.put(std::move(batch));
      }
      handoff.put({});
    });
    std::thread dropper([&] {
      for (;;) {
        auto batch = handoff.get();
        if (batch.empty()) break;
        long sum = 0;
        for (auto& f : batch) sum += f.result();
        EXPECT_EQ(sum, 999 * 1000 / 2);
      }
    });
    maker.join();
    dropper.join();
    if (round == 1) baseline = resident_kib();
  }
#if !defined(__SANITIZE_ADDRESS__)
  // After the first rounds, the later ones reuse blocks (ASan's quarantine
  // holds freed memory back on purpose, so it is not measured there).
  EXPECT_LT(resident_kib() - baseline, 16 * 1024) << "resident memory grew by KiB";
#endif
}

TEST(FuturesStress, ForkWhileTasksFanOutAndAnOutsideThreadSubmits) {
  // Forks land while a worker moves a batch from the shared queue to its
  // ring, while tasks push to and take back from their rings, while an
  // outside thread submits: each child cancels the parent's queued tasks
  // and can use the pool; the parent's sums stay exact.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime's allocator is not fork-safe while other threads allocate";
#endif
  spindle_test::Watchdog dog("fork while fanning out", std::chrono::seconds(600));
  const long forks = spindle_test::scaled(50, 300);
  ThreadPoolExecutor pool(3);
  std::atomic<bool> stop{false};
  std::atomic<long> steps{0};
  std::atomic<int> wrong{0};
  std::thread outside([&] {
    while (!stop.load()) {
      std::vector<Future<long>> fs;
      for (int i = 0; i < 200; ++i) fs.push_back(pool.submit([i] { return long{i}; }));
      long s = 0;
      for (auto& f : fs) s += f.result();
      if (s != 199 * 200 / 2) wrong.fetch_add(1);
      steps.fetch_add(1);
    }
  });
  std::thread fanning([&] {
    while (!stop.load()) {
      auto top = pool.submit([&pool] { return fan_out(pool, 0, 2000); });
      if (top.result() != 2000L * 1999 / 2) wrong.fetch_add(1);
      steps.fetch_add(1);
    }
  });
  fork_while_busy(steps, forks, [&] {
    if (pool.submit([] { return 6 * 7; }).result() != 42) return 1;
    if (pool.submit([&pool] { return fan_out(pool, 0, 100); }).result() != 4950) return 2;
    pool.shutdown(true, true);
    return 0;
  });
  stop.store(true);
  outside.join();
  fanning.join();
  EXPECT_EQ(wrong.load(), 0);
  pool.shutdown(true);
}
