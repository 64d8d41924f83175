// The MPIPoolExecutor tests, written once and compiled twice: by
// mpi_test.cpp, which runs under mpirun with real worker ranks, and by
// loopback_test.cpp, whose workers are threads of the test process (the
// same client and worker loop over an in-memory wire, so that the client's
// threads run under LeakSanitizer and under ThreadSanitizer without Open
// MPI in the process). The test
// names are the same in both programs; CTest names the loopback ones
// "loopback.MPIPoolExecutor.*".
//
// Task functions are plain functions: they cross to the workers by address.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/event.hpp"
#include "spindle/futures.hpp"
#include "spindle/mpi.hpp"
#include "spindle/process.hpp"
#include "support.hpp"

namespace mpi_scenarios {

using spindle::Future;
using spindle::FutureBase;
using spindle::mpi::MPIMapOptions;
using spindle::mpi::MPIPoolExecutor;
using spindle_test::Watchdog;

long square(long x) {
  return x * x;
}
long identity(long x) {
  return x;
}
void nothing() {}
long my_pid() {
  return static_cast<long>(::getpid());
}
std::string repeat(std::string s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}
long add3(long a, long b, long c) {
  return a + b + c;
}
std::vector<unsigned char> echo(std::vector<unsigned char> v) {
  return v;
}
std::size_t size_of(std::vector<unsigned char> v) {
  return v.size();
}
std::vector<unsigned char> make_bytes(std::size_t n) {
  std::vector<unsigned char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>(i * 7 + 3);
  return v;
}
long throws_out_of_range(long) {
  throw std::out_of_range("index 7 is out of range");
}
long throws_value_error(long) {
  throw spindle::ValueError("bad value");
}
struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
long throws_parse_error(long) {
  throw ParseError("line 3: unexpected token");
}
long fails_on_5(long x) {
  if (x == 5) throw std::invalid_argument("five");
  return x;
}

// A task that holds its worker until the file `gate` exists (tests open the
// gate once they have checked what must hold while tasks are blocked). The
// polling is the task's way to wait across processes; a missing gate fails
// after 120 s rather than hanging.
long wait_for_gate(std::string gate, long value) {
  for (int i = 0; i < 120'000; ++i) {
    if (std::filesystem::exists(gate)) return value;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  throw std::runtime_error("gate never opened: " + gate);
}

long pid_after_gate(std::string gate) {
  return wait_for_gate(std::move(gate), 0) + my_pid();
}

// A unique path for a gate file, not created yet.
inline std::string new_gate() {
  static std::atomic<int> n{0};
  return (std::filesystem::temp_directory_path() /
          ("spindle-mpi-gate-" + std::to_string(::getpid()) + "-" + std::to_string(n++)))
      .string();
}
inline void open_gate(const std::string& gate) {
  std::ofstream(gate) << "open\n";
}

// Every task of the test runs on a worker; skip when there are none.
#define SPINDLE_NEEDS_WORKERS()                                               \
  do {                                                                        \
    if (spindle::mpi::worker_count() == 0) GTEST_SKIP() << "no worker ranks"; \
  } while (0)

TEST(MPIPoolExecutor, submit_runs_the_function_on_a_worker_and_returns_its_result) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("submit");
  MPIPoolExecutor pool;
  EXPECT_EQ(pool.num_workers(), spindle::mpi::worker_count());
  Future<long> f = pool.submit(square, 12L);
  EXPECT_EQ(f.result(), 144);
  EXPECT_EQ(pool.submit(repeat, "ab", 3).result(), "ababab");
  EXPECT_EQ(pool.submit(add3, 1, 2, 3).result(), 6);
  Future<void> v = pool.submit(nothing);
  v.result();
  EXPECT_TRUE(v.done());
  EXPECT_EQ(pool.submit([](int x) { return x + 1; }, 41).result(), 42);
}

TEST(MPIPoolExecutor, tasks_are_spread_over_every_worker_rank) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("spread");
  MPIPoolExecutor pool;
  // Tasks that hold their worker until the gate opens: a worker takes at
  // most 64 before the next one gets any, so this many reach every worker.
  const std::string gate = new_gate();
  std::vector<Future<long>> fs;
  for (long i = 0; i < 64L * pool.num_workers() + 1; ++i)
    fs.push_back(pool.submit(pid_after_gate, gate));
  open_gate(gate);
  std::set<long> pids;
  for (auto& f : fs) pids.insert(f.result());
#if defined(SPINDLE_MPI_LOOPBACK)
  EXPECT_EQ(pids, std::set<long>{my_pid()});  // worker threads of this process
#else
  EXPECT_EQ(pids.size(), static_cast<std::size_t>(pool.num_workers()));
  EXPECT_EQ(pids.count(my_pid()), 0u);  // never the client
#endif
  std::filesystem::remove(gate);
}

