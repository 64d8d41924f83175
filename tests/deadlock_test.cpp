// Deadlock diagnostics (spindle/deadlock.hpp): cycles named when the last
// thread blocks, find_deadlocks(), the policies, lock-order checking and the
// thread dump on SIGQUIT.
//
// Every cycle is built in a fixed order: each thread but the last is seen
// blocked (Thread::waiting_on names the object) before the next one moves,
// so the thread that closes the cycle is known. No sleeps; timeouts are
// hang guards, except in the test where a timeout is what ends the wait.
#include "spindle/deadlock.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "spindle/barrier.hpp"
#include "spindle/condition.hpp"
#include "spindle/event.hpp"
#include "spindle/futures.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"
#include "threads.hpp"

// The fork test starts threads in the child of a multi-threaded parent.
// TSan looks this function up by its reserved name.
extern "C" const char* __tsan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "die_after_fork=0";
}

using namespace std::chrono_literals;
using spindle::Deadlock;
using spindle::DeadlockError;
using spindle::DeadlockPolicy;
using spindle::Lock;
using spindle::RLock;
using spindle::Thread;

namespace {

// Sets the policy for one test and restores the default after it.
class PolicyScope {
 public:
  explicit PolicyScope(DeadlockPolicy p) : previous_(spindle::set_deadlock_policy(p)) {}
  ~PolicyScope() {
    spindle::set_deadlock_policy(previous_);
    spindle::set_deadlock_hook({});
  }
  PolicyScope(const PolicyScope&) = delete;
  PolicyScope& operator=(const PolicyScope&) = delete;

 private:
  DeadlockPolicy previous_;
};

// Lock-order checking on for one test, with violations collected.
class OrderScope {
 public:
  OrderScope() {
    spindle::set_lock_order_hook([this](const spindle::LockOrderViolation& v) {
      std::scoped_lock g(mutex_);
      seen_.push_back(v);
    });
    spindle::set_lock_order_checking(true);
  }
  ~OrderScope() {
    spindle::set_lock_order_checking(false);
    spindle::set_lock_order_hook({});
  }
  OrderScope(const OrderScope&) = delete;
  OrderScope& operator=(const OrderScope&) = delete;
  std::vector<spindle::LockOrderViolation> seen() const {
    std::scoped_lock g(mutex_);
    return seen_;
  }

 private:
  mutable std::mutex mutex_;  // the hook's own lock operations are not checked anyway
  std::vector<spindle::LockOrderViolation> seen_;
};

using spindle_test::eventually;

// Returns once `t` is parked on `object` (as Thread::waiting_on reports).
void wait_blocked_on(const Thread& t, const void* object) {
  eventually([&] {
    const auto w = t.waiting_on();
    return w && w->object == object;
  });
}

// Returns once `t` is parked in a wait of `kind` ("Thread.join", ...).
void wait_blocked_in(const Thread& t, const char* kind) {
  eventually([&] {
    const auto w = t.waiting_on();
    return w && std::string(w->kind) == kind;
  });
}

// N threads in a ring: thread i acquires lock i, then lock i+1 (mod N). They
// move one at a time; the last closes the cycle.
struct RingResult {
  int raised = 0;
  int raiser = -1;
  std::string message;
  Deadlock cycle;
  int completed = 0;
};

RingResult run_ring(int n) {
  std::vector<std::unique_ptr<Lock>> locks;
  std::vector<std::unique_ptr<spindle::Event>> go;
  for (int i = 0; i < n; ++i) {
    locks.push_back(std::make_unique<Lock>());
    go.push_back(std::make_unique<spindle::Event>());
  }
  spindle::Barrier all_hold(n + 1);
  RingResult r;
  std::mutex m;
  std::vector<std::unique_ptr<Thread>> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.push_back(std::make_unique<Thread>(
        spindle::ThreadOptions{.name = "philosopher-" + std::to_string(i)}, [&, i] {
          Lock& mine = *locks[static_cast<std::size_t>(i)];
          Lock& next = *locks[static_cast<std::size_t>((i + 1) % n)];
          mine.acquire();
          (void)all_hold.wait();
          go[static_cast<std::size_t>(i)]->wait();
          try {
            next.acquire();
            next.release();
            std::scoped_lock g(m);
            ++r.completed;
          } catch (const DeadlockError& e) {
            std::scoped_lock g(m);
            ++r.raised;
            r.raiser = i;
            r.message = e.what();
            r.cycle = e.deadlock();
          }
          mine.release();
        }));
  }
  for (auto& t : threads) t->start();
  (void)all_hold.wait();
  EXPECT_TRUE(spindle::find_deadlocks().empty());
  for (int i = 0; i + 1 < n; ++i) {
    go[static_cast<std::size_t>(i)]->set();
    wait_blocked_on(*threads[static_cast<std::size_t>(i)],
                    locks[static_cast<std::size_t>(i) + 1].get());
  }
  EXPECT_TRUE(spindle::find_deadlocks().empty()) << "a chain is not a cycle";
  go[static_cast<std::size_t>(n - 1)]->set();
  for (auto& t : threads) t->join();
  // The cycle, as seen by the last thread: it, then 0, 1, ..., n-2.
  EXPECT_EQ(r.cycle.threads.size(), static_cast<std::size_t>(n));
  for (int k = 0; k < n && static_cast<std::size_t>(k) < r.cycle.threads.size(); ++k) {
    const int who = (n - 1 + k) % n;
    const spindle::DeadlockedThread& t = r.cycle.threads[static_cast<std::size_t>(k)];
    EXPECT_EQ(t.name, "philosopher-" + std::to_string(who));
    EXPECT_STREQ(t.waits_kind, "Lock");
    EXPECT_EQ(t.waits_for, locks[static_cast<std::size_t>((who + 1) % n)].get());
    EXPECT_STREQ(t.holds_kind, "Lock");
    EXPECT_EQ(t.holds, locks[static_cast<std::size_t>(who)].get());
    EXPECT_EQ(t.ident, threads[static_cast<std::size_t>(who)]->ident().value_or(0));
  }
  for (auto& l : locks) EXPECT_FALSE(l->locked());
  EXPECT_TRUE(spindle::find_deadlocks().empty());
  return r;
}

}  // namespace

