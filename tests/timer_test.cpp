// Timer (C62).
#include "spindle/timer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;
using spindle_test::Watchdog;

TEST(Timer, fires_after_at_least_the_interval_with_its_arguments) {
  Watchdog wd("timer fires");
  std::atomic<int> got{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point fired;
  spindle::Timer t(
      30ms,
      [&](int v) {
        fired = std::chrono::steady_clock::now();
        got = v;
      },
      7);
  t.start();
  t.join();
  EXPECT_EQ(got.load(), 7);
  EXPECT_GE(fired - t0, 30ms);
  EXPECT_FALSE(t.cancelled());
}

TEST(Timer, C62_cancel_while_waiting_stops_the_action) {
  Watchdog wd("C62 cancel");
  std::atomic<bool> ran{false};
  spindle::Timer t(1h, [&ran] { ran = true; });
  t.start();
  while (t.state() != spindle::ThreadState::blocked) std::this_thread::yield();
  EXPECT_STREQ(t.waiting_on()->kind, "Timer");
  t.cancel();
  t.join();  // the thread ends at once, not after an hour
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(t.cancelled());
}

TEST(Timer, C62_cancel_before_start_stops_the_action) {
  Watchdog wd("C62 before start");
  std::atomic<bool> ran{false};
  spindle::Timer t(0s, [&ran] { ran = true; });
  t.cancel();
  t.start();
  t.join();
  EXPECT_FALSE(ran.load());
}

TEST(Timer, C62_cancel_after_the_action_started_has_no_effect) {
  Watchdog wd("C62 after");
  std::atomic<int> phase{0};
  spindle::Timer t(0s, [&phase] {
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    phase = 3;
  });
  t.start();
  while (phase.load() != 1) std::this_thread::yield();
  t.cancel();  // too late: the action is running
  phase = 2;
  t.join();
  EXPECT_EQ(phase.load(), 3);
  EXPECT_FALSE(t.cancelled());
  t.cancel();  // after it finished: still nothing
  EXPECT_FALSE(t.cancelled());
}

TEST(Timer, negative_interval_fires_at_once_and_huge_one_throws) {
  Watchdog wd("interval");
  std::atomic<bool> ran{false};
  spindle::Timer t(-5s, [&ran] { ran = true; });
  EXPECT_EQ(t.interval(), 0ns);
  t.start();
  t.join();
  EXPECT_TRUE(ran.load());
  EXPECT_THROW(spindle::Timer(spindle::TIMEOUT_MAX + 1s, [] {}), spindle::OverflowError);
}

TEST(Timer, is_a_thread_with_name_and_daemon) {
  Watchdog wd("timer thread");
  std::string name;
  spindle::Timer t({.name = "reminder", .daemon = true}, 0s,
                   [&name] { name = spindle::current_thread().name(); });
  EXPECT_TRUE(t.daemon());
  t.start();
  t.join();
  EXPECT_EQ(name, "reminder");
}

TEST(Timer, dropped_handle_still_fires) {
  Watchdog wd("dropped timer");
  std::atomic<bool> ran{false};
  {
    spindle::Timer t({.name = "dropped-timer"}, 1ms, [&ran] { ran = true; });
    t.start();
  }
  while (!ran.load()) std::this_thread::yield();
  // Wait for its thread to leave the registry so later tests see a clean list.
  for (bool found = true; found;) {
    found = false;
    for (auto& h : spindle::enumerate()) found = found || h->name() == "dropped-timer";
  }
}
