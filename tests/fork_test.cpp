// fork() with spindle threads alive, and what needs a forked child to be
// checked: a start right after a join under a tight RLIMIT_NPROC.
//
// Each test forks with fork() itself; the child checks with CHILD_CHECK
// (a failure prints the expression and exits 90) and ends with exit() - so
// the exit-time join runs - or returns from the body of the thread that
// forked. The parent waits with waitpid. Hang guards: alarm() in the child
// (SIGALRM ends it) and a bounded wait in the parent. No watchdog thread is
// running in the parent while it forks (its std::thread would be one more
// vanished thread in the child).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "spindle/local.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"
#include "thread_internal.hpp"  // detail::register_at_fork
#include "threads.hpp"

// TSan stops a child of a multi-threaded parent at its first new thread
// unless told otherwise; these tests start threads in such children on
// purpose.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
// A child that exits normally runs LeakSanitizer. glibc's node for each
// thread_local destructor of a thread that vanished in fork() is reachable
// only from that thread's TLS, which no live thread has any more: not a
// leak of the program, and the same for std::thread or any thread_local.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:__cxa_thread_atexit_impl\n";
}

using namespace std::chrono_literals;

#define CHILD_CHECK(cond)                                                           \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #cond); \
      std::fflush(stderr);                                                          \
      _exit(90);                                                                    \
    }                                                                               \
  } while (0)

