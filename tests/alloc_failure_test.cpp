// Out-of-memory paths of the thread layer, tested the way SQLite tests
// them: for N = 1, 2, ... the N-th allocation made by the calling thread
// during one public call fails (std::bad_alloc from operator new), until the
// call completes without reaching the failure. Each call must either
// complete or throw std::bad_alloc having changed nothing, and afterwards
// the objects and the registry must be consistent (no stale entry, a failed
// start leaves "new", a retry works, the process can exit). Paths that may
// not throw (a thread's exit, destructors, the exit handler) must not
// allocate at all: a failure armed there must never be reached.
//
// The injection is a replacement of the global operator new/delete in this
// executable only (it also stands in for the sanitizers' own operator new,
// which is fine: they still see every malloc/free).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "spindle/local.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "spindle/timer.hpp"
#include "support.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using spindle_test::Watchdog;

// The exit test forks; TSan would stop the child at its first new thread.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}

// ---------------------------------------------------------------- injection

namespace inject {
thread_local long t_countdown = 0;  // > 0: that many allocations from now, the last fails
thread_local bool t_hit = false;
std::atomic<long> g_failures{0};  // failures injected so far, all threads

inline bool should_fail() noexcept {
  if (t_countdown > 0 && --t_countdown == 0) {
    t_hit = true;
    g_failures.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}
void arm(long n) noexcept {
  t_hit = false;
  t_countdown = n;
}
bool disarm() noexcept {  // true if the armed failure was injected
  t_countdown = 0;
  return t_hit;
}
}  // namespace inject

// The replacement pairs operator new with malloc and operator delete with
// free; GCC's -Wmismatched-new-delete cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  if (inject::should_fail()) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return ::operator new(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (inject::should_fail()) return nullptr;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return ::operator new(n, t);
}
void* operator new(std::size_t n, std::align_val_t al) {
  if (inject::should_fail()) throw std::bad_alloc();
  void* p = nullptr;
  const std::size_t a =
      static_cast<std::size_t>(al) < sizeof(void*) ? sizeof(void*) : static_cast<std::size_t>(al);
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return ::operator new(n, al);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace {

using spindle_test::Gate;
using spindle_test::wait_blocked;

// Runs `op` with the n-th allocation failing, n = 1, 2, ..., until it
// completes without reaching the failure. After each run `check(threw)`
// verifies the state. Returns how many runs it took.
template <class Op, class Check>
long sweep(Op op, Check check) {
  for (long n = 1; n < 100000; ++n) {
    bool threw = false;
    inject::arm(n);
    try {
      op();
    } catch (const std::bad_alloc&) {
      threw = true;
    } catch (...) {
      inject::disarm();
      throw;
    }
    const bool hit = inject::disarm();
    check(threw);
    if (!hit) {
      EXPECT_FALSE(threw);
      return n;
    }
  }
  ADD_FAILURE() << "the operation never completed";
  return 0;
}
template <class Op>
long sweep(Op op) {
  return sweep(op, [](bool) {});
}

unsigned long number_in(const std::string& name, const std::string& prefix) {
  EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
  return std::stoul(name.substr(prefix.size()));
}

std::atomic<int> g_live{0};
struct Tracked {
  explicit Tracked(std::string s = std::string(40, 't')) : text(std::move(s)) { ++g_live; }
  Tracked(const Tracked& o) : text(o.text) { ++g_live; }
  ~Tracked() { --g_live; }
  std::string text;
};

const std::string kLong(64, 'a');  // longer than std::string's inline buffer
// Built before main, so that it outlives spindle's exit handler.
const std::exception_ptr g_exit_exception = std::make_exception_ptr(spindle::ValueError(kLong));

}  // namespace

// ---------------------------------------------------------------- Thread

TEST(AllocFailure, thread_construction_takes_no_number_when_it_fails) {
  Watchdog wd("construction");
  const std::size_t before = spindle::active_count();
  const unsigned long first = number_in(spindle::Thread([] {}).name(), "Thread-");
  std::string made;
  const long runs = sweep(
      [&] {
        spindle::Thread t([](const std::string&) {}, kLong);  // copies kLong
        made = t.name();
      },
      [&](bool threw) {
        if (threw) {
          EXPECT_TRUE(made.empty());
        }
      });
  EXPECT_GT(runs, 1);
  EXPECT_EQ(number_in(made, "Thread-"), first + 1);  // failures took no number
  // A subclass object (the core without a target) and named threads.
  sweep([] { spindle::Thread t({.name = kLong}); });
  EXPECT_EQ(spindle::active_count(), before);
}

TEST(AllocFailure, start_allocates_nothing_and_a_failed_start_can_be_retried) {
  Watchdog wd("start");
  const std::size_t before = spindle::active_count();
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) {
    spindle::Thread t([&ran] { ++ran; });
    const long runs = sweep([&] { t.start(); },
                            [&](bool threw) {
                              if (threw) {
                                EXPECT_EQ(t.state(), spindle::ThreadState::new_);
                                EXPECT_EQ(spindle::active_count(), before);
                                t.start();  // the retry works
                              }
                            });
    EXPECT_EQ(runs, 1) << "start() allocated";
    sweep([&] { t.join(); });
    EXPECT_FALSE(t.is_alive());
  }
  EXPECT_EQ(ran.load(), 3);
  EXPECT_EQ(spindle::active_count(), before);
}

