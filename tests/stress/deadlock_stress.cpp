// Many-thread stress for the deadlock detector: no false cycle in a million
// acquisitions in a consistent order (threads park and wake all the time,
// so the detector sees stale-looking records constantly), and no missed one
// when threads really take locks in opposite orders (a miss would hang).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/barrier.hpp"
#include "spindle/deadlock.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

namespace {

// A small deterministic generator per thread (xorshift).
struct Rng {
  std::uint64_t s;
  std::uint32_t next(std::uint32_t n) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s % n);
  }
};

}  // namespace

TEST(DeadlockStress, consistent_order_never_reports_a_cycle_in_a_million_acquisitions) {
  spindle_test::Watchdog wd("consistent order", std::chrono::seconds(600));
  ASSERT_EQ(spindle::deadlock_policy(), spindle::DeadlockPolicy::raise);
  constexpr int kThreads = 8;
  constexpr std::uint32_t kLocks = 5;
  const long acquisitions = spindle_test::scaled(1'000'000, 10'000'000);
  const long rounds = acquisitions / (2 * kThreads);  // each round: two acquisitions (or three)
  // Lock 0 is an RLock (re-entered now and then), the others Locks.
  spindle::RLock rlock;
  std::vector<std::unique_ptr<spindle::Lock>> plain;
  for (std::uint32_t i = 1; i < kLocks; ++i) plain.push_back(std::make_unique<spindle::Lock>());
  auto lock = [&](std::uint32_t i) {
    if (i == 0) {
      rlock.acquire();
    } else {
      plain[i - 1]->acquire();
    }
  };
  auto unlock = [&](std::uint32_t i) {
    if (i == 0) {
      rlock.release();
    } else {
      plain[i - 1]->release();
    }
  };
  std::vector<long> counts(kLocks, 0);
  std::atomic<long> errors{0};
  std::atomic<long> taken{0};
  spindle::Barrier start(kThreads);
  std::vector<std::unique_ptr<spindle::Thread>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<spindle::Thread>(
        spindle::ThreadOptions{.name = "stress-" + std::to_string(t)}, [&, t] {
          Rng rng{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(t + 1)};
          long mine = 0;
          (void)start.wait();
          for (long r = 0; r < rounds; ++r) {
            std::uint32_t i = rng.next(kLocks);
            std::uint32_t j = rng.next(kLocks);
            if (i == j) j = (i + 1) % kLocks;
            if (i > j) std::swap(i, j);  // always the lower index first
            const bool reenter = i == 0 && (r & 3) == 0;
            try {
              lock(i);
              if (reenter) lock(0);
              try {
                lock(j);
              } catch (...) {
                if (reenter) unlock(0);
                unlock(i);
                throw;
              }
              ++counts[i];
              ++counts[j];
              // Now and then give the core away while holding both: the
              // others pile up behind these locks and park.
              if ((r & 7) == 0) std::this_thread::yield();
              unlock(j);
              if (reenter) unlock(0);
              unlock(i);
              mine += reenter ? 3 : 2;
            } catch (const spindle::DeadlockError& e) {
              errors.fetch_add(1);
              ADD_FAILURE() << e.what();
            }
          }
          taken.fetch_add(mine);
        }));
  }
  for (auto& th : threads) th->start();
  for (auto& th : threads) th->join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GE(taken.load(), acquisitions - 2 * kThreads);
  long total = 0;
  for (long c : counts) total += c;
  EXPECT_EQ(total, 2 * rounds * kThreads);
  EXPECT_TRUE(spindle::find_deadlocks().empty());
}

TEST(DeadlockStress, consistent_order_under_lock_order_checking_reports_nothing) {
  spindle_test::Watchdog wd("order checking", std::chrono::seconds(600));
  std::atomic<int> violations{0};
  spindle::set_lock_order_hook(
      [&](const spindle::LockOrderViolation&) { violations.fetch_add(1); });
  spindle::set_lock_order_checking(true);
  constexpr int kThreads = 4;
  constexpr std::uint32_t kLocks = 6;
  const long rounds = spindle_test::scaled(50'000);
  std::vector<std::unique_ptr<spindle::Lock>> locks;
  for (std::uint32_t i = 0; i < kLocks; ++i) locks.push_back(std::make_unique<spindle::Lock>());
  spindle::Barrier start(kThreads);
  std::vector<std::unique_ptr<spindle::Thread>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<spindle::Thread>([&, t] {
      Rng rng{0x2545F4914F6CDD1DULL * static_cast<std::uint64_t>(t + 1)};
      (void)start.wait();
      for (long r = 0; r < rounds; ++r) {
        std::uint32_t i = rng.next(kLocks);
        std::uint32_t j = rng.next(kLocks);
        if (i == j) continue;
        if (i > j) std::swap(i, j);
        std::scoped_lock a(*locks[i]);
        std::scoped_lock b(*locks[j]);
        if ((r & 7) == 0) std::this_thread::yield();
      }
    }));
  }
  for (auto& th : threads) th->start();
  for (auto& th : threads) th->join();
  spindle::set_lock_order_checking(false);
  spindle::set_lock_order_hook({});
  EXPECT_EQ(violations.load(), 0);
}

// Threads that really take two locks in opposite orders, without timeouts,
// over and over: whenever they deadlock, exactly the thread that closed the
// cycle throws, backs off and retries. A missed cycle would hang (watchdog).
TEST(DeadlockStress, opposite_orders_always_end_in_an_error_never_a_hang) {
  spindle_test::Watchdog wd("opposite orders", std::chrono::seconds(600));
  const long rounds = spindle_test::scaled(20'000);
  for (const int n : {2, 3}) {
    std::vector<std::unique_ptr<spindle::Lock>> locks;
    for (int i = 0; i < n; ++i) locks.push_back(std::make_unique<spindle::Lock>());
    std::atomic<long> done{0};
    std::atomic<long> errors{0};
    spindle::Barrier start(n);
    std::vector<std::unique_ptr<spindle::Thread>> threads;
    for (int t = 0; t < n; ++t) {
      threads.push_back(std::make_unique<spindle::Thread>([&, t] {
        spindle::Lock& first = *locks[static_cast<std::size_t>(t)];
        spindle::Lock& second = *locks[static_cast<std::size_t>((t + 1) % n)];
        (void)start.wait();
        for (long r = 0; r < rounds;) {
          std::scoped_lock a(first);
          std::this_thread::yield();  // let the others take their first lock
          try {
            std::scoped_lock b(second);
            ++r;
          } catch (const spindle::DeadlockError& e) {
            errors.fetch_add(1);
            EXPECT_EQ(e.deadlock().threads.size(), static_cast<std::size_t>(n));
          }
        }
        done.fetch_add(rounds);
      }));
    }
    for (auto& th : threads) th->start();
    for (auto& th : threads) th->join();
    EXPECT_EQ(done.load(), rounds * n);
    // How often the threads really deadlocked depends on the scheduling.
    std::printf("%d threads, %ld rounds each: %ld deadlocks caught\n", n, rounds, errors.load());
  }
}