TEST(DeadlockError, is_a_runtime_error_and_names_no_cycle_by_default) {
  const DeadlockError e("made by hand");
  const spindle::RuntimeError& base = e;
  EXPECT_STREQ(base.what(), "made by hand");
  EXPECT_TRUE(e.deadlock().threads.empty());
  EXPECT_EQ(spindle::deadlock_policy(), DeadlockPolicy::raise) << "raise is the default";
}

TEST(Deadlock, two_locks_in_opposite_orders_the_last_to_block_throws) {
  spindle_test::Watchdog wd("two locks");
  Lock a, b;
  spindle::Event a_held, b_held;
  bool t1_got_b = false;
  std::optional<DeadlockError> error;
  Thread t1({.name = "worker_1"}, [&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    b.acquire();  // parks: worker_2 holds b
    t1_got_b = true;
    b.release();
    a.release();
  });
  Thread t2({.name = "worker_2"}, [&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t1, &b);
    try {
      a.acquire();
      a.release();
    } catch (const DeadlockError& e) {
      error = e;
    }
    b.release();
  });
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(t1_got_b) << "worker_1 goes on once worker_2 lets go of b";
  const Deadlock& d = error->deadlock();
  ASSERT_EQ(d.threads.size(), 2U);
  EXPECT_EQ(d.threads[0].name, "worker_2");
  EXPECT_EQ(d.threads[0].holds, &b);
  EXPECT_EQ(d.threads[0].waits_for, &a);
  EXPECT_EQ(d.threads[1].name, "worker_1");
  EXPECT_EQ(d.threads[1].holds, &a);
  EXPECT_EQ(d.threads[1].waits_for, &b);
  const std::string what = error->what();
  EXPECT_NE(what.find("thread \"worker_2\" would wait forever"), std::string::npos) << what;
  EXPECT_NE(what.find("thread \"worker_1\" holds Lock"), std::string::npos) << what;
  EXPECT_NE(what.find("held by \"worker_2\""), std::string::npos) << what;
  EXPECT_FALSE(a.locked());
  EXPECT_FALSE(b.locked());
}

TEST(Deadlock, cycle_of_three_threads) {
  spindle_test::Watchdog wd("ring of 3");
  const RingResult r = run_ring(3);
  EXPECT_EQ(r.raised, 1);
  EXPECT_EQ(r.raiser, 2);
  EXPECT_EQ(r.completed, 2);
  EXPECT_NE(r.message.find("a cycle of 3 threads"), std::string::npos) << r.message;
}