namespace {

using spindle_test::Gate;
using spindle_test::wait_blocked;

constexpr unsigned kChildAlarmSeconds = 100;

// LeakSanitizer in a child of a multi-threaded process reports what only a
// vanished thread's stack or TLS referenced (glibc's and the sanitizer's own
// per-thread objects, half-done work of threads that were busy), and when the
// forking thread was not the main thread it scans no stack at all: it knows
// threads by their tids in the parent. A child that calls
// skip_leak_check_in_child() therefore ends right after spindle's exit
// handler - which is what it tests - and before the leak check (registered
// earliest, so run last).
std::atomic<bool> g_skip_leak_check{false};
std::atomic<int> g_child_status{0};
#if defined(__SANITIZE_ADDRESS__)
void end_before_leak_check() {
  if (g_skip_leak_check.load()) _exit(g_child_status.load());
}
// Installed before any spindle thread starts, so it runs after spindle's
// exit handler.
[[maybe_unused]] const bool g_guard_installed = (std::atexit(end_before_leak_check), true);
#endif
void skip_leak_check_in_child() {
  g_skip_leak_check = true;
}

// ThreadSanitizer keeps the vanished threads in its own thread table, and
// glibc reuses their stacks - and so their pthread_t values - for a child's
// new threads, which TSan then takes for a duplicate thread. Under TSan a
// child gives its new threads a stack size no vanished thread had, so they
// get fresh stacks.
void fresh_stacks_in_child() {
#if defined(__SANITIZE_THREAD__)
  spindle::stack_size(std::size_t{16} << 20);
#endif
}
void exit_child(int status) {
  g_child_status = status;
  std::exit(status);
}

// Waits for `pid` (hang guard: 150 s, then SIGKILL). Returns the exit code,
// or 128 + signal.
int wait_child(pid_t pid) {
  int status = 0;
  const auto give_up = std::chrono::steady_clock::now() + 150s;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "child " << pid << " hung";
      return -2;
    }
    std::this_thread::sleep_for(2ms);  // polling a hang guard, not synchronisation
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Forks; the child runs `body` and calls exit() with its result (a normal
// exit: atexit handlers and spindle's exit-time join run).
int fork_and_exit(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(kChildAlarmSeconds);
    fresh_stacks_in_child();
    exit_child(body());
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed: " << std::strerror(errno);
    return -1;
  }
  return wait_child(pid);
}

bool task_exists(long tid) {
  return access(("/proc/self/task/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

std::atomic<int> g_tracked_live{0};
struct Tracked {
  Tracked() { ++g_tracked_live; }
  ~Tracked() { --g_tracked_live; }
  int value = 0;
};

}  // namespace

// The main thread forks while a non-daemon thread, a daemon thread and a
// thread holding a spindle Lock are blocked. As in CPython: in the child
// they are not alive, join() returns at once, enumerate() lists the main
// thread alone, a new thread can be started and joined, and exit(0) is not
// held up by the vanished non-daemon threads.
TEST(Fork, child_keeps_only_the_forking_thread_and_exits_with_non_daemon_threads_alive) {
  Gate gate;
  spindle::Lock held;
  spindle::local<Tracked> tracked;
  spindle::Thread worker({.name = "worker"}, [&] {
    tracked->value = 1;
    gate.pass();
  });
  spindle::Thread daemon({.name = "daemon", .daemon = true}, [&] { gate.pass(); });
  spindle::Thread holder({.name = "holder"}, [&] {
    tracked->value = 2;
    held.acquire();
    gate.pass();
    held.release();
  });
  for (auto* t : {&worker, &daemon, &holder}) t->start();
  for (auto* t : {&worker, &daemon, &holder}) wait_blocked(*t);
  tracked->value = 3;
  ASSERT_EQ(g_tracked_live.load(), 3);
  ASSERT_EQ(spindle::active_count(), 4u);

  const int status = fork_and_exit([&] {
    CHILD_CHECK(spindle::current_thread() == spindle::main_thread());
    CHILD_CHECK(spindle::main_thread().name() == "MainThread");
    CHILD_CHECK(spindle::main_thread().is_alive());
    CHILD_CHECK(spindle::main_thread().native_id() == spindle::get_native_id());
    CHILD_CHECK(spindle::main_thread().native_id() == static_cast<long>(getpid()));
    for (auto* t : {&worker, &daemon, &holder}) {
      CHILD_CHECK(!t->is_alive());
      CHILD_CHECK(t->state() == spindle::ThreadState::terminated);
      CHILD_CHECK(!t->waiting_on().has_value());
      t->join();
      CHILD_CHECK(t->join(0s));
      CHILD_CHECK(t->ident().has_value());  // kept, as after any end
    }
    CHILD_CHECK(held.locked());  // a user's Lock stays as it was (as in CPython)
    const auto all = spindle::enumerate();
    CHILD_CHECK(all.size() == 1);
    CHILD_CHECK(*all[0] == spindle::main_thread());
    CHILD_CHECK(spindle::active_count() == 1);
    const std::string dump = spindle::dump_threads();
    CHILD_CHECK(dump.find("\"MainThread\"") != std::string::npos);
    CHILD_CHECK(dump.find("worker") == std::string::npos);
    // This thread's local survives; the vanished threads' instances are
    // destroyed with the local.
    CHILD_CHECK(tracked->value == 3);
    // New threads work, and use locals.
    int seen = -1;
    spindle::Thread fresh({.name = "fresh"}, [&] {
      seen = tracked->value;
      tracked->value = 9;
      CHILD_CHECK(spindle::active_count() == 2);
    });
    fresh.start();
    fresh.join();
    CHILD_CHECK(seen == 0);
    CHILD_CHECK(!fresh.is_alive());
    // A non-daemon thread alive at exit is still joined by the exit.
    static std::atomic<bool> late_ran{false};
    spindle::Thread late([] {
      spindle::main_thread().join();  // returns once the exit has begun
      late_ran = true;
    });
    late.start();
    spindle::detail::register_atexit([] {});  // the exit sequence as in the parent
    return 0;
  });
  EXPECT_EQ(status, 0);

  // The parent is untouched.
  EXPECT_TRUE(worker.is_alive());
  EXPECT_TRUE(held.locked());
  EXPECT_EQ(spindle::active_count(), 4u);
  gate.open();
  for (auto* t : {&worker, &daemon, &holder}) t->join();
  EXPECT_EQ(g_tracked_live.load(), 1);
}

// The child's exit joins a non-daemon thread started in the child, and the
// status is exit()'s.
TEST(Fork, exit_in_the_child_joins_the_child_s_own_non_daemon_threads) {
  Gate gate;
  spindle::Thread stuck({.name = "stuck"}, [&] { gate.pass(); });
  stuck.start();
  wait_blocked(stuck);
  std::string path = testing::TempDir() + "spindle_fork_exit_" + std::to_string(getpid());
  const int status = fork_and_exit([&] {
    spindle::Thread late([path] {
      spindle::main_thread().join();  // until exit() begins
      FILE* f = std::fopen(path.c_str(), "w");
      std::fputs("joined", f);
      std::fclose(f);
    });
    late.start();
    return 7;
  });
  EXPECT_EQ(status, 7);
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "joined");
  std::remove(path.c_str());
  gate.open();
  stuck.join();
}

// CPython destroys the vanished threads' thread-local values inside fork();
// spindle leaves them to their local (a destructor run inside fork() could
// wait on a lock a vanished thread held): destroying the local in the child
// destroys every instance, and a new local works.
TEST(Fork, vanished_threads_local_instances_are_destroyed_with_their_local) {
  const int live_before = g_tracked_live.load();
  auto data = std::make_unique<spindle::local<Tracked>>();
  Gate gate;
  std::vector<spindle::Thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      (*data)->value = 5;
      gate.pass();
    });
  }
  for (auto& t : threads) t.start();
  for (auto& t : threads) wait_blocked(t);
  (*data)->value = 6;
  ASSERT_EQ(g_tracked_live.load(), live_before + 4);
  const int status = fork_and_exit([&] {
    CHILD_CHECK(g_tracked_live.load() == live_before + 4);  // fork() destroyed nothing
    CHILD_CHECK((*data)->value == 6);                       // this thread's own instance
    data.reset();
    CHILD_CHECK(g_tracked_live.load() == live_before);
    spindle::local<Tracked> fresh;
    fresh->value = 1;
    spindle::Thread t([&] { fresh->value = 2; });
    t.start();
    t.join();
    CHILD_CHECK(fresh->value == 1);
    CHILD_CHECK(g_tracked_live.load() == live_before + 1);
    return 0;
  });
  EXPECT_EQ(status, 0);
  gate.open();
  for (auto& t : threads) t.join();
  data.reset();
  EXPECT_EQ(g_tracked_live.load(), live_before);
}

