// Thread, the registry, excepthook and process exit (C50-C61).
#include "spindle/thread.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "spindle/lock.hpp"
#include "support.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using spindle_test::Watchdog;

namespace {

using spindle_test::Gate;
using spindle_test::wait_blocked;

}  // namespace

// ---------------------------------------------------------------- contracts

TEST(Thread, C50_start_twice_throws) {
  spindle::Thread t([] {});
  t.start();
  try {
    t.start();
    FAIL() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "threads can only be started once");
  }
  t.join();
  EXPECT_THROW(t.start(), spindle::RuntimeError);
}

TEST(Thread, C51_join_before_start_throws) {
  spindle::Thread t([] {});
  try {
    t.join();
    FAIL() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot join thread before it is started");
  }
  EXPECT_THROW((void)t.join(1s), spindle::RuntimeError);
}

TEST(Thread, C52_join_current_thread_throws) {
  Watchdog wd("C52");
  std::string msg;
  spindle::Thread t([&msg] {
    try {
      spindle::current_thread().join();
    } catch (const spindle::RuntimeError& e) {
      msg = e.what();
    }
  });
  t.start();
  t.join();
  EXPECT_EQ(msg, "cannot join current thread");
  EXPECT_THROW(spindle::main_thread().join(), spindle::RuntimeError);  // we are the main thread
}

TEST(Thread, C53_negative_join_timeout_acts_as_zero) {
  Watchdog wd("C53");
  Gate gate;
  spindle::Thread t([&gate] { gate.pass(); });
  t.start();
  EXPECT_FALSE(t.join(-1s));
  EXPECT_FALSE(t.join(std::chrono::duration<double>(-0.5)));
  EXPECT_TRUE(t.is_alive());
  gate.open();
  t.join();
  EXPECT_TRUE(t.join(-1s));
}

