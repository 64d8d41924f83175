// Event: contract C30, set/clear/is_set, and wake-ups.
#include "spindle/event.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "support.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using spindle::Event;

TEST(Event, starts_clear_and_set_clear_toggle_the_flag) {
  Event e;
  EXPECT_FALSE(e.is_set());
  e.set();
  EXPECT_TRUE(e.is_set());
  e.set();  // idempotent
  EXPECT_TRUE(e.is_set());
  e.clear();
  EXPECT_FALSE(e.is_set());
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TEST(Event, C30_wait_returns_true_at_once_when_set) {
  Event e;
  e.set();
  EXPECT_TRUE(e.wait());
  EXPECT_TRUE(e.wait(0s));
  EXPECT_TRUE(e.wait(1h));
}

TEST(Event, C30_wait_timeout_returns_false_only_on_timeout) {
  Event e;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(e.wait(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_FALSE(e.wait(0s));
}

TEST(Event, C30_wait_true_even_if_cleared_before_waiter_woke) {
  spindle_test::Watchdog wd("C30 set+clear");
  for (int round = 0; round < 50; ++round) {
    Event e;
    spindle_test::ParkProbe probe(1);
    std::atomic<int> result{-1};
    std::thread waiter([&] {
      probe.attach(0);
      result.store(e.wait(100s) ? 1 : 0);
    });
    // set() and clear() only once the waiter is parked on the event, so the
    // flag is already down again when it wakes up.
    probe.await_parked(&e, "Event");
    e.set();
    e.clear();
    waiter.join();
    ASSERT_EQ(result.load(), 1) << "round " << round;
    EXPECT_FALSE(e.is_set());
  }
}

TEST(Event, C31_negative_timeout_returns_the_flag) {
  Event e;
  EXPECT_FALSE(e.wait(-1s));  // Python's Event().wait(-1): False, no exception
  EXPECT_FALSE(e.wait(std::chrono::duration<double>(-0.1)));
  EXPECT_FALSE(e.wait(std::chrono::hours::min()));
  e.set();
  EXPECT_TRUE(e.wait(-1s));
  EXPECT_TRUE(e.wait(std::chrono::duration<double>(-0.1)));
}

TEST(Event, C05_timeout_above_max_overflows_when_it_would_wait) {
  Event e;
  EXPECT_THROW((void)e.wait(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  EXPECT_THROW((void)e.wait(std::chrono::hours::max()), spindle::OverflowError);
  EXPECT_THROW((void)e.wait(std::chrono::duration<double>(std::nan(""))), spindle::ValueError);
  e.set();
  EXPECT_TRUE(e.wait(spindle::TIMEOUT_MAX + 1s));  // set: no wait, no check (as Python)
  EXPECT_TRUE(e.wait(spindle::TIMEOUT_MAX));
}

TEST(Event, set_wakes_every_waiter_and_publishes_writes) {
  spindle_test::Watchdog wd("set wakes all");
  Event e;
  int payload = 0;
  std::atomic<int> seen{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      EXPECT_TRUE(e.wait());
      if (payload == 7) seen.fetch_add(1);
    });
  }
  payload = 7;
  e.set();
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.load(), 6);
}

TEST(Event, wait_after_clear_blocks_until_set_again) {
  spindle_test::Watchdog wd("wait after clear");
  Event e;
  e.set();
  e.clear();
  EXPECT_FALSE(e.wait(1ms));
  std::thread t([&] { e.set(); });
  EXPECT_TRUE(e.wait(100s));
  t.join();
}

TEST(Event, wait_until_a_time_point_on_any_clock) {
  Event e;
  const auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(e.wait_until(before + 1ms));
  EXPECT_GE(std::chrono::steady_clock::now() - before, 1ms);          // not before its deadline
  EXPECT_FALSE(e.wait_until(std::chrono::system_clock::now() - 1s));  // past: polls
  e.set();
  EXPECT_TRUE(e.wait_until(std::chrono::system_clock::now() + 1h));
}