TEST(MPIPoolExecutor, ten_thousand_tiny_tasks_sum_exactly) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("10k tasks");
  MPIPoolExecutor pool;
  const long n = 10'000;
  std::vector<Future<long>> fs;
  fs.reserve(n);
  for (long i = 0; i < n; ++i) fs.push_back(pool.submit(identity, i));
  long sum = 0;
  for (auto& f : fs) sum += f.result();
  EXPECT_EQ(sum, n * (n - 1) / 2);
}

TEST(MPIPoolExecutor, map_with_chunksize_keeps_input_order) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("map");
  MPIPoolExecutor pool;
  std::vector<long> in(10'000);
  std::iota(in.begin(), in.end(), 0L);
  for (long chunksize : {1L, 7L, 1000L, 20'000L}) {
    long i = 0;
    long sum = 0;
    for (long r : pool.map(square, in, MPIMapOptions{.chunksize = chunksize})) {
      EXPECT_EQ(r, i * i);
      sum += r;
      ++i;
    }
    EXPECT_EQ(i, 10'000) << "chunksize " << chunksize;
  }
  // Zipped ranges stop at the shortest.
  std::vector<long> a{1, 2, 3, 4};
  std::vector<long> b{10, 20, 30};
  std::vector<long> c{100, 200, 300, 400};
  std::vector<long> got;
  for (long r : pool.map(add3, a, b, c)) got.push_back(r);
  EXPECT_EQ(got, (std::vector<long>{111, 222, 333}));
}

TEST(MPIPoolExecutor, map_rejects_a_chunksize_below_one) {
  SPINDLE_NEEDS_WORKERS();
  MPIPoolExecutor pool;
  std::vector<long> in{1, 2};
  EXPECT_THROW((void)pool.map(square, in, MPIMapOptions{.chunksize = 0}), spindle::ValueError);
}

TEST(MPIPoolExecutor, C101_map_rethrows_a_task_exception_when_its_result_is_reached) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("map exception");
  MPIPoolExecutor pool;
  std::vector<long> in{0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<long> got;
  auto results = pool.map(fails_on_5, in, MPIMapOptions{.chunksize = 2});
  try {
    for (long r : results) got.push_back(r);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "five");
  }
  EXPECT_EQ(got, (std::vector<long>{0, 1, 2, 3}));  // the chunk {4, 5} throws before 4
}

TEST(MPIPoolExecutor, standard_and_spindle_exceptions_keep_their_type) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("exceptions");
  MPIPoolExecutor pool;
  Future<long> a = pool.submit(throws_out_of_range, 1L);
  Future<long> b = pool.submit(throws_value_error, 1L);
  try {
    a.result();
    ADD_FAILURE() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index 7 is out of range");
  }
  EXPECT_THROW(b.result(), spindle::ValueError);
  EXPECT_NE(a.exception(), nullptr);
}

TEST(MPIPoolExecutor, other_exception_types_arrive_as_RemoteError_naming_the_type) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("RemoteError");
  MPIPoolExecutor pool;
  Future<long> f = pool.submit(throws_parse_error, 1L);
  try {
    f.result();
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RemoteError& e) {
    EXPECT_NE(e.type_name().find("ParseError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.message(), "line 3: unexpected token");
    EXPECT_GT(e.pid(), 0);
  }
  // Still a std::runtime_error for code that catches the base.
  EXPECT_THROW(pool.submit(throws_parse_error, 2L).result(), std::runtime_error);
}

TEST(MPIPoolExecutor, large_arguments_and_results_cross_intact) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("large");
  MPIPoolExecutor pool;
  const std::vector<unsigned char> big =
      make_bytes(static_cast<std::size_t>(spindle_test::scaled(40L << 20)));
  Future<std::vector<unsigned char>> back = pool.submit(echo, big);
  Future<std::size_t> size = pool.submit(size_of, big);
  // Large and small tasks interleaved keep their order on each worker.
  std::vector<Future<long>> small;
  for (long i = 0; i < 100; ++i) small.push_back(pool.submit(square, i));
  EXPECT_EQ(size.result(), big.size());
  EXPECT_TRUE(back.result() == big);
  for (long i = 0; i < 100; ++i) EXPECT_EQ(small[static_cast<std::size_t>(i)].result(), i * i);
  // A large result of a small call.
  EXPECT_EQ(pool.submit(make_bytes, std::size_t{3} << 20).result(),
            make_bytes(std::size_t{3} << 20));
}

