// Barrier: contracts C40-C44, the action, reset/abort and introspection.
#include "spindle/barrier.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using spindle::Barrier;
using spindle::BrokenBarrierError;

namespace {

// Runs fn(i) in n threads and joins them.
void run_threads(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (auto& t : threads) t.join();
}

// Spins until `b` has `n` waiters (they are parked or about to be).
void until_waiting(const Barrier& b, std::size_t n) {
  while (b.n_waiting() != n) std::this_thread::yield();
}

}  // namespace

TEST(Barrier, C40_parties_below_one_throws) {
  EXPECT_THROW(Barrier(0), spindle::ValueError);
  EXPECT_THROW(Barrier(-3), spindle::ValueError);
  Barrier one(1);
  EXPECT_EQ(one.parties(), 1u);
  EXPECT_EQ(one.wait(), 0u);  // a single party passes at once
  EXPECT_EQ(one.wait(), 0u);
}

TEST(Barrier, C43_indices_distinct_per_cycle) {
  spindle_test::Watchdog wd("C43");
  constexpr int kParties = 4;
  constexpr int kCycles = 200;
  Barrier b(kParties);
  std::vector<std::vector<std::size_t>> got(kParties);
  run_threads(kParties, [&](int t) {
    for (int c = 0; c < kCycles; ++c) got[t].push_back(b.wait());
  });
  for (int c = 0; c < kCycles; ++c) {
    std::set<std::size_t> indices;
    for (int t = 0; t < kParties; ++t) indices.insert(got[t][c]);
    ASSERT_EQ(indices, (std::set<std::size_t>{0, 1, 2, 3})) << "cycle " << c;
  }
}

TEST(Barrier, action_runs_once_per_cycle_before_release) {
  spindle_test::Watchdog wd("action");
  std::atomic<int> actions{0};
  std::atomic<int> arrived{0};
  Barrier b(3, [&] {
    EXPECT_EQ(arrived.load(), 3);  // runs after every party arrived
    actions.fetch_add(1);
  });
  run_threads(3, [&](int) {
    arrived.fetch_add(1);
    b.wait();
    EXPECT_EQ(actions.load(), 1);  // and before any is released
  });
  EXPECT_EQ(actions.load(), 1);
}

TEST(Barrier, C41_wait_on_broken_barrier_throws) {
  Barrier b(2);
  b.abort();
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(), BrokenBarrierError);
  EXPECT_THROW(b.wait(1s), BrokenBarrierError);
  EXPECT_EQ(b.n_waiting(), 0u);
}

