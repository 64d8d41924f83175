// Condition: contracts C10-C15 and notify/notify_all wake-ups.
#include "spindle/condition.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using spindle::Condition;
using spindle::Lock;
using spindle::RLock;

TEST(Condition, C10_wait_without_lock_throws) {
  Condition cond;
  try {
    cond.wait();
    FAIL() << "wait() without the lock did not throw";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot wait on un-acquired lock");
  }
  EXPECT_THROW((void)cond.wait(1s), spindle::RuntimeError);
  EXPECT_THROW((void)cond.wait_for([] { return true; }), spindle::RuntimeError);
  EXPECT_THROW((void)cond.wait_for([] { return true; }, 1s), spindle::RuntimeError);
  Lock lock;
  Condition over_lock(lock);
  EXPECT_THROW(over_lock.wait(), spindle::RuntimeError);
}

TEST(Condition, C10_wait_on_rlock_held_by_other_thread_throws) {
  spindle_test::Watchdog wd("C10 other owner");
  Condition cond;
  cond.acquire();
  std::thread other([&] { EXPECT_THROW((void)cond.wait(1ms), spindle::RuntimeError); });
  other.join();
  cond.release();
}

TEST(Condition, C11_notify_without_lock_throws) {
  Condition cond;
  try {
    cond.notify();
    FAIL() << "notify() without the lock did not throw";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot notify on un-acquired lock");
  }
  EXPECT_THROW(cond.notify_all(), spindle::RuntimeError);
  Lock lock;
  Condition over_lock(lock);
  EXPECT_THROW(over_lock.notify(), spindle::RuntimeError);
  std::scoped_lock g(over_lock);
  EXPECT_NO_THROW(over_lock.notify_all());  // held: allowed, nobody waits
}

