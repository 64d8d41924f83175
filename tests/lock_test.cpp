// Lock and RLock: contracts C01-C08 and C++ Lockable use.
#include "spindle/lock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using spindle::Lock;
using spindle::RLock;

TEST(Lock, C01_release_unlocked_throws) {
  Lock lock;
  try {
    lock.release();
    FAIL() << "release of an unlocked Lock did not throw";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "release unlocked lock");
  }
  EXPECT_FALSE(lock.locked());
  lock.acquire();
  lock.release();
  EXPECT_THROW(lock.release(), spindle::RuntimeError);
}

TEST(Lock, C02_release_by_other_thread_allowed) {
  spindle_test::Watchdog wd("C02");
  Lock lock;
  lock.acquire();
  std::thread other([&] { lock.release(); });
  other.join();
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(Lock, C03_nonblocking_with_timeout_throws) {
  Lock lock;
  RLock rlock;
  try {
    (void)lock.acquire(false, 1s);
    FAIL();
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "can't specify a timeout for a non-blocking call");
  }
  EXPECT_THROW((void)rlock.acquire(false, 1s), spindle::ValueError);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, C04_negative_timeout_throws) {
  Lock lock;
  RLock rlock;
  EXPECT_THROW((void)lock.acquire(-1s), spindle::ValueError);
  EXPECT_THROW((void)lock.acquire(std::chrono::duration<double>(-0.5)), spindle::ValueError);
  EXPECT_THROW((void)rlock.acquire(-1ms), spindle::ValueError);
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(0s));  // zero is a valid timeout: try once
  lock.release();
}

TEST(Lock, C05_timeout_above_max_overflows) {
  Lock lock;
  EXPECT_THROW((void)lock.acquire(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  EXPECT_THROW((void)lock.acquire(std::chrono::hours(std::chrono::hours::max())),
               spindle::OverflowError);
  EXPECT_THROW((void)lock.acquire(std::chrono::duration<double>(1e300)), spindle::OverflowError);
  // OverflowError is a ValueError, so one handler catches every bad timeout.
  EXPECT_THROW((void)lock.acquire(spindle::TIMEOUT_MAX + 1s), spindle::ValueError);
  EXPECT_TRUE(lock.acquire(spindle::TIMEOUT_MAX));  // exactly TIMEOUT_MAX is allowed
  lock.release();
}

TEST(Lock, C06_rlock_release_by_non_owner_throws) {
  spindle_test::Watchdog wd("C06");
  RLock rlock;
  try {
    rlock.release();
    FAIL();
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot release un-acquired lock");
  }
  rlock.acquire();
  bool threw = false;
  std::thread other([&] {
    try {
      rlock.release();
    } catch (const spindle::RuntimeError&) {
      threw = true;
    }
  });
  other.join();
  EXPECT_TRUE(threw);
  EXPECT_TRUE(rlock.is_owned());
  rlock.release();
  EXPECT_FALSE(rlock.locked());
}

TEST(Lock, C07_destroying_held_locks_allowed) {
  {
    Lock lock;
    lock.acquire();
  }
  {
    RLock rlock;
    rlock.acquire();
    rlock.acquire();
  }
  SUCCEED();
}

TEST(Lock, C08_timed_acquire_reports_outcome) {
  spindle_test::Watchdog wd("C08");
  Lock lock;
  EXPECT_TRUE(lock.acquire(10ms));
  EXPECT_FALSE(lock.acquire(10ms));  // held by us: the time runs out
  EXPECT_FALSE(lock.acquire(0s));
  // A release from another thread during the wait makes it succeed.
  std::thread releaser([&] { lock.release(); });
  EXPECT_TRUE(lock.acquire(60s));
  releaser.join();
  lock.release();

  RLock rlock;
  rlock.acquire();
  bool got = true;
  std::thread other([&] { got = rlock.acquire(10ms); });
  other.join();
  EXPECT_FALSE(got);
  rlock.release();
}

TEST(Lock, nonblocking_acquire) {
  Lock lock;
  EXPECT_TRUE(lock.acquire(false));
  EXPECT_FALSE(lock.acquire(false));
  EXPECT_TRUE(lock.locked());
  lock.release();
}

TEST(RLock, reentrant_counting) {
  RLock rlock;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rlock.acquire());
  for (int i = 0; i < 4; ++i) rlock.release();
  EXPECT_TRUE(rlock.is_owned());
  rlock.release();
  EXPECT_FALSE(rlock.is_owned());
  EXPECT_FALSE(rlock.locked());
  EXPECT_THROW(rlock.release(), spindle::RuntimeError);
}

TEST(Lock, works_with_std_lock_utilities) {
  spindle_test::Watchdog wd("std utilities");
  Lock a;
  RLock b;
  {
    std::scoped_lock guard(a, b);  // std::lock's deadlock-avoidance over both
    EXPECT_TRUE(a.locked());
    EXPECT_TRUE(b.is_owned());
  }
  EXPECT_FALSE(a.locked());
  EXPECT_FALSE(b.locked());
  std::unique_lock<Lock> ul(a, std::defer_lock);
  EXPECT_TRUE(ul.try_lock_for(5ms));
  ul.unlock();
  EXPECT_TRUE(ul.try_lock_until(std::chrono::steady_clock::now() + 5ms));
  ul.unlock();
  EXPECT_TRUE(ul.try_lock_until(std::chrono::system_clock::now() + 5ms));
  EXPECT_TRUE(a.locked());
}

TEST(Lock, handoff_between_threads_wakes_parked_waiter) {
  spindle_test::Watchdog wd("handoff");
  Lock lock;
  int shared = 0;
  lock.acquire();
  std::thread waiter([&] {
    lock.acquire();  // parks: the lock is held for a while
    shared += 1;
    lock.release();
  });
  // Let the waiter reach the lock; correctness does not depend on how far it got.
  std::this_thread::yield();
  shared = 41;
  lock.release();
  waiter.join();
  EXPECT_EQ(shared, 42);
}

// Eventual fairness (lock.hpp): barging is allowed, but a waiter that has
// waited about a millisecond gets the lock handed to it. Each of the
// waiter's acquires must return while four threads keep taking the lock back
// to back; the watchdog is the only clock.
TEST(Lock, waiter_is_served_while_others_hammer) {
  spindle_test::Watchdog wd("fairness");
  Lock lock;
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  std::uint64_t counter = 0;
  std::vector<std::thread> hammers;
  hammers.reserve(4);
  for (int i = 0; i < 4; ++i) {
    hammers.emplace_back([&] {
      running.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) {
        lock.acquire();
        ++counter;
        lock.release();
      }
    });
  }
  while (running.load() < 4) std::this_thread::yield();
  std::uint64_t served = 0;
  for (int i = 0; i < 200; ++i) {
    lock.acquire();
    ++served;
    lock.release();
  }
  stop.store(true);
  for (auto& t : hammers) t.join();
  EXPECT_EQ(served, 200U);
  EXPECT_FALSE(lock.locked());
}