TEST(Barrier, C41_abort_wakes_waiters_with_broken_barrier_error) {
  spindle_test::Watchdog wd("C41 abort");
  Barrier b(3);
  std::atomic<int> broken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      try {
        b.wait();
      } catch (const BrokenBarrierError&) {
        broken.fetch_add(1);
      }
    });
  }
  until_waiting(b, 2);
  b.abort();
  for (auto& t : threads) t.join();
  EXPECT_EQ(broken.load(), 2);
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, C41_timeout_breaks_the_barrier_for_everyone) {
  spindle_test::Watchdog wd("C41 timeout");
  Barrier b(3);
  std::atomic<int> broken{0};
  std::thread patient([&] {
    try {
      b.wait();  // no timeout of its own: freed only by the other's timeout
    } catch (const BrokenBarrierError&) {
      broken.fetch_add(1);
    }
  });
  until_waiting(b, 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(b.wait(20ms), BrokenBarrierError);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  patient.join();
  EXPECT_EQ(broken.load(), 1);
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, C41_default_timeout_applies_to_wait) {
  spindle_test::Watchdog wd("C41 default timeout");
  Barrier b(2, {}, 10ms);
  EXPECT_THROW(b.wait(), BrokenBarrierError);
  EXPECT_TRUE(b.broken());
  Barrier d(2, {}, std::chrono::duration<double>(0.01));
  EXPECT_THROW(d.wait(), BrokenBarrierError);
}

TEST(Barrier, C45_negative_timeout_breaks_the_barrier_for_every_waiter) {
  spindle_test::Watchdog wd("C45");
  // Python's Barrier(3): one thread waiting, then wait(-1) -> both get
  // BrokenBarrierError and the barrier is broken.
  Barrier b(3);
  std::atomic<int> broken{0};
  std::thread patient([&] {
    try {
      b.wait();  // no timeout of its own: freed only by the other's timeout
    } catch (const BrokenBarrierError&) {
      broken.fetch_add(1);
    }
  });
  until_waiting(b, 1);
  EXPECT_THROW(b.wait(-1s), BrokenBarrierError);
  patient.join();
  EXPECT_EQ(broken.load(), 1);
  EXPECT_TRUE(b.broken());
  // Alone, with any negative form.
  Barrier two(2);
  EXPECT_THROW(two.wait(std::chrono::duration<double>(-0.5)), BrokenBarrierError);
  EXPECT_TRUE(two.broken());
  two.reset();
  EXPECT_THROW(two.wait(std::chrono::hours::min()), BrokenBarrierError);
  // The last party to arrive does not wait: it passes (Barrier(1).wait(-1) == 0).
  Barrier one(1);
  EXPECT_EQ(one.wait(-1s), 0u);
  EXPECT_FALSE(one.broken());
  // A negative default timeout is accepted, and breaks the barrier at wait().
  Barrier by_default(2, {}, -1s);
  EXPECT_FALSE(by_default.broken());
  EXPECT_THROW(by_default.wait(), BrokenBarrierError);
  EXPECT_TRUE(by_default.broken());
  Barrier by_default_ns(2, {}, std::optional<std::chrono::nanoseconds>(-1ns));
  EXPECT_THROW(by_default_ns.wait(), BrokenBarrierError);
}

TEST(Barrier, C05_timeout_above_max_overflows_when_it_would_wait) {
  spindle_test::Watchdog wd("C05 barrier");
  Barrier b(2);
  EXPECT_THROW(b.wait(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  EXPECT_THROW(b.wait(std::chrono::hours::max()), spindle::OverflowError);
  EXPECT_FALSE(b.broken());  // left as it was, as in Python
  EXPECT_EQ(b.n_waiting(), 0u);
  // The barrier still works: the thread that arrives last does not wait, so
  // its timeout is not checked (Python's Barrier(1).wait(1e10) == 0).
  std::thread other([&] { EXPECT_EQ(b.wait(), 0u); });
  until_waiting(b, 1);
  EXPECT_EQ(b.wait(spindle::TIMEOUT_MAX + 1s), 1u);
  other.join();
  Barrier one(1);
  EXPECT_EQ(one.wait(spindle::TIMEOUT_MAX + 1s), 0u);
  // As a default timeout: accepted at construction, refused by a wait that would block.
  Barrier by_default(2, {}, spindle::TIMEOUT_MAX + 1s);
  EXPECT_THROW(by_default.wait(), spindle::OverflowError);
  EXPECT_FALSE(by_default.broken());
  EXPECT_THROW(b.wait(std::chrono::duration<double>(std::nan(""))), spindle::ValueError);
  EXPECT_THROW(Barrier(2, {}, std::chrono::duration<double>(std::nan(""))), spindle::ValueError);
}

TEST(Barrier, C42_action_exception_propagates_to_its_thread_others_broken) {
  spindle_test::Watchdog wd("C42");
  Barrier b(3, [] { throw std::logic_error("action failed"); });
  std::atomic<int> logic{0};
  std::atomic<int> broken{0};
  run_threads(3, [&](int) {
    try {
      b.wait();
    } catch (const BrokenBarrierError&) {
      broken.fetch_add(1);
    } catch (const std::logic_error& e) {
      EXPECT_STREQ(e.what(), "action failed");
      logic.fetch_add(1);
    }
  });
  EXPECT_EQ(logic.load(), 1);
  EXPECT_EQ(broken.load(), 2);
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, C44_reset_wakes_waiters_and_barrier_is_usable_again) {
  spindle_test::Watchdog wd("C44");
  Barrier b(3);
  std::atomic<int> broken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      try {
        b.wait();
      } catch (const BrokenBarrierError&) {
        broken.fetch_add(1);
      }
    });
  }
  until_waiting(b, 2);
  b.reset();
  for (auto& t : threads) t.join();
  EXPECT_EQ(broken.load(), 2);
  EXPECT_FALSE(b.broken());
  EXPECT_EQ(b.n_waiting(), 0u);
  // A full cycle works after reset.
  std::vector<std::size_t> idx(3);
  run_threads(3, [&](int t) { idx[t] = b.wait(); });
  std::sort(idx.begin(), idx.end());
  EXPECT_EQ(idx, (std::vector<std::size_t>{0, 1, 2}));
}

TEST(Barrier, C44_reset_repairs_a_broken_barrier) {
  spindle_test::Watchdog wd("C44 broken");
  Barrier b(2);
  b.abort();
  b.reset();
  EXPECT_FALSE(b.broken());
  std::thread t([&] { b.wait(); });
  b.wait();
  t.join();
}

TEST(Barrier, n_waiting_counts_this_cycle) {
  spindle_test::Watchdog wd("n_waiting");
  Barrier b(3);
  EXPECT_EQ(b.n_waiting(), 0u);
  std::thread t1([&] { b.wait(); });
  until_waiting(b, 1);
  std::thread t2([&] { b.wait(); });
  until_waiting(b, 2);
  b.wait();
  t1.join();
  t2.join();
  EXPECT_EQ(b.n_waiting(), 0u);
}

TEST(Barrier, action_may_query_and_abort_its_barrier) {
  spindle_test::Watchdog wd("action reentry");
  Barrier* self = nullptr;
  std::size_t seen_parties = 0;
  Barrier b(2, [&] {
    seen_parties = self->parties();
    EXPECT_FALSE(self->broken());
    EXPECT_EQ(self->n_waiting(), 2u);
    EXPECT_THROW(self->wait(), spindle::RuntimeError);
    EXPECT_THROW(self->reset(), spindle::RuntimeError);
    self->abort();
  });
  self = &b;
  std::atomic<int> broken{0};
  run_threads(2, [&](int) {
    try {
      b.wait();
    } catch (const BrokenBarrierError&) {
      broken.fetch_add(1);
    }
  });
  EXPECT_EQ(seen_parties, 2u);
  EXPECT_EQ(broken.load(), 2);
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, wait_publishes_writes_of_every_party) {
  spindle_test::Watchdog wd("publication");
  constexpr int kParties = 3;
  Barrier b(kParties);
  std::vector<int> slots(kParties, 0);
  run_threads(kParties, [&](int t) {
    for (int round = 1; round <= 100; ++round) {
      slots[t] = round;
      b.wait();
      for (int j = 0; j < kParties; ++j) ASSERT_EQ(slots[j], round);
      b.wait();  // nobody writes the next round before all have read
    }
  });
}
