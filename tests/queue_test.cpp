// Tests for spindle/queue.hpp: the queue contracts C70-C81 and the surface.
#include "spindle/queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "support.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using spindle_test::Watchdog;

namespace {

using spindle_test::eventually;
using spindle_test::ParkProbe;

// The object a thread parked on a queue waits on (Thread::waiting_on()):
// the queue itself.
template <class Q>
const void* core_of(const Q& q) {
  return &q;
}

}  // namespace

// ---- C70 ----------------------------------------------------------------

TEST(Queue, C70_zero_or_negative_maxsize_is_unbounded) {
  for (std::ptrdiff_t m : {0L, -1L, -100L}) {
    spindle::Queue<int> q(m);
    EXPECT_EQ(q.maxsize(), m);
    for (int i = 0; i < 10'000; ++i) q.put_nowait(i);
    EXPECT_FALSE(q.full());
    EXPECT_EQ(q.qsize(), 10'000u);
  }
  spindle::LifoQueue<int> lq(-5);
  spindle::PriorityQueue<int> pq(0);
  for (int i = 0; i < 1000; ++i) {
    lq.put_nowait(i);
    pq.put_nowait(i);
  }
  EXPECT_FALSE(lq.full());
  EXPECT_FALSE(pq.full());
}

TEST(Queue, C70_positive_maxsize_bounds) {
  spindle::Queue<int> q(3);
  EXPECT_EQ(q.maxsize(), 3);
  q.put(1);
  q.put(2);
  q.put(3);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(4), spindle::Full);
}

// ---- C71 ----------------------------------------------------------------

TEST(Queue, C71_negative_timeout_throws_value_error) {
  spindle::Queue<int> q(1);
  try {
    q.put(1, -1s);
    FAIL() << "no throw";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "'timeout' must be a non-negative number");
  }
  try {
    (void)q.get(-1ms);
    FAIL() << "no throw";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "'timeout' must be a non-negative number");
  }
  EXPECT_THROW((void)q.get(std::chrono::duration<double>(-0.5)), spindle::ValueError);
  EXPECT_THROW((void)q.get(std::chrono::duration<double>(std::nan(""))), spindle::ValueError);
  EXPECT_EQ(q.qsize(), 0u);  // the rejected put did not put
  spindle::SimpleQueue<int> sq;
  EXPECT_THROW((void)sq.get(-1s), spindle::ValueError);
}

