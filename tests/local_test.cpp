// local<T> (C63).
#include "spindle/local.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

using spindle_test::Watchdog;

namespace {
std::atomic<int> g_live{0};
std::atomic<int> g_built{0};

struct Tracked {
  Tracked() : value(0) { ++g_live, ++g_built; }
  Tracked(int v, std::string t) : value(v), tag(std::move(t)) { ++g_live, ++g_built; }
  ~Tracked() { --g_live; }
  int value;
  std::string tag;
};
}  // namespace

TEST(Local, C63_each_thread_sees_its_own_instance) {
  Watchdog wd("C63 own");
  spindle::local<Tracked> data;
  data->value = 1;
  std::vector<int> seen(4, -1);
  std::vector<spindle::Thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      seen[i] = data->value;  // fresh instance: 0
      data->value = 100 + i;
      seen[i] += data.get().value;
    });
  }
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(seen[i], 100 + i);
  EXPECT_EQ(data->value, 1);  // main's own, untouched
}

TEST(Local, C63_built_on_first_use_from_constructor_arguments) {
  Watchdog wd("C63 args");
  const int built_before = g_built.load();
  spindle::local<Tracked> data(7, std::string("seed"));
  EXPECT_EQ(g_built.load(), built_before);  // nothing built until used
  int v = 0;
  std::string tag;
  spindle::Thread t([&] {
    v = data->value;
    tag = data->tag;
  });
  t.start();
  t.join();
  EXPECT_EQ(v, 7);
  EXPECT_EQ(tag, "seed");
  EXPECT_EQ(g_built.load(), built_before + 1);
}

TEST(Local, C63_destroyed_when_a_spindle_thread_ends) {
  Watchdog wd("C63 thread end");
  spindle::local<Tracked> data;
  const int live = g_live.load();
  spindle::Thread t([&] { data->value = 5; });
  t.start();
  t.join();  // instances are destroyed before join returns
  EXPECT_EQ(g_live.load(), live);
}

TEST(Local, C63_destroyed_when_a_foreign_thread_ends) {
  Watchdog wd("C63 foreign");
  spindle::local<Tracked> data;
  const int live = g_live.load();
  std::thread([&] { data->value = 5; }).join();
  EXPECT_EQ(g_live.load(), live);
}

TEST(Local, C63_destroyed_with_the_local_while_threads_live_on) {
  Watchdog wd("C63 local end");
  const int live = g_live.load();
  spindle::Lock gate;
  gate.acquire();
  std::atomic<int> touched{0};
  auto* data = new spindle::local<Tracked>();
  std::vector<spindle::Thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      (*data)->value = 1;
      ++touched;
      gate.acquire();  // keep the thread alive past the local's death
      gate.release();
    });
  }
  for (auto& t : threads) t.start();
  while (touched.load() != 3) std::this_thread::yield();
  EXPECT_EQ(g_live.load(), live + 3);
  delete data;  // frees every thread's instance now
  EXPECT_EQ(g_live.load(), live);
  gate.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(g_live.load(), live);
}

TEST(Local, slots_are_reused_and_many_locals_coexist) {
  Watchdog wd("many locals");
  const int live = g_live.load();
  for (int round = 0; round < 50; ++round) {
    std::vector<std::unique_ptr<spindle::local<Tracked>>> locals;
    for (int i = 0; i < 20; ++i) locals.push_back(std::make_unique<spindle::local<Tracked>>());
    for (int i = 0; i < 20; ++i) (*locals[i])->value = i;
    for (int i = 0; i < 20; ++i) EXPECT_EQ((*locals[i])->value, i);
  }
  EXPECT_EQ(g_live.load(), live);
}

namespace {
struct Picky {
  Picky() {
    if (fail) throw std::runtime_error("not yet");
  }
  static inline bool fail = true;
};
}  // namespace

TEST(Local, constructor_that_throws_propagates_and_retries) {
  spindle::local<Picky> p;
  EXPECT_THROW(p.get(), std::runtime_error);
  Picky::fail = false;
  EXPECT_NO_THROW(p.get());
}