TEST(Deadlock, dining_philosophers_five_threads) {
  spindle_test::Watchdog wd("ring of 5");
  const RingResult r = run_ring(5);
  EXPECT_EQ(r.raised, 1);
  EXPECT_EQ(r.raiser, 4);
  EXPECT_EQ(r.completed, 4) << "once the last one puts its fork down, everyone else eats";
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(r.message.find("\"philosopher-" + std::to_string(i) + "\""), std::string::npos)
        << r.message;
  }
}

TEST(Deadlock, join_cycle) {
  spindle_test::Watchdog wd("join cycle");
  std::unique_ptr<Thread> t1, t2;
  spindle::Event both_made;
  std::optional<DeadlockError> error;
  t1 = std::make_unique<Thread>(spindle::ThreadOptions{.name = "joiner-1"}, [&] {
    both_made.wait();
    t2->join();
  });
  t2 = std::make_unique<Thread>(spindle::ThreadOptions{.name = "joiner-2"}, [&] {
    both_made.wait();
    wait_blocked_in(*t1, "Thread.join");
    try {
      t1->join();
    } catch (const DeadlockError& e) {
      error = e;
    }
  });
  t1->start();
  t2->start();
  both_made.set();
  t1->join();  // returns: joiner-2 threw and ended
  t2->join();
  ASSERT_TRUE(error.has_value());
  const Deadlock& d = error->deadlock();
  ASSERT_EQ(d.threads.size(), 2U);
  EXPECT_EQ(d.threads[0].name, "joiner-2");
  EXPECT_STREQ(d.threads[0].waits_kind, "Thread.join");
  EXPECT_STREQ(d.threads[0].holds_kind, "Thread");
  EXPECT_EQ(d.threads[1].name, "joiner-1");
  EXPECT_STREQ(d.threads[1].waits_kind, "Thread.join");
  const std::string what = error->what();
  EXPECT_NE(what.find("thread \"joiner-1\" waits for thread \"joiner-2\" to end (join)"),
            std::string::npos)
      << what;
}

TEST(Deadlock, join_and_rlock_in_one_cycle) {
  spindle_test::Watchdog wd("join + rlock");
  RLock lock;
  std::unique_ptr<Thread> worker;
  std::optional<DeadlockError> error;
  spindle::Event made;
  // main holds `lock` and joins the worker; the worker wants `lock`.
  lock.acquire();
  worker = std::make_unique<Thread>(spindle::ThreadOptions{.name = "worker"}, [&] {
    made.wait();
    wait_blocked_in(spindle::main_thread(), "Thread.join");
    try {
      lock.acquire();
      lock.release();
    } catch (const DeadlockError& e) {
      error = e;
    }
  });
  worker->start();
  made.set();
  worker->join();
  lock.release();
  ASSERT_TRUE(error.has_value());
  ASSERT_EQ(error->deadlock().threads.size(), 2U);
  EXPECT_EQ(error->deadlock().threads[0].name, "worker");
  EXPECT_EQ(error->deadlock().threads[1].name, "MainThread");
  EXPECT_STREQ(error->deadlock().threads[1].waits_kind, "Thread.join");
}

TEST(Deadlock, a_lock_used_as_a_gate_that_a_third_thread_opens_is_not_a_cycle) {
  spindle_test::Watchdog wd("gate");
  // Python's idiom: a Lock acquired up front as a closed gate, a worker that
  // passes it, another thread that opens it - while the acquirer joins the
  // worker. Not a deadlock: the acquirer is not the one to release it.
  spindle_test::Gate gate;  // its Lock, acquired by this thread
  bool passed = false;
  Thread worker({.name = "passer"}, [&] {
    gate.pass();
    passed = true;
  });
  Thread opener({.name = "opener"}, [&] {
    wait_blocked_in(spindle::main_thread(), "Thread.join");
    gate.open();
  });
  worker.start();
  wait_blocked_on(worker, &gate.lock);
  opener.start();
  EXPECT_NO_THROW(worker.join());
  opener.join();
  EXPECT_TRUE(passed);
}

