// The layer under every blocking call: Deadline and timeout validation
// (detail/time.hpp), park/unpark and the waiter-bit protocol
// (detail/park.hpp), and the spin policies (detail/spin.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>

#include "spindle/detail/park.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"
#include "support.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using spindle::detail::Clock;
using spindle::detail::Deadline;
using spindle_test::ParkProbe;
using spindle_test::Watchdog;

// ---------------------------------------------------------------- Deadline

TEST(Deadline, never_is_never_and_never_expires) {
  const Deadline d = Deadline::never();
  EXPECT_TRUE(d.is_never());
  EXPECT_FALSE(d.expired());
}

TEST(Deadline, zero_timeout_is_already_expired) {
  const Deadline d = Deadline::after(0ns);
  EXPECT_FALSE(d.is_never());
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining(), 0ns);
}

TEST(Deadline, a_timeout_beyond_the_clock_saturates_to_never) {
  EXPECT_TRUE(Deadline::after(std::chrono::nanoseconds::max()).is_never());
}

TEST(Deadline, a_far_deadline_has_time_remaining_and_is_not_expired) {
  const Deadline d = Deadline::after(1h);
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.remaining(), 59min);
  EXPECT_LE(d.remaining(), 1h);
}

TEST(Deadline, at_keeps_a_steady_clock_point) {
  const Clock::time_point tp = Clock::now() + 5s;
  const Deadline d = Deadline::at(tp);
  EXPECT_EQ(d.ns(),
            std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
}

TEST(Deadline, deadline_at_converts_other_clocks_through_the_time_left) {
  const Deadline past = spindle::detail::deadline_at(std::chrono::system_clock::now() - 1s);
  EXPECT_TRUE(past.expired());
  const Deadline future = spindle::detail::deadline_at(std::chrono::system_clock::now() + 1h);
  EXPECT_FALSE(future.expired());
  EXPECT_GT(future.remaining(), 59min);
}

// ---------------------------------------------------------------- validation

TEST(Deadline, C04_deadline_after_rejects_negative_and_nan) {
  try {
    (void)spindle::detail::deadline_after(-1ms);
    FAIL() << "no ValueError";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "timeout value must be a non-negative number");
  }
  const std::chrono::duration<double> nan(std::nan(""));
  EXPECT_THROW((void)spindle::detail::deadline_after(nan), spindle::ValueError);
}

TEST(Deadline, C05_deadline_after_accepts_TIMEOUT_MAX_and_rejects_more) {
  EXPECT_NO_THROW((void)spindle::detail::deadline_after(spindle::TIMEOUT_MAX));
  try {
    (void)spindle::detail::deadline_after(spindle::TIMEOUT_MAX + 1s);
    FAIL() << "no OverflowError";
  } catch (const spindle::OverflowError& e) {
    EXPECT_STREQ(e.what(), "timeout value is too large");
  }
  // Also for representations that would overflow a nanosecond count.
  EXPECT_THROW((void)spindle::detail::deadline_after(std::chrono::hours::max()),
               spindle::OverflowError);
}

TEST(Deadline, C16_wait_timeout_polls_for_negative_and_throws_only_when_waiting_too_long) {
  const spindle::detail::WaitTimeout negative(-5s);
  EXPECT_FALSE(negative.too_large());
  EXPECT_TRUE(negative.deadline().expired());  // polls

  const spindle::detail::WaitTimeout huge(std::chrono::hours::max());
  EXPECT_TRUE(huge.too_large());  // constructing it did not throw
  EXPECT_THROW((void)huge.deadline(), spindle::OverflowError);

  EXPECT_THROW(spindle::detail::WaitTimeout(std::chrono::duration<double>(std::nan(""))),
               spindle::ValueError);
}

// ---------------------------------------------------------------- park

TEST(Park, returns_false_when_the_deadline_has_passed) {
  std::atomic<std::uint32_t> word{0};
  EXPECT_FALSE(spindle::detail::park(word, 0, Deadline::after(0ns), {"test", &word}));
}

TEST(Park, returns_at_once_when_the_word_does_not_hold_the_expected_value) {
  std::atomic<std::uint32_t> word{1};
  EXPECT_TRUE(spindle::detail::park(word, 0, Deadline::never(), {"test", &word}));
}