TEST(AllocFailure, name_and_set_name_change_nothing_when_they_fail) {
  Watchdog wd("names");
  spindle::Thread t({.name = kLong}, [] {});
  sweep([&] { (void)t.name(); });
  sweep([&] { t.set_name(std::string(80, 'b')); },
        [&](bool threw) {
          if (threw) {
            EXPECT_EQ(t.name(), kLong);
          }
        });
  EXPECT_EQ(t.name(), std::string(80, 'b'));
  // A running thread renaming itself.
  spindle::Thread self_renamer(
      [] { sweep([] { spindle::current_thread().set_name(std::string(50, 'c')); }); });
  self_renamer.start();
  self_renamer.join();
  EXPECT_EQ(self_renamer.name(), std::string(50, 'c'));
}

// enumerate() builds handles for threads that have none yet. A failure
// while the first handle of a thread was being built used to unwind inside
// that thread's lock and deadlock on it.
TEST(AllocFailure, enumerate_fails_cleanly_and_leaves_no_stale_entry) {
  Watchdog wd("enumerate");
  const std::size_t before = spindle::active_count();
  Gate gate;
  std::vector<spindle::Thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&gate] { gate.pass(); });
  for (auto& t : threads) t.start();
  for (auto& t : threads) wait_blocked(t);
  auto consistent = [&] {
    auto all = spindle::enumerate();
    EXPECT_EQ(all.size(), before + 4);
    std::set<const spindle::Thread*> seen;
    for (auto& h : all) EXPECT_TRUE(seen.insert(h.get()).second);
    for (auto& t : threads) {
      bool found = false;
      for (auto& h : all) found = found || *h == t;
      EXPECT_TRUE(found);
    }
  };
  std::size_t got = 0;
  sweep([&] { got = spindle::enumerate().size(); },
        [&](bool threw) {
          if (threw) consistent();
        });
  EXPECT_EQ(got, before + 4);
  sweep([&] { (void)spindle::active_count(); });
  sweep([&] { (void)spindle::dump_threads(); });
  gate.open();
  for (auto& t : threads) t.join();
  EXPECT_EQ(spindle::active_count(), before);
  EXPECT_EQ(spindle::enumerate().size(), before);
}

TEST(AllocFailure, current_thread_in_a_spindle_thread) {
  Watchdog wd("current_thread spindle");
  spindle::Thread* handle = nullptr;
  bool same = false;
  spindle::Thread t([&] { sweep([&] { same = spindle::current_thread() == *handle; }); });
  handle = &t;
  t.start();
  t.join();
  EXPECT_TRUE(same);
}