TEST(Deadlock, rlock_held_recursively_is_in_the_cycle) {
  spindle_test::Watchdog wd("rlock");
  RLock r;
  Lock l;
  spindle::Event r_held, l_held;
  std::optional<DeadlockError> error;
  bool t1_done = false;
  Thread t1({.name = "rlock-holder"}, [&] {
    r.acquire();
    r.acquire();  // twice: a re-entry never waits
    r_held.set();
    l_held.wait();
    l.acquire();
    l.release();
    r.release();
    r.release();
    t1_done = true;
  });
  Thread t2({.name = "rlock-wanter"}, [&] {
    l.acquire();
    l_held.set();
    r_held.wait();
    wait_blocked_on(t1, &l);
    try {
      r.acquire();
      r.release();
    } catch (const DeadlockError& e) {
      error = e;
    }
    l.release();
  });
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(t1_done);
  const Deadlock& d = error->deadlock();
  ASSERT_EQ(d.threads.size(), 2U);
  EXPECT_EQ(d.threads[0].name, "rlock-wanter");
  EXPECT_EQ(d.threads[0].waits_for, static_cast<const void*>(&r))
      << "an RLock's Lock is its first member";
  EXPECT_EQ(d.threads[1].name, "rlock-holder");
  EXPECT_EQ(d.threads[1].holds, static_cast<const void*>(&r));
  EXPECT_FALSE(r.locked());
}

TEST(Deadlock, cycle_through_a_timed_wait_dissolves_without_error) {
  spindle_test::Watchdog wd("timed wait");
  Lock a, b;
  spindle::Event a_held, b_held;
  bool timed_out = false;
  bool t2_got_a = false;
  bool any_error = false;
  Thread t1({.name = "patient"}, [&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    try {
      timed_out = !b.acquire(1s);  // b is held by t2, which waits for a: the time runs out
      if (!timed_out) b.release();
    } catch (const DeadlockError&) {
      any_error = true;
    }
    a.release();
  });
  Thread t2({.name = "untimed"}, [&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t1, &b);
    try {
      a.acquire();  // would close a cycle, but t1's wait ends by itself
      t2_got_a = true;
      a.release();
    } catch (const DeadlockError&) {
      any_error = true;
    }
    b.release();
  });
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  EXPECT_FALSE(any_error) << "a cycle with a timed wait in it is not a deadlock";
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(t2_got_a);
}

TEST(Deadlock, timed_acquire_that_closes_a_cycle_never_throws) {
  spindle_test::Watchdog wd("timed closer");
  Lock a, b;
  spindle::Event a_held, b_held;
  bool closer_timed_out = false;
  Thread t1({.name = "untimed"}, [&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    b.acquire();
    b.release();
    a.release();
  });
  Thread t2({.name = "timed"}, [&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t1, &b);
    closer_timed_out = !a.acquire(50ms);  // a cycle for 50 ms; no DeadlockError
    b.release();
  });
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  EXPECT_TRUE(closer_timed_out);
}

TEST(Deadlock, a_thread_waiting_for_a_lock_it_acquired_itself_is_not_a_cycle) {
  spindle_test::Watchdog wd("self hand-off");
  Lock signal;
  signal.acquire();
  Thread releaser({.name = "releaser"}, [&] {
    wait_blocked_on(spindle::main_thread(), &signal);
    signal.release();  // a Lock used as a binary semaphore
  });
  releaser.start();
  EXPECT_NO_THROW(signal.acquire());
  signal.release();
  releaser.join();
}

TEST(Deadlock, condition_reacquire_that_closes_a_cycle_makes_the_other_thread_throw) {
  spindle_test::Watchdog wd("condition");
  Lock m, lk;
  spindle::Condition cond(lk);
  spindle::Event waiting;
  bool t1_woke = false;
  std::optional<DeadlockError> error;
  Thread t1({.name = "waiter"}, [&] {
    m.acquire();
    lk.acquire();
    waiting.set();
    cond.wait();  // released lk; re-acquires it after the notify, while t2 holds it
    t1_woke = true;
    lk.release();
    m.release();
  });
  Thread t2({.name = "locker"}, [&] {
    waiting.wait();
    lk.acquire();
    try {
      m.acquire();  // parks (t1 holds m); then t1's re-acquire closes the cycle
      m.release();
    } catch (const DeadlockError& e) {
      error = e;
    }
    lk.release();
  });
  t1.start();
  t2.start();
  wait_blocked_on(t2, &m);
  cond.notify();  // a Condition over a Lock may be notified while any thread holds it
  t1.join();
  t2.join();
  ASSERT_TRUE(error.has_value()) << "the thread in a plain acquire() backs out";
  EXPECT_TRUE(t1_woke) << "wait() returned holding its lock";
  const Deadlock& d = error->deadlock();
  ASSERT_EQ(d.threads.size(), 2U);
  EXPECT_EQ(d.threads[0].name, "locker");
  EXPECT_EQ(d.threads[0].waits_for, &m);
  EXPECT_EQ(d.threads[1].name, "waiter");
  EXPECT_EQ(d.threads[1].waits_for, &lk);
}

