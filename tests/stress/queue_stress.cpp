// Many-thread stress for the queues with an exact oracle: every item is
// (producer id, sequence number); nothing may be lost or duplicated, each
// consumer sees each producer's items in order (FIFO Queue), join() returns
// exactly when the last task_done() is called, and shutdown() injected
// mid-run wakes every blocked thread with every item either delivered once,
// drained once, or refused to its producer.
//
// Sizes: spindle_test::scaled(n, soak_n) - a small count by default, a tenth
// of it under sanitizers, and at least 1,000,000 items per configuration in
// the soak run (SPINDLE_SOAK=1).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "spindle/queue.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t make_item(std::uint32_t producer, std::uint32_t seq) {
  return (static_cast<std::uint64_t>(producer) << 32) | seq;
}
constexpr std::uint32_t producer_of(std::uint64_t item) {
  return static_cast<std::uint32_t>(item >> 32);
}
constexpr std::uint32_t seq_of(std::uint64_t item) {
  return static_cast<std::uint32_t>(item);
}

struct Config {
  int producers;
  int consumers;
  std::ptrdiff_t maxsize;
};

std::string name_of(const Config& c) {
  return std::to_string(c.producers) + "P" + std::to_string(c.consumers) + "C maxsize " +
         std::to_string(c.maxsize);
}

std::vector<Config> all_configs() {
  std::vector<Config> out;
  for (int p : {1, 4, 16})
    for (int c : {1, 4, 16})
      for (std::ptrdiff_t m : {1, 64, 0}) out.push_back({p, c, m});
  return out;
}

// One consumer's get, rotating through the three forms so that blocking,
// timed and non-blocking gets race each other. Empty (from a timed or
// non-blocking get) just retries; ShutDown ends the consumer.
template <class Q>
bool get_mixed(Q& q, std::uint64_t round, typename Q::value_type& out) {
  for (;;) {
    try {
      switch (round % 3) {
        case 0:
          out = q.get();
          return true;
        case 1:
          out = q.get(2ms);
          return true;
        default:
          out = q.get_nowait();
          return true;
      }
    } catch (const spindle::Empty&) {
      ++round;  // try another form
      std::this_thread::yield();
    } catch (const spindle::ShutDown&) {
      return false;
    }
  }
}