TEST(Queue, C71_timeout_above_timeout_max_overflows_and_zero_is_allowed) {
  spindle::Queue<int> q;
  EXPECT_THROW(q.put(1, spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  q.put(1, spindle::TIMEOUT_MAX);
  q.put(2, 0s);
  EXPECT_EQ(q.get(0s), 1);
  EXPECT_EQ(q.get(spindle::TIMEOUT_MAX), 2);
}

// ---- C72 ----------------------------------------------------------------

TEST(Queue, C72_get_on_empty_nonblocking_throws_empty) {
  spindle::Queue<int> q;
  EXPECT_THROW((void)q.get_nowait(), spindle::Empty);
  EXPECT_THROW((void)q.get(false), spindle::Empty);
  EXPECT_THROW((void)q.get(0s), spindle::Empty);
  spindle::LifoQueue<int> lq;
  EXPECT_THROW((void)lq.get_nowait(), spindle::Empty);
  spindle::PriorityQueue<int> pq;
  EXPECT_THROW((void)pq.get_nowait(), spindle::Empty);
  spindle::SimpleQueue<int> sq;
  EXPECT_THROW((void)sq.get_nowait(), spindle::Empty);
  EXPECT_THROW((void)sq.get(false), spindle::Empty);
}

TEST(Queue, C72_get_timeout_expires_with_empty_after_at_least_the_timeout) {
  Watchdog wd("C72 timeout");
  spindle::Queue<int> q;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW((void)q.get(20ms), spindle::Empty);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  spindle::SimpleQueue<int> sq;
  EXPECT_THROW((void)sq.get(5ms), spindle::Empty);
}

TEST(Queue, C72_timed_get_receives_an_item_put_while_it_waits) {
  Watchdog wd("C72 timed get");
  spindle::Queue<int> q;
  ParkProbe probe(1);
  std::thread t([&] {
    probe.await_parked(core_of(q));
    q.put(42);
  });
  probe.attach(0);
  EXPECT_EQ(q.get(60s), 42);
  t.join();
}

// ---- C73 ----------------------------------------------------------------

TEST(Queue, C73_put_on_full_nonblocking_throws_full_and_keeps_the_item) {
  spindle::Queue<std::unique_ptr<int>> q(1);
  q.put(std::make_unique<int>(1));
  auto item = std::make_unique<int>(2);
  EXPECT_THROW(q.put_nowait(std::move(item)), spindle::Full);
  ASSERT_NE(item, nullptr);  // a put that throws does not take the item
  EXPECT_EQ(*item, 2);
  EXPECT_THROW(q.put(std::move(item), false), spindle::Full);
  EXPECT_THROW(q.put(std::move(item), 0s), spindle::Full);
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(q.qsize(), 1u);
}

TEST(Queue, C73_put_timeout_expires_with_full_after_at_least_the_timeout) {
  Watchdog wd("C73 timeout");
  spindle::Queue<int> q(1);
  q.put(1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(q.put(2, 20ms), spindle::Full);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_EQ(q.get_nowait(), 1);
}

TEST(Queue, C73_blocked_put_proceeds_when_a_slot_frees) {
  Watchdog wd("C73 blocked put");
  spindle::Queue<int> q(2);
  q.put(1);
  q.put(2);
  std::atomic<bool> done{false};
  ParkProbe probe(1);
  std::thread t([&] {
    probe.attach(0);
    q.put(3);  // blocks until the get below
    done = true;
  });
  probe.await_parked(core_of(q));
  EXPECT_FALSE(done.load());
  EXPECT_EQ(q.get(), 1);
  t.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(q.get(), 2);
  EXPECT_EQ(q.get(), 3);
}

// ---- C74 ----------------------------------------------------------------

TEST(Queue, C74_task_done_too_many_times_throws_value_error) {
  spindle::Queue<int> q;
  try {
    q.task_done();
    FAIL() << "no throw";
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "task_done() called too many times");
  }
  q.put(1);
  (void)q.get();
  q.task_done();
  EXPECT_THROW(q.task_done(), spindle::ValueError);
  q.join();  // count is zero: returns at once
}

// ---- C75 ----------------------------------------------------------------

TEST(Queue, C75_join_returns_at_once_when_nothing_was_put) {
  Watchdog wd("C75 join empty");
  spindle::Queue<int> q;
  q.join();
  SUCCEED();
}

TEST(Queue, C75_join_returns_once_every_item_has_its_task_done) {
  Watchdog wd("C75 join");
  constexpr int kItems = 1000;
  spindle::Queue<int> q;
  std::atomic<int> done_count{0};
  for (int i = 0; i < kItems; ++i) q.put(i);
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      for (;;) {
        int v = 0;
        try {
          v = q.get_nowait();
        } catch (const spindle::Empty&) {
          return;
        }
        (void)v;
        done_count.fetch_add(1);  // before task_done: join must see it
        q.task_done();
      }
    });
  }
  q.join();
  EXPECT_EQ(done_count.load(), kItems);
  for (auto& t : workers) t.join();
}

TEST(Queue, C75_join_blocks_while_a_task_is_unfinished) {
  Watchdog wd("C75 join blocks");
  spindle::Queue<int> q;
  q.put(1);
  q.put(2);
  (void)q.get();
  (void)q.get();
  q.task_done();
  std::atomic<bool> joined{false};
  ParkProbe probe(1);
  std::thread j([&] {
    probe.attach(0);
    q.join();
    joined = true;
  });
  probe.await_parked(core_of(q));  // parked in join: one task is unfinished
  EXPECT_FALSE(joined.load());
  q.task_done();
  j.join();
  EXPECT_TRUE(joined.load());
}

// ---- C76 ----------------------------------------------------------------

TEST(Queue, C76_put_after_shutdown_throws_shutdown) {
  spindle::Queue<int> q;
  EXPECT_FALSE(q.is_shutdown());
  q.shutdown();
  EXPECT_TRUE(q.is_shutdown());
  EXPECT_THROW(q.put(1), spindle::ShutDown);
  EXPECT_THROW(q.put_nowait(1), spindle::ShutDown);
  EXPECT_THROW(q.put(1, 1s), spindle::ShutDown);
  EXPECT_THROW(q.emplace(1), spindle::ShutDown);
  EXPECT_EQ(q.qsize(), 0u);
  q.shutdown();  // twice is allowed
}