TEST(Deadlock, pool_shutdown_that_would_close_a_cycle_makes_the_waiting_task_throw) {
  spindle_test::Watchdog wd("pool shutdown");
  RLock lock;
  lock.acquire();
  std::optional<spindle::Future<void>> result;
  {
    spindle::ThreadPoolExecutor pool(1);
    result = pool.submit([&] {
      lock.acquire();  // held by the thread that shuts the pool down
      lock.release();
    });
    eventually([&] {
      for (const auto& t : spindle::enumerate()) {
        const auto w = t->waiting_on();
        if (w && w->object == static_cast<const void*>(&lock)) return true;
      }
      return false;
    });
  }  // ~ThreadPoolExecutor joins the worker: a cycle; the destructor cannot throw
  lock.release();
  EXPECT_THROW(result->result(), DeadlockError) << "the task's acquire() threw instead";
}

TEST(Deadlock, a_wait_made_while_unwinding_never_throws) {
  spindle_test::Watchdog wd("unwinding");
  Lock a, b;
  spindle::Event a_held, b_held;
  bool t2_got_b = false;
  bool t2_error = false;
  bool unwinding_wait_returned = false;
  struct AcquireOnUnwind {
    Lock& lock;
    bool& returned;
    ~AcquireOnUnwind() {
      lock.acquire();  // closes the cycle during unwinding: the other thread throws
      returned = true;
      lock.release();
    }
  };
  Thread t2({.name = "plain"}, [&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    try {
      b.acquire();
      t2_got_b = true;
      b.release();
    } catch (const DeadlockError&) {
      t2_error = true;
    }
    a.release();
  });
  Thread t1({.name = "unwinder"}, [&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t2, &b);
    try {
      const AcquireOnUnwind guard{a, unwinding_wait_returned};
      throw std::runtime_error("leaving");
    } catch (const std::runtime_error&) {
    }
    b.release();
  });
  t2.start();
  t1.start();
  t1.join();
  t2.join();
  EXPECT_TRUE(t2_error) << "the thread in a plain acquire() backs out";
  EXPECT_FALSE(t2_got_b);
  EXPECT_TRUE(unwinding_wait_returned);
}

TEST(Deadlock, report_policy_calls_the_hook_and_find_deadlocks_sees_the_cycle) {
  spindle_test::Watchdog wd("report");
  const PolicyScope policy(DeadlockPolicy::report);
  std::mutex m;
  std::vector<Deadlock> reported;
  spindle::set_deadlock_hook([&](const Deadlock& d) {
    std::scoped_lock g(m);
    reported.push_back(d);
  });
  Lock a, b;
  spindle::Event a_held, b_held;
  Thread t1({.name = "first"}, [&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    b.acquire();
    b.release();  // `a` is released by the main thread (ownerless)
  });
  Thread t2({.name = "second"}, [&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t1, &b);
    a.acquire();  // closes the cycle: reported, then it waits
    a.release();
    b.release();
  });
  t1.start();
  t2.start();
  wait_blocked_on(t2, &a);
  {
    std::scoped_lock g(m);
    ASSERT_EQ(reported.size(), 1U);
    ASSERT_EQ(reported[0].threads.size(), 2U);
    EXPECT_EQ(reported[0].threads[0].name, "second");
  }
  const std::vector<Deadlock> found = spindle::find_deadlocks();
  ASSERT_EQ(found.size(), 1U);
  ASSERT_EQ(found[0].threads.size(), 2U);
  std::vector<std::string> names{found[0].threads[0].name, found[0].threads[1].name};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"first", "second"}));
  const std::string dump = spindle::thread_dump();
  EXPECT_NE(dump.find("Deadlock: a cycle of 2 threads"), std::string::npos) << dump;
  a.release();  // a third thread releases a Lock of the cycle: it dissolves
  t1.join();
  t2.join();
  EXPECT_TRUE(spindle::find_deadlocks().empty());
}