// The oracle for the FIFO run: per-item delivery counts and per-consumer
// per-producer last sequence.
void run_fifo(const Config& cfg, long total) {
  SCOPED_TRACE(name_of(cfg));
  const long per_producer = total / cfg.producers;
  const long n = per_producer * cfg.producers;
  spindle::Queue<std::uint64_t> q(cfg.maxsize);
  std::vector<std::atomic<std::uint8_t>> seen(static_cast<std::size_t>(n));
  std::atomic<long> duplicates{0}, out_of_order{0}, tasks_done{0};

  std::vector<std::thread> consumers;
  for (int c = 0; c < cfg.consumers; ++c) {
    consumers.emplace_back([&, c] {
      std::vector<std::int64_t> last(static_cast<std::size_t>(cfg.producers), -1);
      std::uint64_t round = static_cast<std::uint64_t>(c);
      std::uint64_t item = 0;
      while (get_mixed(q, round++, item)) {
        const std::uint32_t p = producer_of(item);
        const std::uint32_t s = seq_of(item);
        if (static_cast<std::int64_t>(s) <= last[p]) out_of_order.fetch_add(1);
        last[p] = s;
        if (seen[p * static_cast<std::size_t>(per_producer) + s].fetch_add(1) != 0)
          duplicates.fetch_add(1);
        tasks_done.fetch_add(1);  // before task_done: join() must see it
        q.task_done();
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < cfg.producers; ++p) {
    producers.emplace_back([&, p] {
      for (long s = 0; s < per_producer; ++s) {
        const std::uint64_t item =
            make_item(static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(s));
        if (s % 5 == 4) {
          // Timed and non-blocking puts mixed in; retry until accepted.
          while (true) {
            try {
              if (s % 2 == 0) {
                q.put(item, 1ms);
              } else {
                q.put_nowait(item);
              }
              break;
            } catch (const spindle::Full&) {
              std::this_thread::yield();
            }
          }
        } else {
          q.put(item);
        }
      }
    });
  }
  for (auto& t : producers) t.join();
  q.join();  // every item put; returns exactly when the last task_done runs
  EXPECT_EQ(tasks_done.load(), n) << "join() returned before the last task_done()";
  q.shutdown();  // releases the consumers, all blocked or about to block in get
  for (auto& t : consumers) t.join();

  long missing = 0;
  for (auto& s : seen) missing += s.load() == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicates.load(), 0);
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_THROW(q.task_done(), spindle::ValueError);
}

}  // namespace

TEST(QueueStress, fifo_exact_oracle_all_configurations) {
  spindle_test::Watchdog wd("QueueStress fifo", std::chrono::seconds(3000));
  const long total = spindle_test::scaled(20'000, 1'000'000);
  for (const Config& cfg : all_configs()) run_fifo(cfg, total);
}

// ---- LIFO and priority: no loss, no duplicate -----------------------------

template <class Q>
void run_unordered(Q& q, int producers, int consumers, long per_producer) {
  const long n = per_producer * producers;
  std::vector<std::atomic<std::uint8_t>> seen(static_cast<std::size_t>(n));
  std::atomic<long> duplicates{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < consumers; ++c) {
    ts.emplace_back([&, c] {
      std::uint64_t round = static_cast<std::uint64_t>(c);
      std::uint64_t item = 0;
      while (get_mixed(q, round++, item)) {
        if (seen[producer_of(item) * static_cast<std::size_t>(per_producer) + seq_of(item)]
                .fetch_add(1) != 0)
          duplicates.fetch_add(1);
        q.task_done();
      }
    });
  }
  std::vector<std::thread> ps;
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back([&, p] {
      for (long s = 0; s < per_producer; ++s)
        q.put(make_item(static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(s)));
    });
  }
  for (auto& t : ps) t.join();
  q.join();
  q.shutdown();
  for (auto& t : ts) t.join();
  long missing = 0;
  for (auto& s : seen) missing += s.load() == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicates.load(), 0);
}

TEST(QueueStress, lifo_and_priority_lose_and_duplicate_nothing) {
  spindle_test::Watchdog wd("QueueStress lifo/priority", std::chrono::seconds(3000));
  const long per = spindle_test::scaled(10'000, 250'000);
  for (std::ptrdiff_t m : {1, 64, 0}) {
    spindle::LifoQueue<std::uint64_t> lq(m);
    run_unordered(lq, 4, 4, per);
    spindle::PriorityQueue<std::uint64_t> pq(m);
    run_unordered(pq, 4, 4, per);
  }
}

TEST(QueueStress, simple_queue_many_producers_exact) {
  spindle_test::Watchdog wd("QueueStress simple", std::chrono::seconds(3000));
  const long per = spindle_test::scaled(20'000, 250'000);
  constexpr int kProducers = 4;
  spindle::SimpleQueue<std::uint64_t> q;
  std::vector<std::thread> ps;
  for (int p = 0; p < kProducers; ++p) {
    ps.emplace_back([&, p] {
      for (long s = 0; s < per; ++s)
        q.put(make_item(static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(s)));
    });
  }
  std::vector<std::int64_t> last(kProducers, -1);
  long bad = 0;
  for (long i = 0; i < per * kProducers; ++i) {
    const std::uint64_t item = (i % 2 == 0) ? q.get() : q.get(60s);
    const std::uint32_t p = producer_of(item);
    if (static_cast<std::int64_t>(seq_of(item)) != last[p] + 1) ++bad;
    last[p] = seq_of(item);
  }
  for (auto& t : ps) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_TRUE(q.empty());
}

// ---- shutdown injected mid-run ------------------------------------------