TEST(Park, unpark_wakes_a_parked_thread_and_the_wait_state_names_the_site) {
  Watchdog dog("park/unpark");
  std::atomic<std::uint32_t> word{0};
  ParkProbe probe(1);
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    probe.attach(0);
    while (word.load() == 0)
      spindle::detail::park(word, 0, Deadline::never(), {"test.word", &word});
    woke.store(true);
  });
  probe.await_parked(&word, "test.word");  // blocked in the kernel, named
  word.store(1);
  spindle::detail::unpark_all(word);
  waiter.join();
  EXPECT_TRUE(woke.load());
  // The state is cleared once the thread is no longer parked.
  EXPECT_EQ(spindle::detail::this_thread_wait_state().kind.load(), nullptr);
}

TEST(Park, unpark_without_waiters_wakes_nobody) {
  std::atomic<std::uint32_t> word{0};
  EXPECT_EQ(spindle::detail::unpark_all(word), 0);
  EXPECT_EQ(spindle::detail::unpark_one(word), 0);
}

// ---------------------------------------------------------------- wait_word

constexpr std::uint32_t kBit = 1;  // the waiter bit; the state counts in 2s

TEST(WaitWord, returns_true_at_once_without_announcing_a_waiter) {
  std::atomic<std::uint32_t> word{2};
  EXPECT_TRUE(spindle::detail::wait_word(word, kBit, [](std::uint32_t w) { return w >= 2; },
                                         Deadline::never(), {"test", &word}));
  EXPECT_EQ(word.load() & kBit, 0u);
}

TEST(WaitWord, times_out_with_false_and_leaves_the_waiter_bit_set) {
  std::atomic<std::uint32_t> word{0};
  EXPECT_FALSE(spindle::detail::wait_word(word, kBit, [](std::uint32_t w) { return w >= 2; },
                                          Deadline::after(1ms), {"test", &word}));
  EXPECT_EQ(word.load() & kBit, kBit);  // a waker would make one needless wake-up
}

TEST(WaitWord, a_waker_that_sees_the_bit_wakes_the_waiter) {
  Watchdog dog("wait_word hand-off");
  for (int round = 0; round < 100; ++round) {
    std::atomic<std::uint32_t> word{0};
    ParkProbe probe(1);
    std::thread waiter([&] {
      probe.attach(0);
      EXPECT_TRUE(spindle::detail::wait_word(word, kBit, [](std::uint32_t w) { return w >= 2; },
                                             Deadline::never(), {"test.wait_word", &word}));
    });
    if (round % 2 == 0) probe.await_parked(&word, "test.wait_word");  // else: race the park
    spindle::detail::wake_waiters(word.exchange(2), kBit, word);
    waiter.join();
  }
}

TEST(WaitWord, wake_waiters_without_the_bit_makes_no_wake_up) {
  std::atomic<std::uint32_t> word{0};
  // Nothing parked, bit clear: nothing to do (and nothing observable fails).
  spindle::detail::wake_waiters(word.exchange(2), kBit, word);
  EXPECT_EQ(word.load(), 2u);
}

// ---------------------------------------------------------------- spin policies

TEST(Spin, every_policy_returns_true_at_once_when_done) {
  int calls = 0;
  auto done = [&] {
    ++calls;
    return true;
  };
  EXPECT_TRUE(spindle::detail::spin_until(done));
  EXPECT_TRUE(spindle::detail::handoff_spin(done));
  EXPECT_TRUE(spindle::detail::spin_rounds(3, 5, done));
  EXPECT_EQ(calls, 3);
}

TEST(Spin, every_policy_is_bounded_and_returns_false_when_never_done) {
  int calls = 0;
  auto never = [&] {
    ++calls;
    return false;
  };
  EXPECT_FALSE(spindle::detail::spin_until(never));
  EXPECT_EQ(calls, spindle::detail::kSpinLimit + 1);
  calls = 0;
  EXPECT_FALSE(spindle::detail::spin_rounds(3, 5, never));
  EXPECT_EQ(calls, 3 * 5 + 1);
  calls = 0;
  EXPECT_FALSE(spindle::detail::handoff_spin(never));
  EXPECT_GT(calls, 1);
}
