// Many-thread stress for Semaphore, Barrier, Event and Condition: invariants
// that must hold whatever the interleaving (occupancy bounds, exact barrier
// indices, no thread left hanging, exact producer/consumer sums).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "spindle/barrier.hpp"
#include "spindle/condition.hpp"
#include "spindle/event.hpp"
#include "spindle/semaphore.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using spindle_test::scaled;

namespace {
constexpr auto kLimit = std::chrono::seconds(600);

void join_all(std::vector<std::thread>& threads) {
  for (auto& t : threads) t.join();
}
}  // namespace

TEST(SemaphoreStress, occupancy_never_exceeds_value) {
  spindle_test::Watchdog wd("SemaphoreStress occupancy", kLimit);
  constexpr int kUnits = 3;
  constexpr int kThreads = 8;
  const long per_thread = scaled(100'000);
  spindle::BoundedSemaphore sem(kUnits);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<long> entered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (long i = 0; i < per_thread; ++i) {
        bool got = true;
        switch ((t + i) % 3) {
          case 0:
            sem.acquire();
            break;
          case 1:
            got = sem.acquire(false);
            break;
          default:
            got = sem.acquire(std::chrono::microseconds(20));
            break;
        }
        if (!got) continue;
        const int now = inside.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        entered.fetch_add(1);
        inside.fetch_sub(1);
        sem.release();
      }
    });
  }
  join_all(threads);
  EXPECT_LE(most.load(), kUnits);
  EXPECT_GE(most.load(), 1);
  EXPECT_GE(entered.load(), per_thread * kThreads / 3);  // every blocking acquire got in
  EXPECT_EQ(sem.value(), static_cast<std::uint32_t>(kUnits));
}

TEST(SemaphoreStress, handoff_counts_exactly) {
  spindle_test::Watchdog wd("SemaphoreStress handoff", kLimit);
  const long items = scaled(200'000);
  spindle::Semaphore full(0);
  std::atomic<long> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (taken.fetch_add(1) < items) full.acquire();
    });
  }
  for (long i = 0; i < items; i += 4) full.release(items - i >= 4 ? 4 : items - i);
  join_all(threads);
  EXPECT_EQ(full.value(), 0u);
}

TEST(BarrierStress, ten_thousand_cycles_indices_exact) {
  spindle_test::Watchdog wd("BarrierStress cycles", kLimit);
  constexpr int kParties = 4;
  const long cycles = scaled(10'000);
  std::atomic<long> actions{0};
  spindle::Barrier b(kParties, [&] { actions.fetch_add(1, std::memory_order_relaxed); });
  std::vector<std::vector<unsigned char>> got(kParties, std::vector<unsigned char>(cycles));
  std::vector<std::thread> threads;
  for (int t = 0; t < kParties; ++t) {
    threads.emplace_back([&, t] {
      for (long c = 0; c < cycles; ++c) got[t][c] = static_cast<unsigned char>(b.wait());
    });
  }
  join_all(threads);
  EXPECT_EQ(actions.load(), cycles);
  for (long c = 0; c < cycles; ++c) {
    unsigned mask = 0;
    for (int t = 0; t < kParties; ++t) mask |= 1u << got[t][c];
    ASSERT_EQ(mask, (1u << kParties) - 1) << "cycle " << c;
  }
  EXPECT_FALSE(b.broken());
}

TEST(BarrierStress, abort_and_reset_at_random_points_leave_nobody_hanging) {
  spindle_test::Watchdog wd("BarrierStress abort/reset", kLimit);
  constexpr int kParties = 3;
  const long injections = scaled(2'000);
  spindle::Barrier b(kParties);
  std::atomic<bool> stop{false};
  std::atomic<long> passed{0};
  std::atomic<long> broken{0};
  std::atomic<long> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kParties; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        try {
          const std::size_t index = b.wait();
          if (index >= kParties) other.fetch_add(1);
          passed.fetch_add(1);
        } catch (const spindle::BrokenBarrierError&) {
          broken.fetch_add(1);
          while (b.broken() && !stop.load()) std::this_thread::yield();
        } catch (...) {
          other.fetch_add(1);
        }
      }
    });
  }
  std::mt19937 rng(12345);
  for (long i = 0; i < injections; ++i) {
    for (unsigned spins = rng() % 64; spins > 0; --spins) std::this_thread::yield();
    if (rng() % 2 == 0) {
      b.reset();
    } else {
      b.abort();
      for (unsigned spins = rng() % 8; spins > 0; --spins) std::this_thread::yield();
      b.reset();
    }
  }
  stop.store(true);
  b.abort();  // frees whoever waits now; later waits throw at once
  join_all(threads);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(passed.load() + broken.load(), 0);
  EXPECT_TRUE(b.broken());
}