// A foreign thread's first call builds its Dummy entry: a failure leaves no
// entry behind and takes no "Dummy-N" number.
TEST(AllocFailure, current_thread_from_a_foreign_thread) {
  Watchdog wd("current_thread foreign");
  const std::size_t before = spindle::active_count();
  unsigned long last = 0;
  std::thread([&] { last = number_in(spindle::current_thread().name(), "Dummy-"); }).join();
  for (long n = 1;; ++n) {
    bool threw = false, hit = false;
    std::size_t count_after_failure = 0;
    std::string name_after;
    bool daemon_after = false;
    std::thread([&] {
      inject::arm(n);
      try {
        (void)spindle::current_thread();
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      hit = inject::disarm();
      if (threw) count_after_failure = spindle::active_count();
      name_after = spindle::current_thread().name();
      daemon_after = spindle::current_thread().daemon();
      // Constructing a Thread here inherits daemon from the Dummy.
      sweep([] { spindle::Thread t([] {}); });
    }).join();
    if (threw) {
      EXPECT_EQ(count_after_failure, before);
    }
    EXPECT_EQ(number_in(name_after, "Dummy-"), ++last);
    EXPECT_TRUE(daemon_after);
    EXPECT_EQ(spindle::active_count(), before);  // its entry left with it
    if (!hit) {
      EXPECT_FALSE(threw);
      break;
    }
  }
}

// ---------------------------------------------------------------- local<T>

TEST(AllocFailure, local_get_construction_and_growth) {
  Watchdog wd("local get");
  const int live_before = g_live.load();
  std::vector<std::unique_ptr<spindle::local<int>>> fillers;  // push the slot past 16: table growth
  for (int i = 0; i < 20; ++i) fillers.push_back(std::make_unique<spindle::local<int>>());
  std::unique_ptr<spindle::local<Tracked>> data;
  sweep([&] { data = std::make_unique<spindle::local<Tracked>>(std::string(50, 'x')); });
  for (int round = 0; round < 2; ++round) {  // round 1: the table exists and must grow
    spindle::Thread t([&] {
      if (round == 1) **fillers[0] = 1;
      const int live = g_live.load();
      sweep([&] { (void)data->get(); },
            [&](bool threw) {
              if (threw) {
                EXPECT_EQ(g_live.load(), live);
              }  // nothing half-made is left
            });
      EXPECT_EQ(data->get().text, std::string(50, 'x'));
      EXPECT_EQ(g_live.load(), live + 1);
    });
    t.start();
    t.join();
    EXPECT_EQ(g_live.load(), live_before);  // destroyed at the thread's end
  }
  data.reset();
  EXPECT_EQ(g_live.load(), live_before);
}

TEST(AllocFailure, local_destruction_and_thread_exit_allocate_nothing) {
  Watchdog wd("local exits");
  const int live_before = g_live.load();
  const long failures_before = inject::g_failures.load();
  {
    auto data = std::make_unique<spindle::local<Tracked>>();
    auto other = std::make_unique<spindle::local<Tracked>>();
    // Spindle threads: their exit sequence destroys their instances.
    std::vector<spindle::Thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        (void)data->get();
        (void)other->get();
        inject::arm(1);  // stays armed through the thread's whole exit
      });
    }
    for (auto& t : threads) t.start();
    for (auto& t : threads) t.join();
    EXPECT_EQ(g_live.load(), live_before);
    // A foreign thread: its thread_local clean-up destroys them.
    std::thread([&] {
      (void)data->get();
      (void)spindle::current_thread();
      inject::arm(1);
    }).join();
    EXPECT_EQ(g_live.load(), live_before);
    // Destroying a local while threads still hold instances.
    Gate gate;
    std::vector<spindle::Thread> holders;
    for (int i = 0; i < 3; ++i) {
      holders.emplace_back([&] {
        (void)data->get();
        gate.pass();
      });
    }
    for (auto& t : holders) t.start();
    for (auto& t : holders) wait_blocked(t);
    (void)data->get();
    EXPECT_EQ(g_live.load(), live_before + 4);
    inject::arm(1);
    data.reset();
    EXPECT_FALSE(inject::disarm()) << "~local allocated";
    EXPECT_EQ(g_live.load(), live_before);
    gate.open();
    for (auto& t : holders) t.join();
  }
  EXPECT_EQ(inject::g_failures.load(), failures_before) << "an exit path allocated";
}