TEST(Queue, C76_blocked_putters_wake_and_throw_shutdown) {
  Watchdog wd("C76 blocked putters");
  spindle::Queue<int> q(1);
  q.put(0);
  std::atomic<int> shut{0};
  ParkProbe probe(3);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&, i] {
      probe.attach(i);
      try {
        if (i == 0) {
          q.put(1);
        } else {
          q.put(1, 60s);
        }
      } catch (const spindle::ShutDown&) {
        shut.fetch_add(1);
      }
    });
  }
  probe.await_parked(core_of(q));
  q.shutdown();
  for (auto& t : ts) t.join();
  EXPECT_EQ(shut.load(), 3);
  EXPECT_EQ(q.get(), 0);  // what was there can still be got (C77)
}

// ---- C77 ----------------------------------------------------------------

TEST(Queue, C77_get_after_shutdown_drains_then_throws_shutdown) {
  spindle::Queue<int> q;
  q.put(1);
  q.put(2);
  q.shutdown();
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get_nowait(), 2);
  EXPECT_THROW((void)q.get(), spindle::ShutDown);
  EXPECT_THROW((void)q.get_nowait(), spindle::ShutDown);
  EXPECT_THROW((void)q.get(1s), spindle::ShutDown);
  q.task_done();
  q.task_done();
  q.join();
}

TEST(Queue, C77_blocked_getters_wake_and_throw_shutdown) {
  Watchdog wd("C77 blocked getters");
  spindle::Queue<int> q;
  std::atomic<int> shut{0};
  ParkProbe probe(4);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      probe.attach(i);
      try {
        if (i % 2 == 0) {
          (void)q.get();
        } else {
          (void)q.get(60s);
        }
      } catch (const spindle::ShutDown&) {
        shut.fetch_add(1);
      }
    });
  }
  probe.await_parked(core_of(q));
  q.shutdown();
  for (auto& t : ts) t.join();
  EXPECT_EQ(shut.load(), 4);
}

// ---- C78 ----------------------------------------------------------------

TEST(Queue, C78_immediate_shutdown_drains_and_releases_join) {
  Watchdog wd("C78 immediate");
  spindle::Queue<std::unique_ptr<int>> q;
  for (int i = 0; i < 5; ++i) q.put(std::make_unique<int>(i));
  auto first = q.get();
  std::atomic<bool> joined{false};
  ParkProbe probe(1);
  std::thread j([&] {
    probe.attach(0);
    q.join();
    joined = true;
  });
  probe.await_parked(core_of(q));
  q.shutdown(true);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_THROW((void)q.get_nowait(), spindle::ShutDown);
  // 5 put, 4 drained: one unfinished (the one got) keeps join() waiting.
  EXPECT_FALSE(joined.load());
  q.task_done();
  j.join();
  EXPECT_TRUE(joined.load());
  EXPECT_THROW(q.task_done(), spindle::ValueError);
}

TEST(Queue, C78_immediate_shutdown_wakes_blocked_getters_and_join) {
  Watchdog wd("C78 wakes");
  spindle::Queue<int> q;
  std::atomic<int> shut{0};
  ParkProbe probe(3);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&, i] {
      probe.attach(i);
      try {
        (void)q.get();
      } catch (const spindle::ShutDown&) {
        shut.fetch_add(1);
      }
    });
  }
  probe.await_parked(core_of(q));
  q.shutdown(true);
  for (auto& t : ts) t.join();
  EXPECT_EQ(shut.load(), 3);

  spindle::Queue<int> q2;
  for (int i = 0; i < 10; ++i) q2.put(i);
  ParkProbe probe2(1);
  std::thread j([&] {
    probe2.attach(0);
    q2.join();
  });
  probe2.await_parked(core_of(q2));
  q2.shutdown(true);  // drains all 10: unfinished reaches zero
  j.join();
  EXPECT_EQ(q2.qsize(), 0u);
}

// ---- C79 ----------------------------------------------------------------

TEST(Queue, C79_qsize_empty_full_are_exact_when_quiescent) {
  spindle::Queue<int> q(2);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 0u);
  q.put(1);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.qsize(), 1u);
  q.put(2);
  EXPECT_TRUE(q.full());
  (void)q.get();
  EXPECT_FALSE(q.full());
  spindle::SimpleQueue<int> sq;
  EXPECT_TRUE(sq.empty());
  sq.put(1);
  EXPECT_EQ(sq.qsize(), 1u);
}