TEST(Deadlock, off_policy_checks_nothing) {
  spindle_test::Watchdog wd("off");
  const PolicyScope policy(DeadlockPolicy::off);
  Lock a, b;
  spindle::Event a_held, b_held;
  bool error = false;
  Thread t1({.name = "first"}, [&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    b.acquire();
    b.release();
  });
  Thread t2({.name = "second"}, [&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t1, &b);
    try {
      a.acquire();
      a.release();
    } catch (const DeadlockError&) {
      error = true;
    }
    b.release();
  });
  t1.start();
  t2.start();
  wait_blocked_on(t2, &a);
  EXPECT_TRUE(spindle::find_deadlocks().empty());
  a.release();
  t1.join();
  t2.join();
  EXPECT_FALSE(error);
}

TEST(Deadlock, hook_that_throws_is_reported_and_the_thread_waits_on) {
  spindle_test::Watchdog wd("throwing hook");
  const PolicyScope policy(DeadlockPolicy::report);
  std::atomic<int> calls{0};
  spindle::set_deadlock_hook([&](const Deadlock&) {
    calls.fetch_add(1);
    throw std::runtime_error("hook failed");
  });
  Lock a, b;
  spindle::Event a_held, b_held;
  Thread t1([&] {
    a.acquire();
    a_held.set();
    b_held.wait();
    b.acquire();
    b.release();
  });
  Thread t2([&] {
    b.acquire();
    b_held.set();
    a_held.wait();
    wait_blocked_on(t1, &b);
    a.acquire();
    a.release();
    b.release();
  });
  testing::internal::CaptureStderr();
  t1.start();
  t2.start();
  wait_blocked_on(t2, &a);
  a.release();
  t1.join();
  t2.join();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_NE(err.find("Exception in the deadlock hook"), std::string::npos) << err;
  EXPECT_NE(err.find("hook failed"), std::string::npos) << err;
}

TEST(Deadlock, a_forked_child_forgets_the_waits_of_threads_that_vanished) {
  Lock held;
  held.acquire();
  Thread blocked({.name = "blocked"}, [&] {
    held.acquire();  // waits, untimed, published to the detector
    held.release();
  });
  blocked.start();
  wait_blocked_on(blocked, &held);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(100);  // hang guard
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer keeps the vanished threads in its thread table, and
    // glibc reuses their stacks - so their pthread_t values - for the
    // child's new threads, which TSan takes for duplicates ("dup thread with
    // used id"): a stack size no vanished thread had gives fresh stacks.
    spindle::stack_size(std::size_t{16} << 20);
#endif
    // Only this thread exists here; `blocked`'s wait is gone with it.
    if (!spindle::find_deadlocks().empty()) ::_exit(2);
    Lock a, b;
    spindle::Event a_held, b_held;
    bool caught = false;
    Thread t1({.name = "child-1"}, [&] {
      a.acquire();
      a_held.set();
      b_held.wait();
      b.acquire();
      b.release();
      a.release();
    });
    Thread t2({.name = "child-2"}, [&] {
      b.acquire();
      b_held.set();
      a_held.wait();
      wait_blocked_on(t1, &b);
      try {
        a.acquire();
      } catch (const DeadlockError& e) {
        caught = e.deadlock().threads.size() == 2;
      }
      b.release();
    });
    t1.start();
    t2.start();
    t1.join();
    t2.join();
    ::_exit(caught ? 0 : 3);
  }
  ASSERT_GT(pid, 0);
  held.release();
  blocked.join();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---------------------------------------------------------------- lock order