// ---------------------------------------------------------------- Timer

TEST(AllocFailure, timer_construction_start_and_cancel) {
  Watchdog wd("timer");
  std::atomic<int> fired{0};
  std::unique_ptr<spindle::Timer> timer;
  sweep([&] {
    timer = std::make_unique<spindle::Timer>(
        1h, [&fired](std::string) { ++fired; }, kLong);
  });
  EXPECT_EQ(sweep([&] { timer->start(); },
                  [&](bool threw) {
                    if (threw) {
                      EXPECT_EQ(timer->state(), spindle::ThreadState::new_);
                      timer->start();
                    }
                  }),
            1);
  EXPECT_EQ(sweep([&] { timer->cancel(); }), 1);
  timer->join();
  EXPECT_TRUE(timer->cancelled());
  EXPECT_EQ(fired.load(), 0);
}

// ---------------------------------------------------------------- excepthook

TEST(AllocFailure, set_excepthook_get_excepthook_and_excepthook) {
  Watchdog wd("excepthook");
  std::atomic<int> calls{0};
  std::array<char, 256> big{};  // too big for std::function's inline buffer
  sweep([&] {
    spindle::set_excepthook([&calls, big](const spindle::ExceptHookArgs&) { calls += 1 + big[0]; });
  });
  sweep([&] { (void)spindle::get_excepthook(); });
  const auto exc = std::make_exception_ptr(spindle::ValueError(kLong));
  const spindle::ExceptHookArgs args{exc, &spindle::main_thread()};
  const int before = calls.load();
  sweep([&] { spindle::excepthook(args); });
  EXPECT_GE(calls.load(), before + 1);
  spindle::set_excepthook(nullptr);
  testing::internal::CaptureStderr();
  sweep([&] { spindle::excepthook(args); });
  sweep([&] { spindle::default_excepthook(args); });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Exception in thread MainThread:"), std::string::npos) << err;
}

// An exception escaping a thread's body is reported even when reporting
// runs out of memory: never std::terminate.
TEST(AllocFailure, exception_escaping_a_thread_while_memory_runs_out) {
  Watchdog wd("thread exception");
  const auto exc = std::make_exception_ptr(spindle::ValueError(kLong));
  testing::internal::CaptureStderr();
  int reported = 0;
  for (long n = 1;; ++n) {
    const long failures = inject::g_failures.load();
    spindle::Thread t({.name = kLong}, [&] {
      inject::arm(n);  // stays armed through the report and the thread's exit
      std::rethrow_exception(exc);
    });
    t.start();
    t.join();
    ++reported;
    if (inject::g_failures.load() == failures) break;
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_GT(reported, 1);
  EXPECT_NE(err.find("Exception in thread " + kLong + ":\nspindle::ValueError: " + kLong),
            std::string::npos);
}

// ---------------------------------------------------------------- process exit

// The exit handler (atexit callbacks, reporting one that throws, the
// exit-time join) works with memory running out: a child process exits
// normally and its non-daemon thread is joined.
TEST(AllocFailure, exit_with_memory_running_out_completes) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(100);
    close(pipefd[0]);
    static int out = pipefd[1];
    // Newest first: the second arms the failure, the first throws and is
    // reported (rethrowing allocates nothing; describing it does).
    spindle::detail::register_atexit([] { std::rethrow_exception(g_exit_exception); });
    spindle::detail::register_atexit([] { inject::arm(1); });
    spindle::Thread worker([] {
      spindle::main_thread().join();  // once the exit has begun
      (void)!write(out, "joined", 6);
    });
    worker.start();
    std::exit(0);
  }
  close(pipefd[1]);
  char buf[16] = {};
  const ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
  close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "joined");
}