TEST(Queue, C79_qsize_may_be_read_concurrently_and_stays_in_range) {
  Watchdog wd("C79 concurrent qsize");
  spindle::Queue<int> q(8);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      const auto n = q.qsize();
      EXPECT_LE(n, 8u);
      (void)q.empty();
      (void)q.full();
    }
  });
  std::thread producer([&] {
    for (int i = 0; i < spindle_test::scaled(20'000); ++i) q.put(i);
  });
  for (int i = 0; i < spindle_test::scaled(20'000); ++i) EXPECT_EQ(q.get(), i);
  producer.join();
  stop = true;
  reader.join();
}

// ---- C80 ----------------------------------------------------------------

TEST(Queue, C80_fifo_queue_keeps_order) {
  spindle::Queue<int> q;
  for (int i = 0; i < 100; ++i) q.put(i);  // crosses several ring growths
  for (int i = 0; i < 50; ++i) EXPECT_EQ(q.get(), i);
  for (int i = 100; i < 200; ++i) q.put(i);  // wraps around
  for (int i = 50; i < 200; ++i) EXPECT_EQ(q.get(), i);
}

TEST(Queue, C80_lifo_queue_is_last_in_first_out) {
  spindle::LifoQueue<std::string> q;
  q.put("a");
  q.put("b");
  q.put("c");
  EXPECT_EQ(q.get(), "c");
  EXPECT_EQ(q.get(), "b");
  q.put("d");
  EXPECT_EQ(q.get(), "d");
  EXPECT_EQ(q.get(), "a");
}

TEST(Queue, C80_priority_queue_is_lowest_first_with_pairs) {
  spindle::PriorityQueue<std::pair<int, std::string>> q;
  q.put({3, "low"});
  q.put({1, "urgent"});
  q.emplace(2, "normal");
  q.put({1, "also urgent"});
  EXPECT_EQ(q.get().first, 1);
  EXPECT_EQ(q.get().first, 1);
  EXPECT_EQ(q.get(), std::make_pair(2, std::string("normal")));
  EXPECT_EQ(q.get(), std::make_pair(3, std::string("low")));
}

TEST(Queue, C80_priority_queue_sorts_like_std_sort_and_takes_a_comparator) {
  std::mt19937 rng(7);
  std::vector<int> values(5000);
  for (auto& v : values) v = static_cast<int>(rng() % 1000);
  spindle::PriorityQueue<int> lo;
  spindle::PriorityQueue<int, std::greater<int>> hi;
  for (int v : values) {
    lo.put(v);
    hi.put(v);
  }
  std::vector<int> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (int v : sorted) EXPECT_EQ(lo.get(), v);
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) EXPECT_EQ(hi.get(), *it);
  // Interleaved puts and gets keep the heap property.
  std::vector<int> model;
  for (int i = 0; i < 5000; ++i) {
    if (rng() % 3 != 0 || model.empty()) {
      const int v = static_cast<int>(rng() % 100);
      lo.put(v);
      model.push_back(v);
    } else {
      auto it = std::min_element(model.begin(), model.end());
      EXPECT_EQ(lo.get(), *it);
      model.erase(it);
    }
  }
  EXPECT_EQ(lo.qsize(), model.size());
}

// ---- C81 ----------------------------------------------------------------

namespace {

// An item whose copy, move or comparison throws on demand.
struct Fragile {
  static inline int throw_on_copy = 0;  // throw on the nth copy from now (1 = next)
  static inline int throw_on_move = 0;
  static inline int throw_on_less = 0;
  static inline std::atomic<int> live{0};  // items are built and destroyed in several threads
  int value = 0;

  static void maybe_throw(int& countdown, const char* what) {
    if (countdown > 0 && --countdown == 0) throw std::runtime_error(what);
  }
  explicit Fragile(int v) : value(v) { ++live; }
  Fragile(const Fragile& o) : value(o.value) {
    maybe_throw(throw_on_copy, "copy");
    ++live;
  }
  Fragile(Fragile&& o) : value(o.value) {  // may throw: stored boxed
    maybe_throw(throw_on_move, "move");
    ++live;
  }
  Fragile& operator=(const Fragile&) = default;
  Fragile& operator=(Fragile&&) = default;
  ~Fragile() { --live; }
  friend bool operator<(const Fragile& a, const Fragile& b) {
    maybe_throw(throw_on_less, "less");
    return a.value < b.value;
  }
};

struct MoveOnlyFragile {
  static inline int throw_on_move = 0;
  int value = 0;
  explicit MoveOnlyFragile(int v) : value(v) {}
  MoveOnlyFragile(MoveOnlyFragile&& o) : value(o.value) {
    if (throw_on_move > 0 && --throw_on_move == 0) throw std::runtime_error("move");
  }
  MoveOnlyFragile& operator=(MoveOnlyFragile&&) = default;
};

void reset_fragile() {
  Fragile::throw_on_copy = Fragile::throw_on_move = Fragile::throw_on_less = 0;
}

}  // namespace

TEST(Queue, C81_throwing_copy_in_put_leaves_queue_unchanged) {
  static_assert(!spindle::detail::kInlineItem<Fragile>);
  reset_fragile();
  spindle::Queue<Fragile> q(4);
  const Fragile a(1), b(2), c(3);
  q.put(a);
  Fragile::throw_on_copy = 1;
  EXPECT_THROW(q.put(b), std::runtime_error);
  q.put(c);
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get().value, 1);
  EXPECT_EQ(q.get().value, 3);
  q.task_done();
  q.task_done();
  EXPECT_THROW(q.task_done(), spindle::ValueError);  // the failed put was not counted
  // Growth of the ring buffer never moves items (they are boxed).
  for (int i = 0; i < 4; ++i) q.put(Fragile(i));
  EXPECT_EQ(q.qsize(), 4u);
}

TEST(Queue, C81_throwing_copy_in_get_keeps_the_item_queued) {
  reset_fragile();
  for (int kind = 0; kind < 3; ++kind) {
    auto check = [&](auto& q) {
      q.put(Fragile(5));
      // Fragile's move may throw and it is copyable: get copies it out.
      Fragile::throw_on_copy = 1;
      EXPECT_THROW((void)q.get(), std::runtime_error);
      EXPECT_EQ(q.qsize(), 1u);
      EXPECT_EQ(q.get().value, 5);
      EXPECT_EQ(q.qsize(), 0u);
    };
    if (kind == 0) {
      spindle::Queue<Fragile> q;
      check(q);
    } else if (kind == 1) {
      spindle::LifoQueue<Fragile> q;
      check(q);
    } else {
      spindle::PriorityQueue<Fragile> q;
      check(q);
    }
  }
}

TEST(Queue, C81_throwing_move_of_move_only_item_keeps_it_queued) {
  spindle::Queue<MoveOnlyFragile> q;
  q.put(MoveOnlyFragile(1));
  q.put(MoveOnlyFragile(2));
  MoveOnlyFragile::throw_on_move = 1;
  EXPECT_THROW((void)q.get(), std::runtime_error);
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get().value, 1);
  EXPECT_EQ(q.get().value, 2);
}