TEST(MPIPoolExecutor, C91_C92_submit_after_shutdown_throws_and_shutdown_twice_is_allowed) {
  SPINDLE_NEEDS_WORKERS();
  MPIPoolExecutor pool;
  Future<long> f = pool.submit(square, 3L);
  pool.shutdown();
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 9);
  try {
    (void)pool.submit(square, 3L);
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
  pool.shutdown();
  pool.shutdown(false, true);
}

// gh-119592: shutdown(wait=false) never strands work.
TEST(MPIPoolExecutor, shutdown_without_waiting_still_runs_every_task) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("shutdown nowait");
  std::vector<Future<long>> fs;
  {
    MPIPoolExecutor pool;
    for (long i = 0; i < 500; ++i) fs.push_back(pool.submit(square, i));
    pool.shutdown(false);
  }
  for (long i = 0; i < 500; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i * i);
}

// The client keeps at most 64 tasks on each worker; every task here holds
// its worker until the gate opens, so everything past 64 per worker is
// still queued when shutdown(cancel_futures=true) runs.
TEST(MPIPoolExecutor, C93_shutdown_cancel_futures_cancels_what_has_not_been_dispatched) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("cancel_futures");
  MPIPoolExecutor pool;
  const std::string gate = new_gate();
  const long n = 64L * pool.num_workers() + 50;
  std::vector<Future<long>> fs;
  for (long i = 0; i < n; ++i) fs.push_back(pool.submit(wait_for_gate, gate, i));
  pool.shutdown(false, true);
  open_gate(gate);
  pool.shutdown(true);
  long cancelled = 0;
  for (long i = 0; i < n; ++i) {
    Future<long>& f = fs[static_cast<std::size_t>(i)];
    ASSERT_TRUE(f.done());
    if (f.cancelled()) {
      ++cancelled;
    } else {
      EXPECT_EQ(f.result(), i);
    }
  }
  EXPECT_GE(cancelled, 50);
  EXPECT_TRUE(fs.back().cancelled());  // the last one was certainly still queued
  std::filesystem::remove(gate);
}

TEST(MPIPoolExecutor, C96_cancel_stops_a_queued_task_and_not_a_running_one) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("cancel");
  MPIPoolExecutor pool;
  const std::string gate = new_gate();
  const long n = 64L * pool.num_workers() + 2;
  std::vector<Future<long>> fs;
  for (long i = 0; i < n; ++i) fs.push_back(pool.submit(wait_for_gate, gate, i));
  // The first task is dispatched at once (and counts as running from then).
  while (!fs.front().running() && !fs.front().done()) std::this_thread::yield();
  EXPECT_FALSE(fs.front().cancel());
  EXPECT_TRUE(fs.back().cancel());
  EXPECT_TRUE(fs.back().cancel());  // already cancelled: still true
  open_gate(gate);
  EXPECT_EQ(fs.front().result(), 0);
  EXPECT_THROW(fs.back().result(), spindle::CancelledError);
  pool.shutdown();
  std::filesystem::remove(gate);
}

TEST(MPIPoolExecutor, C102_destructor_waits_for_submitted_work) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("destructor");
  const std::string gate = new_gate();
  std::vector<Future<long>> fs;
  {
    MPIPoolExecutor pool;
    for (long i = 0; i < 20; ++i) fs.push_back(pool.submit(wait_for_gate, gate, i));
    open_gate(gate);
  }
  for (auto& f : fs) EXPECT_TRUE(f.done());
  std::filesystem::remove(gate);
}