namespace {

// Each item's fate is counted by the item itself: delivered (a consumer got
// it), refused (its put threw ShutDown and the producer still holds it), or
// drained (destroyed inside the queue by shutdown(immediate=true)).
struct Ledger {
  explicit Ledger(std::size_t n) : delivered(n), refused(n), drained(n) {}
  std::vector<std::atomic<std::uint8_t>> delivered, refused, drained;
};

class Tracked {
 public:
  Tracked() = default;
  Tracked(Ledger* ledger, std::size_t id) : ledger_(ledger), id_(id) {}
  Tracked(Tracked&& o) noexcept : ledger_(o.ledger_), id_(o.id_) { o.ledger_ = nullptr; }
  Tracked& operator=(Tracked&& o) noexcept {
    settle_drained();
    ledger_ = o.ledger_;
    id_ = o.id_;
    o.ledger_ = nullptr;
    return *this;
  }
  ~Tracked() { settle_drained(); }
  void mark(std::vector<std::atomic<std::uint8_t>> Ledger::*which) {
    (ledger_->*which)[id_].fetch_add(1);
    ledger_ = nullptr;
  }
  [[nodiscard]] std::size_t id() const { return id_; }

 private:
  void settle_drained() {
    if (ledger_ != nullptr) ledger_->drained[id_].fetch_add(1);
    ledger_ = nullptr;
  }
  Ledger* ledger_ = nullptr;
  std::size_t id_ = 0;
};

void run_shutdown(const Config& cfg, bool immediate, long per_producer) {
  SCOPED_TRACE(name_of(cfg) + (immediate ? " immediate" : ""));
  const std::size_t n = static_cast<std::size_t>(per_producer * cfg.producers);
  Ledger ledger(n);
  spindle::Queue<Tracked> q(cfg.maxsize);
  std::atomic<long> got{0}, attempted{0};

  std::vector<std::thread> consumers;
  for (int c = 0; c < cfg.consumers; ++c) {
    consumers.emplace_back([&, c] {
      std::uint64_t round = static_cast<std::uint64_t>(c);
      Tracked item;
      while (get_mixed(q, round++, item)) {
        item.mark(&Ledger::delivered);
        got.fetch_add(1);
        q.task_done();
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < cfg.producers; ++p) {
    producers.emplace_back([&, p] {
      for (long s = 0; s < per_producer; ++s) {
        Tracked item(&ledger, static_cast<std::size_t>(p * per_producer + s));
        attempted.fetch_add(1);
        try {
          if (s % 3 == 2) {
            q.put(std::move(item), 30s);
          } else {
            q.put(std::move(item));
          }
        } catch (const spindle::ShutDown&) {
          item.mark(&Ledger::refused);  // a refused put leaves the item with the caller
          return;
        }
      }
    });
  }
  // Shut down once a third of the items went through: no sleeping, the
  // point is reached by progress alone.
  const long third = static_cast<long>(n / 3);
  while (got.load() < third) std::this_thread::yield();
  q.shutdown(immediate);
  for (auto& t : producers) t.join();
  for (auto& t : consumers) t.join();
  q.join();  // every delivered item was task_done, every other one drained

  long lost = 0, twice = 0, drained = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int fates =
        ledger.delivered[i].load() + ledger.refused[i].load() + ledger.drained[i].load();
    drained += ledger.drained[i].load();
    // Items never attempted (their producer stopped after a refusal) have no fate.
    if (fates > 1) ++twice;
    if (fates == 0) ++lost;
  }
  EXPECT_EQ(twice, 0);
  EXPECT_EQ(static_cast<long>(n) - lost, attempted.load()) << "an attempted item has no fate";
  if (!immediate) {
    EXPECT_EQ(drained, 0);
  }
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_THROW(q.put(Tracked()), spindle::ShutDown);
}

}  // namespace

TEST(QueueStress, shutdown_mid_run_wakes_everyone_and_accounts_every_item) {
  spindle_test::Watchdog wd("QueueStress shutdown", std::chrono::seconds(3000));
  const long total = spindle_test::scaled(6'000, 200'000);
  for (const Config& cfg : all_configs()) {
    for (bool immediate : {false, true}) run_shutdown(cfg, immediate, total / cfg.producers);
  }
}