TEST(Condition, C12_wait_timeout_returns_false_when_expired) {
  Condition cond;
  std::scoped_lock g(cond);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(cond.wait(20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_FALSE(cond.wait(0s));
}

TEST(Condition, C16_negative_timeout_polls) {
  RLock rlock;
  Condition cond(rlock);
  rlock.acquire();
  rlock.acquire();
  // Python's Condition.wait(-1): releases the lock, polls, re-acquires; False.
  EXPECT_FALSE(cond.wait(-1s));
  EXPECT_FALSE(cond.wait(std::chrono::duration<double>(-0.5)));
  EXPECT_FALSE(cond.wait(std::chrono::hours::min()));
  rlock.release();
  EXPECT_TRUE(rlock.is_owned());  // both levels were restored (C13)
  // wait_for(pred, -1): the predicate, one polling wait, the predicate again.
  int calls = 0;
  EXPECT_FALSE(cond.wait_for(
      [&] {
        ++calls;
        return false;
      },
      -1s));
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(cond.wait_for([] { return true; }, -1s));
  rlock.release();
  EXPECT_FALSE(rlock.locked());
  // Without the lock it is still C10's RuntimeError.
  EXPECT_THROW((void)cond.wait(-1s), spindle::RuntimeError);
  Lock lock;
  Condition over_lock(lock);
  std::scoped_lock g(over_lock);
  EXPECT_FALSE(over_lock.wait(-1s));
  EXPECT_TRUE(lock.locked());
}

TEST(Condition, C05_timeout_above_max_overflows_when_it_would_wait) {
  Condition cond;
  EXPECT_THROW((void)cond.wait(spindle::TIMEOUT_MAX + 1s), spindle::RuntimeError);  // C10 first
  std::scoped_lock g(cond);
  EXPECT_THROW((void)cond.wait(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  EXPECT_THROW((void)cond.wait(std::chrono::hours::max()), spindle::OverflowError);
  EXPECT_THROW((void)cond.wait_for([] { return false; }, spindle::TIMEOUT_MAX + 1s),
               spindle::OverflowError);
  EXPECT_TRUE(cond.wait_for([] { return true; }, spindle::TIMEOUT_MAX + 1s));  // no wait: no check
  EXPECT_TRUE(cond.acquire(false));  // still held (an RLock): the failed waits kept it
  cond.release();
  EXPECT_THROW((void)cond.wait(std::chrono::duration<double>(std::nan(""))), spindle::ValueError);
}

TEST(Condition, C04_acquire_keeps_the_locks_negative_timeout_rule) {
  // Condition.acquire is its lock's acquire, in Python too.
  RLock rlock;
  Condition cond(rlock);
  EXPECT_THROW((void)cond.acquire(-1s), spindle::ValueError);
  EXPECT_FALSE(rlock.locked());
  Lock lock;
  Condition over_lock(lock);
  EXPECT_THROW((void)over_lock.acquire(-1s), spindle::ValueError);
  EXPECT_FALSE(lock.locked());
}

TEST(Condition, C12_wait_timeout_returns_true_when_notified) {
  spindle_test::Watchdog wd("C12 notified");
  Condition cond;
  bool ready = false;
  std::atomic<bool> waiting{false};
  std::thread notifier([&] {
    while (!waiting.load()) std::this_thread::yield();
    std::scoped_lock g(cond);  // the waiter released the lock: it waits
    ready = true;
    cond.notify();
  });
  std::unique_lock g(cond);
  waiting.store(true);
  bool notified = false;
  while (!ready) notified = cond.wait(100s);
  EXPECT_TRUE(notified);
  g.unlock();
  notifier.join();
}

TEST(Condition, C13_rlock_held_n_times_released_and_restored) {
  spindle_test::Watchdog wd("C13");
  RLock rlock;
  Condition cond(rlock);
  for (int i = 0; i < 3; ++i) rlock.acquire();
  bool ready = false;
  std::thread other([&] {
    // Can only get the lock if wait() released all three levels.
    rlock.acquire();
    ready = true;
    cond.notify();
    rlock.release();
  });
  while (!ready) cond.wait();
  EXPECT_TRUE(rlock.is_owned());
  // All three levels are back: three releases succeed, a fourth throws.
  rlock.release();
  rlock.release();
  rlock.release();
  EXPECT_THROW(rlock.release(), spindle::RuntimeError);
  other.join();
}

TEST(Condition, C13_levels_restored_after_timeout) {
  RLock rlock;
  Condition cond(rlock);
  rlock.acquire();
  rlock.acquire();
  EXPECT_FALSE(cond.wait(1ms));
  rlock.release();
  EXPECT_TRUE(rlock.is_owned());
  rlock.release();
  EXPECT_FALSE(rlock.locked());
}

TEST(Condition, C14_wait_for_returns_predicates_last_value) {
  spindle_test::Watchdog wd("C14");
  Condition cond;
  std::scoped_lock g(cond);
  int calls = 0;
  EXPECT_FALSE(cond.wait_for(
      [&] {
        ++calls;
        return false;
      },
      10ms));
  EXPECT_GE(calls, 2);  // checked before and after waiting
  EXPECT_TRUE(cond.wait_for([] { return true; }, 0s));
  EXPECT_TRUE(cond.wait_for([] { return true; }));
  // Becomes true through another thread.
  bool flag = false;
  std::thread t([&] {
    std::scoped_lock g2(cond);
    flag = true;
    cond.notify_all();
  });
  EXPECT_TRUE(cond.wait_for([&] { return flag; }, 100s));
  t.join();
}

TEST(Condition, C15_default_lock_is_an_rlock) {
  Condition cond;
  cond.acquire();
  EXPECT_TRUE(cond.acquire(false));  // reentrant: a second level
  cond.release();
  cond.release();
  EXPECT_THROW(cond.release(), spindle::RuntimeError);  // RLock's C06
}

TEST(Condition, C15_explicit_lock_and_rlock) {
  spindle_test::Watchdog wd("C15 explicit");
  Lock lock;
  Condition over_lock(lock);
  over_lock.acquire();
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(over_lock.acquire(false));  // a Lock is not reentrant
  EXPECT_FALSE(over_lock.wait(1ms));
  EXPECT_TRUE(lock.locked());  // re-acquired after the wait
  over_lock.release();
  EXPECT_FALSE(lock.locked());

  RLock rlock;
  Condition over_rlock(rlock);
  {
    std::scoped_lock g(over_rlock);
    EXPECT_TRUE(rlock.is_owned());
  }
  EXPECT_FALSE(rlock.locked());
  // Two conditions may share one lock.
  Condition second(lock);
  std::scoped_lock g(lock);
  EXPECT_NO_THROW(second.notify());
}

TEST(Condition, notify_one_wakes_one_notify_all_wakes_all) {
  spindle_test::Watchdog wd("notify");
  Condition cond;
  int tokens = 0;
  int woke = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      std::scoped_lock g(cond);
      cond.wait_for([&] { return tokens > 0; });
      --tokens;
      ++woke;
    });
  }
  {
    std::scoped_lock g(cond);
    tokens = 1;
    cond.notify();
  }
  {
    std::scoped_lock g(cond);
    tokens += 3;
    cond.notify_all();
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(woke, 4);
  EXPECT_EQ(tokens, 0);
}

TEST(Condition, notify_with_n_below_one_wakes_nobody) {
  Condition cond;
  std::scoped_lock g(cond);
  EXPECT_NO_THROW(cond.notify(0));
  EXPECT_NO_THROW(cond.notify(-1));
}