TEST(Queue, C81_throwing_comparison_leaves_priority_queue_consistent) {
  reset_fragile();
  std::mt19937 rng(11);
  spindle::PriorityQueue<Fragile> q;
  std::vector<int> model;
  int thrown = 0;
  for (int i = 0; i < 3000; ++i) {
    const bool do_put = model.empty() || rng() % 3 != 0;
    Fragile::throw_on_less = static_cast<int>(rng() % 6);  // 0: never; else the nth comparison
    try {
      if (do_put) {
        const int v = static_cast<int>(rng() % 50);
        q.put(Fragile(v));
        model.push_back(v);
      } else {
        const int v = q.get().value;
        auto it = std::min_element(model.begin(), model.end());
        EXPECT_EQ(v, *it);
        model.erase(it);
      }
    } catch (const std::runtime_error&) {
      ++thrown;
    }
    Fragile::throw_on_less = 0;
    ASSERT_EQ(q.qsize(), model.size());
  }
  EXPECT_GT(thrown, 100);
  std::sort(model.begin(), model.end());
  for (int v : model) EXPECT_EQ(q.get().value, v);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, C81_no_leak_or_double_destroy_with_throwing_items) {
  reset_fragile();
  const int before = Fragile::live;
  {
    spindle::LifoQueue<Fragile> q;
    for (int i = 0; i < 100; ++i) {
      Fragile::throw_on_copy = (i % 7 == 0) ? 1 : 0;
      try {
        const Fragile f(i);
        q.put(f);
      } catch (const std::runtime_error&) {
      }
    }
    Fragile::throw_on_copy = 0;
    EXPECT_EQ(q.qsize(), 100u - 15u);
    q.shutdown(true);
  }
  EXPECT_EQ(Fragile::live, before);
}