// Timed waiters give up at any point of the protocol - spinning, parked,
// woken, or holding the hand-off reservation - while others take and release
// the lock; none may strand it (leave it free with sleepers nobody wakes) or
// lose an increment.
TEST(Lock, timed_waiters_that_give_up_never_strand_the_lock) {
  spindle_test::Watchdog wd("timed waiters");
  Lock lock;
  std::uint64_t counter = 0;
  std::atomic<std::uint64_t> taken{0};
  std::vector<std::thread> threads;
  threads.reserve(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 3000; ++k) {
        const bool timed = (i + k) % 2 == 0;
        if (timed ? lock.acquire(std::chrono::microseconds((k % 5) * 50)) : lock.acquire()) {
          ++counter;
          if (k % 64 == 0) std::this_thread::yield();  // a longer hold now and then
          lock.release();
          taken.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, taken.load());
  EXPECT_GE(taken.load(), 6U * 1500U);  // every untimed acquire succeeded
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

// A release that finds parked waiters wakes exactly one, and every one of
// many parked waiters gets the lock in the end (no lost wake-up when the
// woken thread and new arrivals race).
TEST(Lock, every_parked_waiter_gets_the_lock) {
  spindle_test::Watchdog wd("parked waiters");
  Lock lock;
  int inside = 0;
  lock.acquire();
  std::vector<std::thread> waiters;
  waiters.reserve(8);
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] {
      lock.acquire();
      ++inside;
      lock.release();
    });
  }
  std::this_thread::yield();  // correctness does not depend on how far they got
  lock.release();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(inside, 8);
  EXPECT_FALSE(lock.locked());
}