TEST(LockOrder, inversion_is_reported_in_a_run_that_does_not_deadlock) {
  spindle_test::Watchdog wd("inversion");
  const OrderScope order;
  Lock a, b;
  Thread w1({.name = "worker_1"}, [&] {
    std::scoped_lock g1(a);
    std::scoped_lock g2(b);
  });
  Thread w2({.name = "worker_2"}, [&] {
    std::scoped_lock g1(b);
    std::scoped_lock g2(a);
  });
  w1.start();
  w1.join();  // one after the other: this run cannot deadlock
  w2.start();
  w2.join();
  const auto seen = order.seen();
  ASSERT_EQ(seen.size(), 1U);
  const spindle::LockOrderViolation& v = seen[0];
  EXPECT_EQ(v.thread, "worker_2");
  EXPECT_EQ(v.acquiring, &a);
  EXPECT_EQ(v.held, &b);
  ASSERT_EQ(v.earlier.size(), 1U);
  EXPECT_EQ(v.earlier[0].first, &a);
  EXPECT_EQ(v.earlier[0].then, &b);
  EXPECT_EQ(v.earlier[0].thread, "worker_1");
  const std::string text = v.describe();
  EXPECT_NE(text.find("thread \"worker_2\" takes Lock"), std::string::npos) << text;
  EXPECT_NE(text.find("earlier thread \"worker_1\" took Lock"), std::string::npos) << text;
}

TEST(LockOrder, each_pair_is_reported_once) {
  const OrderScope order;
  Lock a, b;
  for (int i = 0; i < 3; ++i) {
    {
      std::scoped_lock g1(a);
      std::scoped_lock g2(b);
    }
    {
      std::scoped_lock g1(b);
      std::scoped_lock g2(a);
    }
  }
  EXPECT_EQ(order.seen().size(), 1U);
}

TEST(LockOrder, inversion_through_a_chain_names_every_step) {
  const OrderScope order;
  Lock a, b, c;
  {
    std::scoped_lock g1(a);
    std::scoped_lock g2(b);
  }
  {
    std::scoped_lock g1(b);
    std::scoped_lock g2(c);
  }
  {
    std::scoped_lock g1(c);
    std::scoped_lock g2(a);  // a -> b -> c was recorded
  }
  const auto seen = order.seen();
  ASSERT_EQ(seen.size(), 1U);
  ASSERT_EQ(seen[0].earlier.size(), 2U);
  EXPECT_EQ(seen[0].earlier[0].first, &a);
  EXPECT_EQ(seen[0].earlier[0].then, &b);
  EXPECT_EQ(seen[0].earlier[1].first, &b);
  EXPECT_EQ(seen[0].earlier[1].then, &c);
  EXPECT_EQ(seen[0].thread, "MainThread");
}

TEST(LockOrder, consistent_order_is_never_reported) {
  spindle_test::Watchdog wd("consistent");
  const OrderScope order;
  Lock a, b, c;
  std::vector<std::unique_ptr<Thread>> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.push_back(std::make_unique<Thread>([&] {
      for (int i = 0; i < 2000; ++i) {
        std::scoped_lock g1(a);
        std::scoped_lock g2(b);
        std::scoped_lock g3(c);
      }
    }));
  }
  for (auto& t : threads) t->start();
  for (auto& t : threads) t->join();
  EXPECT_TRUE(order.seen().empty());
}

TEST(LockOrder, try_lock_records_no_order_so_scoped_lock_of_two_is_silent) {
  const OrderScope order;
  Lock a, b;
  {
    std::scoped_lock both(a, b);  // std::lock: lock() one, try_lock() the other
  }
  { std::scoped_lock both(b, a); }
  ASSERT_TRUE(a.try_lock());
  {
    std::scoped_lock g(b);  // b while holding a (taken by try_lock): recorded
  }
  a.unlock();
  {
    std::scoped_lock g1(b);
    std::scoped_lock g2(a);
  }
  EXPECT_EQ(order.seen().size(), 1U);
}

TEST(LockOrder, rlock_reentry_and_condition_wait_add_nothing) {
  spindle_test::Watchdog wd("rlock and condition");
  const OrderScope order;
  RLock r;
  Lock outer;
  spindle::Condition cond;  // over its own RLock
  bool ready = false;
  {
    std::scoped_lock g1(outer);
    std::scoped_lock g2(r);
    std::scoped_lock g3(r);
  }
  Thread notifier([&] {
    std::scoped_lock g(cond);
    ready = true;
    cond.notify();
  });
  {
    std::scoped_lock g1(outer);
    std::scoped_lock g2(cond);
    notifier.start();
    cond.wait_for([&] { return ready; });
  }
  notifier.join();
  EXPECT_TRUE(order.seen().empty());
}