// A wake-up consumed by a waiter that then throws passes on to the next
// waiter, as a timed-out waiter's does: nobody sleeps while the item stays
// queued (or the slot stays free).

namespace {

// Waits until `pred` holds or a generous hang guard runs out; returns pred().
// The guard only turns a hang into a failed assertion.
template <class Pred>
bool within_hang_guard(Pred pred) {
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return pred();
    std::this_thread::yield();
  }
  return true;
}

// Two getters parked on an empty queue, one put: the getter handed the item
// throws while copying it out; the other must get it.
template <class Q>
void check_failed_getter_passes_its_wake_up_on(Q& q) {
  reset_fragile();
  ParkProbe probe(2);
  std::atomic<int> threw{0};
  std::atomic<int> got{0};
  std::atomic<int> value{-1};
  std::vector<std::thread> getters;
  for (int i = 0; i < 2; ++i) {
    getters.emplace_back([&, i] {
      probe.attach(i);
      try {
        value = q.get().value;
        got.fetch_add(1);
      } catch (const std::runtime_error&) {
        threw.fetch_add(1);
      }
    });
  }
  probe.await_parked(nullptr, "Queue.get");  // both listed as waiting for an item
  Fragile::throw_on_copy = 1;                // the first copy out of the queue throws
  q.put(Fragile(7));                         // moved in: no copy
  const bool passed_on = within_hang_guard([&] { return threw.load() + got.load() == 2; });
  EXPECT_TRUE(passed_on) << "the second getter slept while the item stayed queued";
  if (!passed_on) q.put(Fragile(8));  // release the stranded getter so the test can end
  for (auto& t : getters) t.join();
  EXPECT_EQ(threw.load(), 1);
  EXPECT_EQ(got.load(), 1);
  EXPECT_EQ(value.load(), 7);
  EXPECT_EQ(q.qsize(), 0u);
}

// Two putters parked on a full queue, one get: the putter handed the free
// slot throws (its move in, or - `throw_on` pointing at throw_on_less - a
// comparison); the other must put.
template <class Q>
void check_failed_putter_passes_its_wake_up_on(Q& q, int& throw_on) {
  reset_fragile();
  ParkProbe probe(2);
  std::atomic<int> threw{0};
  std::atomic<int> put{0};
  std::atomic<int> put_value{-1};
  std::vector<std::thread> putters;
  for (int i = 0; i < 2; ++i) {
    putters.emplace_back([&, i] {
      probe.attach(i);
      try {
        q.put(Fragile(10 + i));  // moved in
        put_value = 10 + i;
        put.fetch_add(1);
      } catch (const std::runtime_error&) {
        threw.fetch_add(1);
      }
    });
  }
  probe.await_parked(nullptr, "Queue.put");  // both listed as waiting for room
  throw_on = 1;                              // the putter that gets the slot throws
  EXPECT_EQ(q.get().value, 0);               // copied out (no move, no comparison)
  const bool passed_on = within_hang_guard([&] { return threw.load() + put.load() == 2; });
  EXPECT_TRUE(passed_on) << "the second putter slept while the slot stayed free";
  if (!passed_on) (void)q.get();  // release the stranded putter so the test can end
  for (auto& t : putters) t.join();
  EXPECT_EQ(threw.load(), 1);
  EXPECT_EQ(put.load(), 1);
  EXPECT_TRUE(q.full());
  std::vector<int> left;
  while (!q.empty()) left.push_back(q.get().value);
  EXPECT_NE(std::find(left.begin(), left.end(), put_value.load()), left.end());
  EXPECT_EQ(left.size(), static_cast<std::size_t>(q.maxsize()));
}

}  // namespace