TEST(EventStress, ping_pong_alternates_exactly) {
  spindle_test::Watchdog wd("EventStress ping-pong", kLimit);
  const long rounds = scaled(100'000);
  spindle::Event ping;
  spindle::Event pong;
  long turn = 0;  // written alternately; the events order the writes
  bool ok = true;
  std::thread b([&] {
    for (long i = 0; i < rounds; ++i) {
      ping.wait();
      ping.clear();
      if (turn != 2 * i + 1) ok = false;
      ++turn;
      pong.set();
    }
  });
  for (long i = 0; i < rounds; ++i) {
    if (turn != 2 * i) ok = false;
    ++turn;
    ping.set();
    pong.wait();
    pong.clear();
  }
  b.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(turn, 2 * rounds);
}

TEST(EventStress, set_wakes_all_consumers_every_round) {
  spindle_test::Watchdog wd("EventStress broadcast", kLimit);
  constexpr int kConsumers = 4;
  const long rounds = scaled(5'000);
  std::vector<spindle::Event> events(rounds);
  std::vector<long> data(rounds, -1);
  std::atomic<long> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConsumers; ++t) {
    threads.emplace_back([&] {
      for (long r = 0; r < rounds; ++r) {
        if (!events[r].wait(600s) || data[r] != r) bad.fetch_add(1);
      }
    });
  }
  for (long r = 0; r < rounds; ++r) {
    data[r] = r;
    events[r].set();
  }
  join_all(threads);
  EXPECT_EQ(bad.load(), 0);
}

namespace {
// A bounded buffer in the style of CPython's queue: one lock, a not_full and
// a not_empty Condition over it. With notify_all=false each change wakes one
// thread of the kind that can use it; with true it wakes all of them.
template <class LockT>
void condition_producer_consumer(bool notify_all) {
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr std::size_t kCapacity = 4;
  const long per_producer = scaled(50'000);
  const long total = kProducers * per_producer;
  LockT lock;
  spindle::Condition not_full(lock);
  spindle::Condition not_empty(lock);
  std::deque<long> items;
  long consumed_sum = 0;
  long consumed = 0;
  auto wake = [&](spindle::Condition& c) { notify_all ? c.notify_all() : c.notify(); };
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&] {
      for (long i = 1; i <= per_producer; ++i) {
        std::scoped_lock g(lock);
        not_full.wait_for([&] { return items.size() < kCapacity; });
        items.push_back(i);
        wake(not_empty);
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        std::scoped_lock g(lock);
        not_empty.wait_for([&] { return !items.empty() || consumed == total; });
        if (items.empty()) return;
        consumed_sum += items.front();
        items.pop_front();
        if (++consumed == total) not_empty.notify_all();  // let the other consumers finish
        wake(not_full);
      }
    });
  }
  join_all(threads);
  EXPECT_EQ(consumed, total);
  EXPECT_EQ(consumed_sum, kProducers * per_producer * (per_producer + 1) / 2);
  EXPECT_TRUE(items.empty());
}
}  // namespace

TEST(ConditionStress, producer_consumer_notify_one_rlock) {
  spindle_test::Watchdog wd("ConditionStress notify one", kLimit);
  condition_producer_consumer<spindle::RLock>(false);
}

TEST(ConditionStress, producer_consumer_notify_all_lock) {
  spindle_test::Watchdog wd("ConditionStress notify all", kLimit);
  condition_producer_consumer<spindle::Lock>(true);
}