TEST(MPIPoolExecutor, executors_share_the_workers_at_once_and_in_turn) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("several executors");
  MPIPoolExecutor a;
  MPIPoolExecutor b;
  std::vector<Future<long>> fa;
  std::vector<Future<long>> fb;
  for (long i = 0; i < 200; ++i) {
    fa.push_back(a.submit(square, i));
    fb.push_back(b.submit(identity, i));
  }
  a.shutdown();  // waits for a's tasks only
  for (auto& f : fa) EXPECT_TRUE(f.done());
  for (long i = 0; i < 200; ++i) EXPECT_EQ(fb[static_cast<std::size_t>(i)].result(), i);
  b.shutdown();
  for (int round = 0; round < 3; ++round) {
    MPIPoolExecutor c;
    EXPECT_EQ(c.submit(square, 5L).result(), 25);
  }
}

TEST(MPIPoolExecutor, wait_and_as_completed_mix_mpi_process_and_thread_futures) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("mixed futures");
  MPIPoolExecutor mpi;
  spindle::ProcessPoolExecutor procs(1);
  spindle::ThreadPoolExecutor threads(2);
  Future<long> m = mpi.submit(square, 4L);
  Future<long> p = procs.submit(square, 5L);
  Future<long> t = threads.submit(square, 6L);
  std::vector<Future<long>> all{m, p, t};
  auto [done, not_done] = spindle::wait(all);
  EXPECT_EQ(done.size(), 3u);
  EXPECT_TRUE(not_done.empty());
  long sum = 0;
  for (auto& f : spindle::as_completed(all)) sum += f.result();
  EXPECT_EQ(sum, 16 + 25 + 36);
  EXPECT_NE(p.result(), 0);
}

TEST(MPIPoolExecutor, done_callbacks_run_and_may_submit_more_work) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("callbacks");
  MPIPoolExecutor pool;
  spindle::Event second_done;
  std::atomic<long> second{0};
  Future<long> f = pool.submit(square, 3L);
  f.add_done_callback([&](Future<long>& done) {
    // In the communication thread: submitting from here is fine.
    Future<long> g = pool.submit(square, done.result());
    g.add_done_callback([&](Future<long>& h) {
      second = h.result();
      second_done.set();
    });
  });
  ASSERT_TRUE(second_done.wait(std::chrono::seconds(60)));
  EXPECT_EQ(second.load(), 81);
}

TEST(MPIPoolExecutor, shutdown_from_a_done_callback_does_not_wait_for_itself) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("shutdown in callback");
  MPIPoolExecutor pool;
  spindle::Event ran;
  Future<long> f = pool.submit(square, 2L);
  f.add_done_callback([&](Future<long>&) {
    pool.shutdown(true);
    ran.set();
  });
  ASSERT_TRUE(ran.wait(std::chrono::seconds(60)));
  EXPECT_THROW((void)pool.submit(square, 1L), spindle::RuntimeError);
}

TEST(MPIPoolExecutor, many_threads_submit_at_once) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("concurrent submit");
  MPIPoolExecutor pool;
  constexpr int kThreads = 4;
  const long per = spindle_test::scaled(2000);
  std::vector<std::thread> ts;
  std::atomic<long> total{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<Future<long>> fs;
      for (long i = 0; i < per; ++i) fs.push_back(pool.submit(identity, t * per + i));
      long s = 0;
      for (auto& f : fs) s += f.result();
      total += s;
    });
  }
  for (auto& th : ts) th.join();
  const long n = kThreads * per;
  EXPECT_EQ(total.load(), n * (n - 1) / 2);
}

TEST(MPIPoolExecutor, C95_result_with_a_timeout_throws_TimeoutError_while_the_task_is_held) {
  SPINDLE_NEEDS_WORKERS();
  Watchdog wd("timeout");
  MPIPoolExecutor pool;
  const std::string gate = new_gate();
  Future<long> f = pool.submit(wait_for_gate, gate, 7L);
  EXPECT_THROW(f.result(std::chrono::milliseconds(20)), spindle::TimeoutError);
  open_gate(gate);
  EXPECT_EQ(f.result(), 7);
  std::filesystem::remove(gate);
}

}  // namespace mpi_scenarios