// fork() from a spindle thread that is not the main thread: in the child it
// is the main thread (CPython: main_thread() is current_thread(), keeping its
// name and daemon flag); the parent's main thread is gone there.
TEST(Fork, forking_spindle_thread_becomes_the_child_s_main_thread) {
  for (const bool daemonic : {false, true}) {
    for (const bool exit_by_return : {false, true}) {
#if defined(__SANITIZE_THREAD__)
      // TSan (GCC 12) crashes when a forked child's only thread, not its
      // main thread, returns from its start routine - with plain pthreads
      // too. The std::exit path is still checked.
      if (exit_by_return) continue;
#endif
      Gate gate;
      spindle::Thread other({.name = "other"}, [&] { gate.pass(); });
      other.start();
      wait_blocked(other);
      spindle::Thread& parent_main = spindle::main_thread();
      int status = -1;
      spindle::Thread forker({.name = "forker", .daemon = daemonic}, [&] {
        std::fflush(nullptr);
        const pid_t pid = fork();
        if (pid != 0) {
          status = wait_child(pid);
          return;
        }
        alarm(kChildAlarmSeconds);
        skip_leak_check_in_child();
        fresh_stacks_in_child();
        spindle::Thread& me = spindle::current_thread();
        CHILD_CHECK(me == spindle::main_thread());
        CHILD_CHECK(spindle::main_thread().name() == "forker");
        CHILD_CHECK(spindle::main_thread().daemon() == daemonic);
        CHILD_CHECK(spindle::main_thread().is_alive());
        CHILD_CHECK(!(parent_main == spindle::main_thread()));
        CHILD_CHECK(!parent_main.is_alive());
        parent_main.join();  // returns at once, as CPython's
        CHILD_CHECK(!other.is_alive());
        other.join();
        const auto all = spindle::enumerate();
        CHILD_CHECK(all.size() == 1 && *all[0] == me);
        CHILD_CHECK(spindle::get_native_id() == static_cast<long>(getpid()));
        CHILD_CHECK(me.native_id() == spindle::get_native_id());
        bool inner_ran = false;
        spindle::Thread inner([&] {
          inner_ran = true;
          CHILD_CHECK(!(spindle::current_thread() == spindle::main_thread()));
        });
        inner.start();
        inner.join();
        CHILD_CHECK(inner_ran);
        bool threw = false;
        try {
          spindle::main_thread().join();
        } catch (const spindle::RuntimeError&) {
          threw = true;  // "cannot join current thread"
        }
        CHILD_CHECK(threw);
        if (!exit_by_return) exit_child(0);
        // Returning ends the only thread: the process exits with status 0.
      });
      forker.start();
      forker.join();
      EXPECT_EQ(status, 0) << "daemon=" << daemonic << " return=" << exit_by_return;
      EXPECT_TRUE(parent_main.is_alive());
      EXPECT_TRUE(other.is_alive());
      gate.open();
      other.join();
    }
  }
}

