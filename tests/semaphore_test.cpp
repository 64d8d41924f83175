// Semaphore and BoundedSemaphore: contracts C20-C25 and C++ Lockable use.
#include "spindle/semaphore.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using spindle::BoundedSemaphore;
using spindle::Semaphore;

TEST(Semaphore, C20_negative_initial_value_throws) {
  try {
    Semaphore s(-1);
    FAIL() << "Semaphore(-1) did not throw";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "semaphore initial value must be >= 0");
  }
  EXPECT_THROW(BoundedSemaphore(-5), spindle::ValueError);
  Semaphore zero(0);
  EXPECT_EQ(zero.value(), 0u);
  EXPECT_FALSE(zero.acquire(false));
}

TEST(Semaphore, C21_nonblocking_with_timeout_throws) {
  Semaphore s(1);
  try {
    (void)s.acquire(false, 1s);
    FAIL();
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "can't specify a timeout for a non-blocking call");
  }
  EXPECT_EQ(s.value(), 1u);  // nothing was taken
  EXPECT_TRUE(s.acquire(true, 1s));
  EXPECT_EQ(s.value(), 0u);
}

TEST(Semaphore, C26_negative_timeout_polls) {
  Semaphore s(0);
  EXPECT_FALSE(s.acquire(-1s));  // Python's Semaphore(0).acquire(timeout=-1): False
  EXPECT_FALSE(s.acquire(std::chrono::duration<double>(-0.5)));
  EXPECT_FALSE(s.acquire(std::chrono::hours::min()));
  EXPECT_FALSE(s.acquire(true, -1s));
  EXPECT_FALSE(s.acquire(0s));
  EXPECT_FALSE(s.try_acquire_for(-1s));
  EXPECT_THROW((void)s.acquire(false, -1s), spindle::ValueError);  // C21 still applies
  s.release();
  EXPECT_TRUE(s.acquire(-1s));  // a free unit is taken
  EXPECT_EQ(s.value(), 0u);
  BoundedSemaphore b(1);
  EXPECT_TRUE(b.acquire(-1s));
  EXPECT_FALSE(b.acquire(-1s));
  b.release();
  EXPECT_EQ(b.value(), 1u);
}

TEST(Semaphore, C05_timeout_above_max_overflows_when_it_would_wait) {
  Semaphore s(0);
  EXPECT_THROW((void)s.acquire(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  EXPECT_THROW((void)s.acquire(std::chrono::hours::max()), spindle::OverflowError);
  EXPECT_THROW((void)s.acquire(std::chrono::duration<double>(std::nan(""))), spindle::ValueError);
  s.release();
  EXPECT_TRUE(
      s.acquire(spindle::TIMEOUT_MAX + 1s));  // a unit was free: no wait, no check (as Python)
  EXPECT_EQ(s.value(), 0u);
  s.release();
  EXPECT_TRUE(s.acquire(spindle::TIMEOUT_MAX));
}

TEST(Semaphore, C22_release_n_below_one_throws) {
  Semaphore s(0);
  BoundedSemaphore b(1);
  for (std::ptrdiff_t n : {0, -1, -100}) {
    try {
      s.release(n);
      FAIL() << "release(" << n << ") did not throw";
    } catch (const spindle::ValueError& e) {
      EXPECT_STREQ(e.what(), "n must be one or more");
    }
    EXPECT_THROW(b.release(n), spindle::ValueError);
  }
  EXPECT_EQ(s.value(), 0u);
}

TEST(Semaphore, C23_release_beyond_initial_grows) {
  Semaphore s(1);
  s.release();
  s.release(3);
  EXPECT_EQ(s.value(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(s.acquire(false));
  EXPECT_FALSE(s.acquire(false));
}

TEST(Semaphore, C23_counter_overflow_throws_and_changes_nothing) {
  Semaphore s(0);
  s.release(UINT32_MAX);
  EXPECT_THROW(s.release(), spindle::OverflowError);
  EXPECT_EQ(s.value(), UINT32_MAX);
}

TEST(Semaphore, C24_bounded_release_too_many_throws) {
  BoundedSemaphore b(2);
  try {
    b.release();
    FAIL() << "release above the initial value did not throw";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "Semaphore released too many times");
  }
  EXPECT_TRUE(b.acquire(false));
  EXPECT_TRUE(b.acquire(false));
  EXPECT_THROW(b.release(3), spindle::ValueError);  // 0 + 3 > 2: nothing added
  EXPECT_EQ(b.value(), 0u);
  b.release(2);
  EXPECT_EQ(b.value(), 2u);
  // Through a Semaphore& the bound still holds.
  Semaphore& base = b;
  EXPECT_THROW(base.release(), spindle::ValueError);
}

TEST(Semaphore, C25_release_wakes_at_most_n_waiters) {
  spindle_test::Watchdog wd("C25");
  Semaphore s(0);
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      s.acquire();
      passed.fetch_add(1);
    });
  }
  s.release(2);
  while (passed.load() < 2) std::this_thread::yield();
  // Exactly two units were released: no third thread can have passed,
  // whatever the timing.
  EXPECT_EQ(passed.load(), 2);
  EXPECT_EQ(s.value(), 0u);
  s.release(2);
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 4);
  EXPECT_EQ(s.value(), 0u);
}

TEST(Semaphore, blocked_acquire_wakes_on_release_from_other_thread) {
  spindle_test::Watchdog wd("blocked acquire");
  Semaphore s(0);
  int data = 0;
  std::thread t([&] {
    data = 42;
    s.release();
  });
  s.acquire();
  EXPECT_EQ(data, 42);  // release happens-before the acquire that takes its unit
  t.join();
}

TEST(Semaphore, timed_acquire_times_out_after_the_duration) {
  Semaphore s(0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.acquire(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_FALSE(s.try_acquire_for(-1s));  // std's convention: negative is zero
  EXPECT_FALSE(s.try_acquire_until(std::chrono::steady_clock::now() + 5ms));
}

TEST(Semaphore, timed_acquire_succeeds_when_released) {
  spindle_test::Watchdog wd("timed acquire");
  Semaphore s(0);
  std::thread t([&] { s.release(); });
  EXPECT_TRUE(s.acquire(100s));
  t.join();
}

TEST(Semaphore, scoped_lock_takes_and_returns_a_unit) {
  Semaphore s(2);
  {
    std::scoped_lock guard(s);
    EXPECT_EQ(s.value(), 1u);
  }
  EXPECT_EQ(s.value(), 2u);
  BoundedSemaphore b(1);
  {
    std::unique_lock guard(b, std::try_to_lock);
    EXPECT_TRUE(guard.owns_lock());
    EXPECT_FALSE(b.try_lock());
  }
  EXPECT_EQ(b.value(), 1u);
  EXPECT_TRUE(b.try_acquire());
  b.release();
}

TEST(Semaphore, default_value_is_one) {
  Semaphore s;
  BoundedSemaphore b;
  EXPECT_EQ(s.value(), 1u);
  EXPECT_EQ(b.value(), 1u);
  EXPECT_THROW(b.release(), spindle::ValueError);
}
