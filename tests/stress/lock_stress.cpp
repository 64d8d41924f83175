// Many-thread stress for Lock and RLock: exact counting under contention.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "spindle/lock.hpp"
#include "support.hpp"

TEST(LockStress, eight_threads_count_exactly) {
  spindle_test::Watchdog wd("LockStress 8 threads", std::chrono::seconds(600));
  const long per_thread = spindle_test::scaled(1'000'000);
  spindle::Lock lock;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (long i = 0; i < per_thread; ++i) {
        lock.acquire();
        ++counter;
        lock.release();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 8 * per_thread);
  EXPECT_FALSE(lock.locked());
}

TEST(LockStress, rlock_nested_counting_exact) {
  spindle_test::Watchdog wd("LockStress rlock", std::chrono::seconds(600));
  const long per_thread = spindle_test::scaled(200'000);
  spindle::RLock rlock;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (long i = 0; i < per_thread; ++i) {
        std::scoped_lock outer(rlock);
        std::scoped_lock inner(rlock);
        ++counter;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 4 * per_thread);
  EXPECT_FALSE(rlock.locked());
}

TEST(LockStress, timed_acquires_never_double_own) {
  spindle_test::Watchdog wd("LockStress timed", std::chrono::seconds(600));
  const long per_thread = spindle_test::scaled(100'000);
  spindle::Lock lock;
  std::atomic<int> inside{0};
  std::atomic<long> acquired{0};
  std::atomic<bool> overlap{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (long i = 0; i < per_thread; ++i) {
        bool got = (t % 2 == 0) ? lock.acquire(std::chrono::microseconds(50)) : lock.acquire(false);
        if (!got) continue;
        if (inside.fetch_add(1) != 0) overlap = true;
        inside.fetch_sub(1);
        acquired.fetch_add(1);
        lock.release();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GT(acquired.load(), 0);
  EXPECT_FALSE(lock.locked());
}