TEST(LockOrder, destroyed_locks_are_forgotten) {
  const OrderScope order;
  alignas(Lock) unsigned char slot_a[sizeof(Lock)];
  alignas(Lock) unsigned char slot_b[sizeof(Lock)];
  const spindle::LockOrderStats before = spindle::lock_order_stats();
  {
    Lock* a = new (slot_a) Lock;
    Lock* b = new (slot_b) Lock;
    {
      std::scoped_lock g1(*a);
      std::scoped_lock g2(*b);
    }
    EXPECT_EQ(spindle::lock_order_stats().edges, before.edges + 1);
    b->~Lock();
    a->~Lock();
  }
  EXPECT_EQ(spindle::lock_order_stats().edges, before.edges);
  // New locks at the same addresses start with no history.
  Lock* a = new (slot_a) Lock;
  Lock* b = new (slot_b) Lock;
  {
    std::scoped_lock g1(*b);
    std::scoped_lock g2(*a);
  }
  b->~Lock();
  a->~Lock();
  EXPECT_TRUE(order.seen().empty());
}

TEST(LockOrder, a_lock_released_by_another_thread_is_no_longer_held) {
  spindle_test::Watchdog wd("ownerless release");
  const OrderScope order;
  Lock handed, other;
  handed.acquire();
  Thread releaser([&] { handed.release(); });
  releaser.start();
  releaser.join();
  {
    std::scoped_lock g(other);  // not "while holding `handed`"
  }
  {
    std::scoped_lock g1(other);
    std::scoped_lock g2(handed);
  }
  EXPECT_TRUE(order.seen().empty());
}

TEST(LockOrder, memory_is_bounded) {
  const OrderScope order;
  const spindle::LockOrderStats before = spindle::lock_order_stats();
  Lock hub;
  std::vector<Lock> many(70000);
  {
    std::scoped_lock g(hub);
    for (Lock& l : many) {
      l.acquire();
      l.release();
    }
  }
  const spindle::LockOrderStats full = spindle::lock_order_stats();
  EXPECT_LE(full.edges, std::size_t{1} << 16);
  EXPECT_GT(full.dropped, before.dropped);
  many.clear();
  EXPECT_EQ(spindle::lock_order_stats().edges, before.edges) << "destroyed locks are forgotten";
}

TEST(LockOrder, switching_it_off_and_on_forgets_what_was_held) {
  Lock a, b;
  {
    const OrderScope order;
    a.acquire();  // recorded as held
  }
  a.release();  // while checking is off: not seen
  const OrderScope order;
  {
    std::scoped_lock g1(b);  // must not count as "b while holding a"
  }
  {
    std::scoped_lock g1(b);
    std::scoped_lock g2(a);
  }
  {
    std::scoped_lock g1(a);
    std::scoped_lock g2(b);
  }
  ASSERT_EQ(order.seen().size(), 1U) << "only the real inversion: b->a, then a->b";
  EXPECT_EQ(order.seen()[0].acquiring, &b);
}

// ---------------------------------------------------------------- thread dump

TEST(ThreadDump, sigquit_prints_the_dump_and_the_process_carries_on) {
  spindle_test::Watchdog wd("SIGQUIT");
  spindle::install_thread_dump_signal();
  spindle::Event release;
  Thread sleeper({.name = "dump-sleeper"}, [&] { release.wait(); });
  sleeper.start();
  wait_blocked_in(sleeper, "Event");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ASSERT_GE(saved, 0);
  ::dup2(fds[1], 2);
  ::close(fds[1]);
  ASSERT_EQ(::kill(::getpid(), SIGQUIT), 0);
  std::string out;
  char buf[4096];
  while (out.find("End of thread dump.\n") == std::string::npos) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fds[0]);
  release.set();
  sleeper.join();
  EXPECT_NE(out.find("Thread dump:"), std::string::npos) << out;
  EXPECT_NE(out.find("\"MainThread\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"dump-sleeper\""), std::string::npos) << out;
  EXPECT_NE(out.find("on Event"), std::string::npos) << out;
  EXPECT_NE(out.find("No deadlock found."), std::string::npos) << out;
}

TEST(ThreadDump, invalid_signals_are_refused) {
  EXPECT_THROW(spindle::install_thread_dump_signal(0), spindle::ValueError);
  EXPECT_THROW(spindle::install_thread_dump_signal(SIGKILL), spindle::ValueError);
  EXPECT_THROW(spindle::install_thread_dump_signal(100000), spindle::ValueError);
}