namespace {
struct ForeignForkResult {
  bool call_current_first = false;
  int status = -1;
};

void* foreign_forker(void* arg) {
  auto* r = static_cast<ForeignForkResult*>(arg);
  std::string dummy_name;
  if (r->call_current_first) dummy_name = spindle::current_thread().name();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid != 0) {
    r->status = wait_child(pid);
    return nullptr;
  }
  alarm(kChildAlarmSeconds);
  skip_leak_check_in_child();
  fresh_stacks_in_child();
  // CPython: a _DummyThread that forks becomes the _MainThread
  // ("MainThread", not daemon); a thread threading never saw gets a new one.
  spindle::Thread& me = spindle::current_thread();
  CHILD_CHECK(me == spindle::main_thread());
  CHILD_CHECK(me.name() == "MainThread");
  CHILD_CHECK(!me.daemon());
  CHILD_CHECK(me.is_alive());
  CHILD_CHECK(me.ident() == spindle::get_ident());
  CHILD_CHECK(spindle::active_count() == 1);
  spindle::Thread inner([] {});
  inner.start();
  inner.join();
  exit_child(0);
  return nullptr;
}
}  // namespace

TEST(Fork, forking_foreign_thread_becomes_MainThread) {
  for (const bool known : {true, false}) {
    ForeignForkResult r;
    r.call_current_first = known;
    pthread_t th;  // raw pthread: no heap state of ours is left behind in the child
    ASSERT_EQ(pthread_create(&th, nullptr, foreign_forker, &r), 0);
    pthread_join(th, nullptr);
    EXPECT_EQ(r.status, 0) << "dummy first: " << known;
  }
}