TEST(Thread, C54_join_timeout_returns_and_is_alive_tells) {
  Watchdog wd("C54");
  Gate gate;
  spindle::Thread t([&gate] { gate.pass(); });
  t.start();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(t.join(20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_TRUE(t.is_alive());
  gate.open();
  EXPECT_TRUE(t.join(60s));
  EXPECT_FALSE(t.is_alive());
  EXPECT_TRUE(t.join(0s));  // many times
  t.join();
  EXPECT_THROW((void)t.join(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
}

TEST(Thread, C55_set_daemon_after_start_throws) {
  spindle::Thread t([] {});
  t.set_daemon(true);
  EXPECT_TRUE(t.daemon());
  t.set_daemon(false);
  t.start();
  try {
    t.set_daemon(true);
    FAIL() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot set daemon status of active thread");
  }
  t.join();
  EXPECT_THROW(t.set_daemon(true), spindle::RuntimeError);  // also after it ended, as Python
  EXPECT_THROW(spindle::main_thread().set_daemon(true), spindle::RuntimeError);
}

TEST(Thread, C56_exception_goes_to_default_excepthook) {
  Watchdog wd("C56");
  testing::internal::CaptureStderr();
  spindle::Thread t({.name = "Boomer"}, [] { throw spindle::ValueError("bad value 42"); });
  t.start();
  t.join();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Exception in thread Boomer:"), std::string::npos) << err;
  EXPECT_NE(err.find("spindle::ValueError: bad value 42"), std::string::npos) << err;
  EXPECT_FALSE(t.is_alive());
}

TEST(Thread, C56_custom_excepthook_sees_exception_and_thread) {
  Watchdog wd("C56 hook");
  std::string seen_name, seen_msg, seen_type;
  spindle::set_excepthook([&](const spindle::ExceptHookArgs& a) {
    seen_name = a.thread->name();
    seen_msg = a.message();
    seen_type = a.type_name();
  });
  spindle::Thread t({.name = "Hooked"}, [] { throw 7; });
  t.start();
  t.join();
  spindle::Thread u({.name = "Hooked2"}, [] { throw std::runtime_error("rt"); });
  u.start();
  u.join();
  spindle::set_excepthook(nullptr);
  EXPECT_EQ(seen_name, "Hooked2");
  EXPECT_EQ(seen_msg, "rt");
  EXPECT_EQ(seen_type, "std::runtime_error");
}

TEST(Thread, C57_excepthook_that_throws_is_reported) {
  Watchdog wd("C57");
  spindle::set_excepthook(
      [](const spindle::ExceptHookArgs&) { throw std::logic_error("hook broke"); });
  testing::internal::CaptureStderr();
  spindle::Thread t([] { throw std::runtime_error("body broke"); });
  t.start();
  t.join();
  const std::string err = testing::internal::GetCapturedStderr();
  spindle::set_excepthook(nullptr);
  EXPECT_NE(err.find("Exception in threading.excepthook:"), std::string::npos) << err;
  EXPECT_NE(err.find("hook broke"), std::string::npos) << err;
  // The process goes on: threads still work.
  spindle::Thread u([] {});
  u.start();
  u.join();
}

TEST(Thread, C58_default_names_count_up) {
  spindle::Thread a([] {});
  spindle::Thread b([] {});
  spindle::Thread c({.name = "custom"}, [] {});
  spindle::Thread d([] {});
  ASSERT_EQ(a.name().rfind("Thread-", 0), 0u);
  const long na = std::stol(a.name().substr(7));
  EXPECT_GE(na, 1);
  EXPECT_EQ(b.name(), "Thread-" + std::to_string(na + 1));
  EXPECT_EQ(c.name(), "custom");
  EXPECT_EQ(d.name(), "Thread-" + std::to_string(na + 2));
  d.set_name("renamed");
  EXPECT_EQ(d.name(), "renamed");
}

TEST(Thread, C58_daemon_inherited_from_creator) {
  Watchdog wd("C58 daemon");
  EXPECT_FALSE(spindle::main_thread().daemon());
  spindle::Thread plain([] {});
  EXPECT_FALSE(plain.daemon());
  bool child_daemon = false, child_override = true;
  spindle::Thread d({.daemon = true}, [&] {
    spindle::Thread inner([] {});
    spindle::Thread explicit_inner({.daemon = false}, [] {});
    child_daemon = inner.daemon();
    child_override = explicit_inner.daemon();
  });
  d.start();
  d.join();
  EXPECT_TRUE(child_daemon);
  EXPECT_FALSE(child_override);
  bool foreign_default = false;
  std::thread([&] { foreign_default = spindle::Thread([] {}).daemon(); }).join();
  EXPECT_TRUE(foreign_default);  // created on a foreign (dummy, daemon) thread
}

TEST(Thread, C59_ident_and_native_id_unset_before_start_kept_after) {
  Watchdog wd("C59");
  std::uint64_t inside_ident = 0;
  long inside_native = 0;
  spindle::Thread t([&] {
    inside_ident = spindle::get_ident();
    inside_native = spindle::get_native_id();
  });
  EXPECT_FALSE(t.ident().has_value());
  EXPECT_FALSE(t.native_id().has_value());
  t.start();
  EXPECT_TRUE(t.ident().has_value());
  const auto native_running = t.native_id();  // may wait for the thread to publish it
  t.join();
  ASSERT_TRUE(t.ident().has_value());
  ASSERT_TRUE(t.native_id().has_value());
  EXPECT_EQ(*t.ident(), inside_ident);
  EXPECT_EQ(*t.native_id(), inside_native);
  EXPECT_EQ(native_running, t.native_id());
  EXPECT_NE(inside_native, spindle::get_native_id());
  EXPECT_EQ(spindle::main_thread().ident(), spindle::get_ident());
  EXPECT_EQ(spindle::main_thread().native_id(), spindle::get_native_id());
}

TEST(Thread, C60_enumerate_lists_alive_threads_main_daemon_and_foreign) {
  Watchdog wd("C60");
  Gate gate;
  spindle::Thread worker({.name = "c60-worker"}, [&gate] { gate.pass(); });
  spindle::Thread daemon({.name = "c60-daemon", .daemon = true}, [&gate] { gate.pass(); });
  worker.start();
  daemon.start();
  std::atomic<int> foreign_phase{0};
  std::thread foreign([&] {
    spindle::current_thread().set_name("c60-foreign");
    foreign_phase = 1;
    while (foreign_phase.load() != 2) std::this_thread::yield();
  });
  while (foreign_phase.load() != 1) std::this_thread::yield();

  auto names = [] {
    std::vector<std::string> out;
    for (auto& t : spindle::enumerate()) out.push_back(t->name());
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  auto now = names();
  EXPECT_TRUE(has(now, "MainThread"));
  EXPECT_TRUE(has(now, "c60-worker"));
  EXPECT_TRUE(has(now, "c60-daemon"));
  EXPECT_TRUE(has(now, "c60-foreign"));
  EXPECT_EQ(spindle::active_count(), spindle::enumerate().size());
  const std::size_t before = spindle::active_count();

  foreign_phase = 2;
  foreign.join();  // its thread_local clean-up ran: no longer alive
  gate.open();
  worker.join();
  daemon.join();
  now = names();
  EXPECT_FALSE(has(now, "c60-worker"));
  EXPECT_FALSE(has(now, "c60-daemon"));
  EXPECT_FALSE(has(now, "c60-foreign"));
  EXPECT_TRUE(has(now, "MainThread"));
  EXPECT_EQ(spindle::active_count(), before - 3);
}

// ---------------------------------------------------------------- handles and arguments

TEST(Thread, arguments_are_decay_copied_and_ref_shares) {
  Watchdog wd("args");
  int shared = 0;
  std::string copied = "original";
  auto owned = std::make_unique<int>(5);
  int seen_owned = 0;
  spindle::Thread t(
      [&seen_owned](int& s, std::string c, std::unique_ptr<int> p) {
        s = 42;
        c += "-changed";
        seen_owned = *p;
      },
      std::ref(shared), copied, std::move(owned));
  t.start();
  t.join();
  EXPECT_EQ(shared, 42);
  EXPECT_EQ(copied, "original");
  EXPECT_EQ(seen_owned, 5);
}

TEST(Thread, target_and_arguments_destroyed_before_join_returns) {
  Watchdog wd("target lifetime");
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> watch = token;
  spindle::Thread t([](std::shared_ptr<int>) {}, std::move(token));
  t.start();
  t.join();
  EXPECT_TRUE(watch.expired());
}

TEST(Thread, dropping_a_handle_neither_joins_nor_kills) {
  Watchdog wd("drop handle");
  Gate gate;
  std::atomic<bool> finished{false};
  std::shared_ptr<spindle::Thread> kept;
  {
    spindle::Thread t({.name = "dropped"}, [&] {
      gate.pass();
      finished = true;
    });
    t.start();
  }  // handle gone, thread still runs (seed 003's server)
  std::shared_ptr<spindle::Thread> found;
  for (auto& h : spindle::enumerate())
    if (h->name() == "dropped") found = h;
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->is_alive());
  gate.open();
  found->join();
  EXPECT_TRUE(finished);
}

TEST(Thread, current_thread_in_a_target_thread_equals_its_handle) {
  Watchdog wd("current");
  bool same = false;
  std::string name;
  spindle::Thread* handle = nullptr;
  spindle::Thread t({.name = "me"}, [&] {
    same = spindle::current_thread() == *handle;
    name = spindle::current_thread().name();
  });
  handle = &t;
  t.start();
  t.join();
  EXPECT_TRUE(same);
  EXPECT_EQ(name, "me");
  EXPECT_TRUE(spindle::current_thread() == spindle::main_thread());
  EXPECT_EQ(spindle::main_thread().name(), "MainThread");
}

TEST(Thread, vector_of_threads_moves_handles) {
  Watchdog wd("vector");
  std::atomic<int> sum{0};
  std::vector<spindle::Thread> threads;
  for (int i = 1; i <= 10; ++i) threads.emplace_back([&sum](int v) { sum += v; }, i);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), 55);
  spindle::Thread moved(std::move(threads[0]));
  EXPECT_FALSE(moved.is_alive());
  EXPECT_THROW((void)threads[0].name(), spindle::RuntimeError);  // moved from
}

TEST(Thread, stack_size_validated_and_used) {
  Watchdog wd("stack_size");
  EXPECT_EQ(spindle::stack_size(), 0u);
  try {
    spindle::stack_size(1000);
    FAIL() << "no exception";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "size not valid: 1000 bytes");
  }
  EXPECT_EQ(spindle::stack_size(256 * 1024), 0u);
  std::size_t got = 0;
  spindle::Thread t([&got] {
    pthread_attr_t attr;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstacksize(&attr, &got);
    pthread_attr_destroy(&attr);
  });
  t.start();
  t.join();
  EXPECT_EQ(spindle::stack_size(0), 256u * 1024);
  EXPECT_GE(got, 256u * 1024);
  EXPECT_LT(got, 1024u * 1024);
}

TEST(Thread, os_thread_name_is_set_truncated) {
  Watchdog wd("os name");
  char buf[32] = {};
  spindle::Thread t({.name = "a-very-long-thread-name"},
                    [&buf] { pthread_getname_np(pthread_self(), buf, sizeof buf); });
  t.start();
  t.join();
  EXPECT_STREQ(buf, "a-very-long-thr");
}

// ---------------------------------------------------------------- subclasses

namespace {
class Counter : public spindle::Thread {
 public:
  explicit Counter(int n) : Thread({.name = "counter"}), n_(n) {}
  int total = 0;
  bool saw_self = false;

 protected:
  void run() override {
    saw_self = &spindle::current_thread() == this;
    for (int i = 1; i <= n_; ++i) total += i;
  }

 private:
  int n_;
};

class Parked : public spindle::Thread {
 public:
  explicit Parked(Gate& g, std::atomic<bool>& done) : gate_(g), done_(done) {}
  ~Parked() override { alive_flag = false; }
  bool alive_flag = true;

 protected:
  void run() override {
    gate_.pass();
    done_ = alive_flag;  // the object is still alive here
  }

 private:
  Gate& gate_;
  std::atomic<bool>& done_;
};
}  // namespace

TEST(Thread, subclass_run_override_runs_on_the_object) {
  Watchdog wd("subclass");
  Counter c(100);
  c.start();
  c.join();
  EXPECT_EQ(c.total, 5050);
  EXPECT_TRUE(c.saw_self);
  EXPECT_EQ(c.name(), "counter");
}

TEST(Thread, make_thread_keeps_a_dropped_subclass_alive_until_run_returns) {
  Watchdog wd("make_thread");
  Gate gate;
  std::atomic<bool> done{false};
  std::weak_ptr<Parked> watch;
  spindle::Thread* raw = nullptr;
  {
    auto p = spindle::make_thread<Parked>(gate, done);
    watch = p;
    raw = p.get();
    p->start();
  }  // dropped while run() waits
  EXPECT_FALSE(watch.expired());
  (void)raw;
  gate.open();
  std::shared_ptr<spindle::Thread> found;
  while (!done.load()) std::this_thread::yield();
  EXPECT_TRUE(done.load());
  while (!watch.expired()) std::this_thread::yield();  // released by its thread after run()
}

namespace {
// Touches no member in run(): by the time ~Thread joins, the derived part is
// already destroyed (the documented limit of the misuse report).
Gate* g_misuse_gate = nullptr;
std::atomic<bool> g_misuse_done{false};
class Misused : public spindle::Thread {
 protected:
  void run() override {
    g_misuse_gate->pass();
    g_misuse_done = true;
  }
};
}  // namespace

TEST(Thread, destroying_a_running_plain_subclass_reports_and_joins) {
  Watchdog wd("subclass misuse");
  Gate gate;
  g_misuse_gate = &gate;
  std::atomic<bool>& done = g_misuse_done;
  // Opens the gate once the destroying thread (main) is parked in the join.
  std::thread opener([&gate] {
    for (;;) {
      auto w = spindle::main_thread().waiting_on();
      if (w && std::string(w->kind) == "Thread.join") break;
      std::this_thread::yield();
    }
    gate.open();
  });
  testing::internal::CaptureStderr();
  {
    Misused p;
    p.set_name("misused");
    p.start();
    while (p.state() != spindle::ThreadState::blocked) std::this_thread::yield();
  }
  const std::string err = testing::internal::GetCapturedStderr();
  opener.join();
  EXPECT_TRUE(done.load());
  EXPECT_NE(err.find("Thread 'misused' (a Thread subclass) destroyed while its run() executes"),
            std::string::npos)
      << err;
}

TEST(Thread, moving_a_running_subclass_object_throws) {
  Watchdog wd("move running subclass");
  Gate gate;
  std::atomic<bool> done{false};
  Parked p(gate, done);
  p.start();
  EXPECT_THROW(spindle::Thread moved(std::move(p)), spindle::RuntimeError);
  gate.open();
  p.join();
}

// ---------------------------------------------------------------- state and diagnostics

TEST(Thread, lifecycle_states_and_what_a_blocked_thread_waits_on) {
  Watchdog wd("states");
  Gate gate;
  spindle::Thread t({.name = "stateful"}, [&gate] { gate.pass(); });
  EXPECT_EQ(t.state(), spindle::ThreadState::new_);
  EXPECT_STREQ(spindle::to_string(t.state()), "new");
  t.start();
  const auto s = t.state();
  EXPECT_TRUE(s == spindle::ThreadState::ready || s == spindle::ThreadState::running ||
              s == spindle::ThreadState::blocked);
  wait_blocked(t);
  auto w = t.waiting_on();
  ASSERT_TRUE(w.has_value());
  EXPECT_STREQ(w->kind, "Lock");
  EXPECT_EQ(w->object, &gate.lock);
  const std::string dump = spindle::dump_threads();
  EXPECT_NE(dump.find("\"stateful\""), std::string::npos) << dump;
  EXPECT_NE(dump.find("state=blocked on Lock"), std::string::npos) << dump;
  EXPECT_NE(dump.find("\"MainThread\""), std::string::npos) << dump;
  gate.open();
  t.join();
  EXPECT_EQ(t.state(), spindle::ThreadState::terminated);
  EXPECT_FALSE(t.waiting_on().has_value());
}

TEST(Thread, joining_thread_shows_as_blocked_on_thread_join) {
  Watchdog wd("join state");
  Gate gate;
  spindle::Thread target([&gate] { gate.pass(); });
  target.start();
  spindle::Thread joiner([&target] { target.join(); });
  joiner.start();
  wait_blocked(joiner);
  EXPECT_STREQ(joiner.waiting_on()->kind, "Thread.join");
  gate.open();
  joiner.join();
  EXPECT_FALSE(target.is_alive());
}

TEST(Thread, foreign_thread_gets_a_daemon_dummy) {
  Watchdog wd("dummy");
  std::string name;
  bool daemon = false, alive = false, join_threw = false;
  std::optional<long> nid;
  std::thread([&] {
    spindle::Thread& me = spindle::current_thread();
    name = me.name();
    daemon = me.daemon();
    alive = me.is_alive();
    nid = me.native_id();
    try {
      me.join();
    } catch (const spindle::RuntimeError&) {
      join_threw = true;
    }
    EXPECT_EQ(&me, &spindle::current_thread());
    EXPECT_EQ(me.state(), spindle::ThreadState::running);
  }).join();
  EXPECT_EQ(name.rfind("Dummy-", 0), 0u) << name;
  EXPECT_TRUE(daemon);
  EXPECT_TRUE(alive);
  EXPECT_TRUE(nid.has_value());
  EXPECT_TRUE(join_threw);
}

TEST(Thread, exception_with_pthread_exit_unwinds_cleanly) {
  Watchdog wd("pthread_exit");
  spindle::Thread t([] { pthread_exit(nullptr); });
  t.start();
  t.join();
  EXPECT_FALSE(t.is_alive());
}

// ---------------------------------------------------------------- join reaps the OS thread

namespace {
bool task_exists(long tid) {
  return access(("/proc/self/task/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

long status_field(const char* key) {  // a number from /proc/self/status
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = key;
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::stol(line.substr(k.size()));
  return -1;
}
}  // namespace

// As Python 3.13 (and std::thread): join() returns once the OS thread is
// gone, so a start right after a join never finds it still counted.
TEST(Thread, join_returns_after_the_os_thread_is_gone) {
  Watchdog wd("join reaps");
  for (int i = 0; i < 200; ++i) {
    spindle::Thread t([] {});
    t.start();
    const long tid = *t.native_id();
    if (i % 2 == 0) {
      t.join();
    } else {
      ASSERT_TRUE(t.join(60s));
    }
    ASSERT_FALSE(task_exists(tid)) << "cycle " << i;
    t.join();  // again: returns at once
    EXPECT_TRUE(t.join(0s));
  }
}

TEST(Thread, concurrent_joins_all_return_after_the_os_thread_is_gone) {
  Watchdog wd("concurrent joins");
  for (int round = 0; round < 20; ++round) {
    Gate gate;
    spindle::Thread target([&gate] { gate.pass(); });
    target.start();
    const long tid = *target.native_id();
    std::atomic<int> gone_after_join{0};
    std::vector<spindle::Thread> joiners;
    for (int j = 0; j < 4; ++j) {
      joiners.emplace_back([&, j] {
        if (j % 2 == 0) {
          target.join();
        } else {
          while (!target.join(1ms)) {
          }
        }
        if (!task_exists(tid)) ++gone_after_join;
      });
    }
    for (auto& j : joiners) j.start();
    for (auto& j : joiners)
      while (j.state() == spindle::ThreadState::ready) std::this_thread::yield();
    gate.open();
    target.join();
    EXPECT_FALSE(task_exists(tid));
    for (auto& j : joiners) j.join();
    EXPECT_EQ(gone_after_join.load(), 4);
  }
}

// A thread whose handles are all dropped without a join is detached when
// its last reference goes (by its own end or by the last handle), so its
// stack is reclaimed: 200 leaked 8 MiB stacks would add 1.6 GB of address
// space.
TEST(Thread, threads_dropped_unjoined_are_reaped) {
  Watchdog wd("dropped threads reaped", std::chrono::seconds(300));
  const long threads_before = status_field("Threads:");
  std::atomic<int> finished{0};
  auto wait_all_gone = [&](int n) {
    while (finished.load() != n) std::this_thread::yield();
    while (status_field("Threads:") > threads_before) std::this_thread::yield();
  };
  // Warm up glibc's stack cache.
  for (int i = 0; i < 8; ++i) {
    spindle::Thread t([&finished] { ++finished; });
    t.start();
  }
  wait_all_gone(8);
  finished = 0;
  const long vm_before = status_field("VmSize:");
  constexpr int kEach = 100;
  // Dropped while running: the thread's own last reference detaches it.
  for (int i = 0; i < kEach; ++i) {
    spindle::Thread t([&finished] { ++finished; });
    t.start();
  }
  wait_all_gone(kEach);
  // Dropped after the thread ended: the last handle detaches it.
  {
    std::vector<spindle::Thread> kept;
    for (int i = 0; i < kEach; ++i) {
      kept.emplace_back([&finished] { ++finished; });
      kept.back().start();
    }
    wait_all_gone(2 * kEach);
  }
  const long vm_after = status_field("VmSize:");
  EXPECT_LT(vm_after - vm_before, 400L * 1024) << "kB of address space kept by unjoined threads";
}

// ---------------------------------------------------------------- process exit (C61)

#ifdef SPINDLE_THREAD_EXIT_HELPER
namespace {
struct ChildResult {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ChildResult run_helper(const std::string& mode) {
  const std::string dir = testing::TempDir();
  const std::string out = dir + "spindle_exit_" + mode + ".out";
  const std::string err = dir + "spindle_exit_" + mode + ".err";
  const std::string cmd = std::string("'") + SPINDLE_THREAD_EXIT_HELPER + "' " + mode + " >'" +
                          out + "' 2>'" + err + "'";
  ChildResult r;
  const int rc = std::system(cmd.c_str());
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + (WIFSIGNALED(rc) ? WTERMSIG(rc) : 0);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}
}  // namespace

TEST(ThreadExit, C61_non_daemon_thread_running_at_exit_finishes) {
  Watchdog wd("C61 non-daemon");
  const ChildResult r = run_helper("nondaemon");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("main returns\nworker finished\n"), std::string::npos) << r.out;
}

TEST(ThreadExit, C61_daemon_thread_sleeping_at_exit_is_abandoned) {
  Watchdog wd("C61 daemon");
  const ChildResult r = run_helper("daemon");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("main returns"), std::string::npos) << r.out;
  // Had exit waited for the daemon, its line would be there: the output is
  // the proof, not how long the child took.
  EXPECT_EQ(r.out.find("daemon printed"), std::string::npos) << r.out;
}

TEST(ThreadExit, C61_forty_busy_daemons_do_not_crash_the_exit) {
  Watchdog wd("C61 busy daemons", std::chrono::seconds(300));
  for (int i = 0; i < 3; ++i) {
    const ChildResult r = run_helper("busy");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("40 daemons busy"), std::string::npos) << r.out;
  }
}

TEST(ThreadExit, C56_exception_in_thread_keeps_exit_status) {
  Watchdog wd("C56 exit");
  const ChildResult r = run_helper("exception");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("Exception in thread Thread-1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("boom"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("main returns"), std::string::npos) << r.out;
}

TEST(ThreadExit, C58_first_default_name_is_Thread_1) {
  Watchdog wd("C58 exit");
  const ChildResult r = run_helper("names");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Thread-1\nThread-2\nnamed\nThread-3\n");
}

TEST(ThreadExit, C61_atexit_callbacks_run_before_the_join_newest_first) {
  Watchdog wd("C61 atexit");
  const ChildResult r = run_helper("atexit");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "main returns\nsecond callback\nlate register: can't register atexit after shutdown\n"
            "first callback\nworker saw callbacks\n")
      << r.out;
}

TEST(ThreadExit, C61_std_exit_joins_non_daemon_threads_and_keeps_status) {
  Watchdog wd("C61 exit()");
  const ChildResult r = run_helper("exit");
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_NE(r.out.find("worker finished"), std::string::npos) << r.out;
}

TEST(ThreadExit, C61_threads_started_during_the_exit_join_are_joined_too) {
  Watchdog wd("C61 chain");
  const ChildResult r = run_helper("chain");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("link 5 done"), std::string::npos) << r.out;
}
#endif

#if !defined(SPINDLE_TEST_SANITIZED)
TEST(Thread, failed_start_throws_and_leaves_the_thread_unstarted) {
  Watchdog wd("failed start");
  const std::size_t before = spindle::active_count();
  spindle::stack_size(std::size_t{1} << 46);  // 64 TiB: the stack mmap fails
  spindle::Thread t([] {});
  try {
    t.start();
    spindle::stack_size(0);
    t.join();
    GTEST_SKIP() << "the OS granted a 64 TiB stack";
  } catch (const spindle::RuntimeError& e) {
    spindle::stack_size(0);
    EXPECT_STREQ(e.what(), "can't start new thread");
  }
  EXPECT_FALSE(t.is_alive());
  EXPECT_EQ(t.state(), spindle::ThreadState::new_);
  EXPECT_EQ(spindle::active_count(), before);
  t.start();  // may be started again once the OS allows it
  t.join();
}
#endif