TEST(Queue, C81_getter_that_throws_after_its_wake_up_passes_it_on) {
  Watchdog wd("C81 getter passes its wake-up on");
  {
    spindle::Queue<Fragile> q;
    check_failed_getter_passes_its_wake_up_on(q);
  }
  {
    spindle::LifoQueue<Fragile> q;
    check_failed_getter_passes_its_wake_up_on(q);
  }
  {
    spindle::PriorityQueue<Fragile> q;
    check_failed_getter_passes_its_wake_up_on(q);
  }
  {
    spindle::SimpleQueue<Fragile> q;
    check_failed_getter_passes_its_wake_up_on(q);
  }
}

TEST(Queue, C81_putter_that_throws_after_its_wake_up_passes_it_on) {
  Watchdog wd("C81 putter passes its wake-up on");
  {
    spindle::Queue<Fragile> q(1);
    q.put(Fragile(0));
    check_failed_putter_passes_its_wake_up_on(q, Fragile::throw_on_move);
  }
  {
    spindle::LifoQueue<Fragile> q(1);
    q.put(Fragile(0));
    check_failed_putter_passes_its_wake_up_on(q, Fragile::throw_on_move);
  }
  {
    spindle::PriorityQueue<Fragile> q(1);
    q.put(Fragile(0));
    check_failed_putter_passes_its_wake_up_on(q, Fragile::throw_on_move);
  }
}

TEST(Queue, C81_putter_whose_comparison_throws_passes_its_wake_up_on) {
  Watchdog wd("C81 putter comparison passes its wake-up on");
  // maxsize 2 holding 0 and 1: the get takes 0 without comparing (one item
  // is left to sift), the woken putter's push compares with that item.
  spindle::PriorityQueue<Fragile> q(2);
  q.put(Fragile(0));
  q.put(Fragile(1));
  check_failed_putter_passes_its_wake_up_on(q, Fragile::throw_on_less);
}

// ---- surface --------------------------------------------------------------

TEST(Queue, move_only_items_work_in_every_queue) {
  spindle::Queue<std::unique_ptr<int>> q;
  spindle::LifoQueue<std::unique_ptr<int>> lq;
  spindle::SimpleQueue<std::unique_ptr<int>> sq;
  q.put(std::make_unique<int>(1));
  q.emplace(new int(2));
  lq.put(std::make_unique<int>(3));
  sq.put(std::make_unique<int>(4));
  sq.emplace(new int(5));
  EXPECT_EQ(*q.get(), 1);
  EXPECT_EQ(*q.get(1s), 2);
  EXPECT_EQ(*lq.get(), 3);
  EXPECT_EQ(*sq.get(), 4);
  EXPECT_EQ(*sq.get_nowait(), 5);
  using Entry = std::pair<int, std::unique_ptr<std::string>>;
  struct ByPriority {
    bool operator()(const Entry& a, const Entry& b) const { return a.first < b.first; }
  };
  spindle::PriorityQueue<Entry, ByPriority> pq;
  pq.put(Entry(2, std::make_unique<std::string>("b")));
  pq.put(Entry(1, std::make_unique<std::string>("a")));
  EXPECT_EQ(*pq.get().second, "a");
  EXPECT_EQ(*pq.get().second, "b");
}

TEST(Queue, put_happens_before_the_get_that_receives_the_item) {
  // Plain (non-atomic) data written before put is read after get; TSan
  // checks the edge.
  Watchdog wd("happens-before");
  struct Payload {
    int a = 0;
    std::vector<int> v;
  };
  spindle::Queue<Payload*> q(2);
  const int n = static_cast<int>(spindle_test::scaled(10'000));
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) {
      auto* p = new Payload;
      p->a = i;
      p->v.assign(3, i);
      q.put(p);
    }
  });
  for (int i = 0; i < n; ++i) {
    Payload* p = q.get();
    EXPECT_EQ(p->a, i);
    EXPECT_EQ(p->v[2], i);
    delete p;
  }
  producer.join();
}

TEST(Queue, simple_queue_is_fifo_and_unbounded) {
  Watchdog wd("simple queue");
  spindle::SimpleQueue<int> q;
  for (int i = 0; i < 1000; ++i) q.put(i, false);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(q.get(), i);
  std::thread t([&] { q.put(7); });
  EXPECT_EQ(q.get(), 7);
  t.join();
}

TEST(Queue, copyable_items_are_copied_and_the_original_kept) {
  spindle::Queue<std::string> q;
  const std::string s = "hello";
  q.put(s);
  q.put_nowait(s);
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(q.get(), "hello");
  EXPECT_EQ(q.get(), "hello");
}