// Other threads hammer everything that takes one of the thread layer's
// internal locks (registry, each thread's core, local<T>, excepthook)
// while the main thread forks again and again. Each child uses all of it:
// none of those locks may be left held by a vanished thread.
//
// Under ASan the hammers keep to the calls that take those locks without
// allocating: GCC 12's ASan allocator takes no lock around fork(), so a
// child whose parent had another thread inside malloc can hang in its own
// next malloc (seen: a child's new thread stuck in the allocator's region
// mutex) - the sanitizer's limit, not spindle's.
// The main thread holds a Lock while another thread is parked on it
// (counted as a waiter in the lock's word) and forks. In the child that
// waiter does not exist: releasing the Lock there, and using it again, must
// still wake the child's own waiters (the child forgets the vanished one).
TEST(Fork, a_lock_whose_waiter_vanished_in_the_fork_still_wakes_the_childs_waiters) {
  spindle::Lock lock;
  lock.acquire();
  spindle::Thread waiter({.name = "waiter"}, [&] {
    lock.acquire();
    lock.release();
  });
  waiter.start();
  wait_blocked(waiter);  // parked in the Lock: counted in its word
  const int status = fork_and_exit([&] {
    lock.release();  // the parent's waiter is not here to be woken
    for (int round = 0; round < 2; ++round) {
      lock.acquire();
      std::atomic<bool> got{false};
      spindle::Thread t([&] {
        if (lock.acquire(30s)) {  // hang guard only: the release below wakes it
          got = true;
          lock.release();
        }
      });
      t.start();
      wait_blocked(t);
      lock.release();
      t.join();
      CHILD_CHECK(got.load());
    }
    return 0;
  });
  EXPECT_EQ(status, 0);
  lock.release();
  waiter.join();
}

TEST(Fork, internal_locks_held_by_other_threads_are_usable_in_the_child) {
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool kHammersAllocate = false;
#else
  constexpr bool kHammersAllocate = true;
#endif
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  spindle::local<std::vector<int>> scratch;
  spindle::Thread target({.name = "target"}, [&] {
    while (!stop.load()) std::this_thread::yield();
  });
  target.start();
  std::vector<spindle::Thread> hammers;
  for (int i = 0; i < 3; ++i) {
    hammers.emplace_back(spindle::ThreadOptions{.name = "hammer"}, [&, i] {
      scratch->assign(8, 0);         // allocated once, before any fork
      { spindle::local<int> warm; }  // the free-slot list has room from now on
      ++ready;
      unsigned long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        ++n;
        switch ((n + i) % 6) {
          case 0:
            if (kHammersAllocate) {
              (void)spindle::enumerate();
            } else {
              (void)spindle::active_count();
            }
            break;
          case 1:
            (void)target.name();
            (void)target.state();
            (void)target.waiting_on();
            break;
          case 2:
            target.set_name("target-" + std::to_string(n % 100));
            break;  // short: no allocation
          case 3:
            scratch->assign(8, static_cast<int>(n));
            break;
          case 4:
            spindle::set_excepthook(nullptr);
            (void)spindle::get_excepthook();
            break;
          default:
            if (kHammersAllocate) {
              spindle::Thread t([] {});
              t.start();
              t.join();
              spindle::local<int> brief;
              *brief = 1;
            } else {
              spindle::local<int> brief;  // the local<T> lock, without an instance
            }
        }
      }
    });
  }
  for (auto& h : hammers) h.start();
  while (ready.load() != 3) std::this_thread::yield();
  const int rounds = static_cast<int>(spindle_test::scaled(40));
  int failures = 0;
  for (int round = 0; round < rounds; ++round) {
    const int status = fork_and_exit([&] {
      skip_leak_check_in_child();  // the hammers vanished in the middle of their work
      CHILD_CHECK(spindle::enumerate().size() == 1);
      CHILD_CHECK(!spindle::dump_threads().empty());
      CHILD_CHECK(target.name().rfind("target", 0) == 0);
      CHILD_CHECK(!target.is_alive());
      target.join();
      for (auto& h : hammers) h.join();
      spindle::set_excepthook(nullptr);
      scratch->assign(4, 4);
      spindle::local<int> fresh_local;
      *fresh_local = 5;
      spindle::Thread t([&] { scratch->assign(2, 2); });
      t.start();
      t.join();
      return 0;
    });
    if (status != 0) ++failures;
  }
  stop = true;
  for (auto& h : hammers) h.join();
  target.join();
  EXPECT_EQ(failures, 0);
}

namespace {
std::atomic<int> g_child_callback_runs{0};
std::atomic<int> g_parent_callback_runs{0};
std::atomic<int> g_prepare_callback_runs{0};
std::atomic<std::size_t> g_child_saw_threads{0};
void on_prepare() {
  ++g_prepare_callback_runs;
}
void on_parent() {
  ++g_parent_callback_runs;
}
void on_child() {
  fresh_stacks_in_child();
  ++g_child_callback_runs;
  g_child_saw_threads = spindle::active_count();  // the reset has already happened
  spindle::Thread t([] {});                       // and threads can be started
  t.start();
  t.join();
}
}  // namespace

TEST(Fork, at_fork_callbacks_of_other_layers_run_after_the_thread_layer_reset) {
  static const bool registered = [] {
    spindle::detail::register_at_fork(on_prepare, on_parent, on_child);
    return true;
  }();
  (void)registered;
  Gate gate;
  spindle::Thread t([&] { gate.pass(); });
  t.start();
  wait_blocked(t);
  const int prepares = g_prepare_callback_runs.load();
  const int parents = g_parent_callback_runs.load();
  const int status = fork_and_exit([] {
    CHILD_CHECK(g_child_callback_runs.load() == 1);
    CHILD_CHECK(g_child_saw_threads.load() == 1);
    return 0;
  });
  EXPECT_EQ(status, 0);
  EXPECT_EQ(g_prepare_callback_runs.load(), prepares + 1);
  EXPECT_EQ(g_parent_callback_runs.load(), parents + 1);
  EXPECT_EQ(g_child_callback_runs.load(), 0);
  gate.open();
  t.join();
}

// ---------------------------------------------------------------- join reaps the OS thread

namespace {
long own_thread_count() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}
}  // namespace

// A start right after a join must not be refused for the joined thread's
// sake: join() returns only once the OS thread has left the kernel's count.
// RLIMIT_NPROC binds only a non-root user without CAP_SYS_RESOURCE and
// CAP_SYS_ADMIN; as root the child switches to an unused uid first.
// Otherwise it checks the process's task count after each join instead.
TEST(Join, start_after_join_is_never_refused_under_a_tight_RLIMIT_NPROC) {
  const long cycles = spindle_test::scaled(3000, 30000);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(kChildAlarmSeconds);
    close(pipefd[0]);
    bool limited = false;
    if (geteuid() == 0) {
      const uid_t nobody_like = 50000 + static_cast<uid_t>(getpid() % 10000);
      limited = setresgid(nobody_like, nobody_like, nobody_like) == 0 &&
                setresuid(nobody_like, nobody_like, nobody_like) == 0;
    }
    prctl(PR_SET_DUMPABLE, 1);                 // keep /proc/self ours after the uid switch
    const long baseline = own_thread_count();  // 1, or 2 with a sanitizer's helper thread
    if (limited) {
      // This uid runs exactly this process: allow it two more tasks.
      const rlim_t n = static_cast<rlim_t>(baseline) + 2;
      const rlimit lim{n, n};
      CHILD_CHECK(setrlimit(RLIMIT_NPROC, &lim) == 0);
    }
    const char mode = limited ? 'L' : 'C';
    (void)!write(pipefd[1], &mode, 1);
    for (long i = 0; i < cycles; ++i) {
      spindle::Thread t([] {});
      try {
        t.start();
      } catch (const spindle::RuntimeError& e) {
        std::fprintf(stderr, "cycle %ld: %s\n", i, e.what());
        _exit(91);
      }
      const long tid = *t.native_id();
      t.join();
      CHILD_CHECK(!task_exists(tid));
      if (!limited) CHILD_CHECK(own_thread_count() <= baseline);
    }
    _exit(0);  // no sanitizer leak pass: it would need a task of its own
  }
  close(pipefd[1]);
  char mode = '?';
  (void)!read(pipefd[0], &mode, 1);
  close(pipefd[0]);
  EXPECT_EQ(wait_child(pid), 0);
  if (mode != 'L')
    std::printf(
        "RLIMIT_NPROC not enforceable here (no uid switch): checked the task count instead\n");
}
