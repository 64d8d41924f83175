// Thread churn: many short threads leave no OS threads or memory behind, and
// the registry stays consistent while threads come and go.
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "spindle/local.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

using spindle_test::scaled;
using spindle_test::Watchdog;

namespace {

long os_thread_count() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}

// For threads nobody joins (dropped handles): their OS threads finish
// exiting after they report "terminated"; wait for the count to come back
// (the watchdog bounds it).
void wait_thread_count(long target) {
  while (os_thread_count() > target) std::this_thread::yield();
}

void churn(long total, int batch, std::atomic<long>& ran) {
  std::vector<spindle::Thread> threads;
  threads.reserve(batch);
  for (long done = 0; done < total; done += batch) {
    threads.clear();
    for (int i = 0; i < batch; ++i) threads.emplace_back([&ran] { ran.fetch_add(1); });
    for (auto& t : threads) t.start();
    for (auto& t : threads) t.join();
  }
}

}  // namespace

TEST(ThreadStress, ten_thousand_short_threads_leave_nothing_behind) {
  Watchdog wd("thread churn", std::chrono::seconds(600));
  std::atomic<long> ran{0};
  const long threads_before = os_thread_count();  // main + the watchdog
  churn(200, 100, ran);                           // warm up allocator caches and the registry
  EXPECT_EQ(os_thread_count(), threads_before);
  const std::size_t active_before = spindle::active_count();
#if !defined(SPINDLE_TEST_SANITIZED)
  const std::size_t heap_before = mallinfo2().uordblks;
#endif
  const long total = scaled(10'000, 100'000);
  ran = 0;
  churn(total, 100, ran);
  EXPECT_EQ(ran.load(), total);
  EXPECT_EQ(os_thread_count(), threads_before);  // join() returned after each OS thread was gone
  EXPECT_EQ(spindle::active_count(), active_before);
#if !defined(SPINDLE_TEST_SANITIZED)
  const std::size_t heap_after = mallinfo2().uordblks;
  EXPECT_LT(heap_after, heap_before + 256 * 1024) << "heap grew by " << (heap_after - heap_before);
#endif
}

TEST(ThreadStress, dropped_handles_and_locals_under_churn) {
  Watchdog wd("dropped churn", std::chrono::seconds(600));
  spindle::local<std::vector<int>> scratch;
  const long threads_before = os_thread_count();
  std::atomic<long> finished{0};
  const long total = scaled(2'000, 20'000);
  for (long i = 0; i < total; ++i) {
    spindle::Thread t([&] {
      scratch->assign(16, 1);
      finished.fetch_add(1);
    });
    t.start();  // handle dropped at once
  }
  while (finished.load() != total) std::this_thread::yield();
  wait_thread_count(threads_before);  // each was detached by its last reference
}

TEST(ThreadStress, enumerate_is_consistent_while_threads_come_and_go) {
  Watchdog wd("enumerate churn", std::chrono::seconds(600));
  std::atomic<bool> stop{false};
  std::atomic<long> snapshots{0};
  std::atomic<long> problems{0};
  spindle::Thread observer({.name = "observer"}, [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      auto all = spindle::enumerate();
      std::set<const void*> seen;
      bool has_main = false;
      for (auto& t : all) {
        if (!seen.insert(t.get()).second) ++problems;
        if (*t == spindle::main_thread()) has_main = true;
        // Like Python's threads in limbo, a started thread has no ident until
        // pthread_create has returned; by then it is past "ready".
        if (!t->ident().has_value() && t->state() != spindle::ThreadState::ready &&
            !t->ident().has_value())
          ++problems;
        (void)t->name();
        (void)t->state();
      }
      if (!has_main) ++problems;
      if (snapshots.fetch_add(1) % 64 == 0) (void)spindle::dump_threads();
    }
  });
  observer.start();
  std::atomic<long> ran{0};
  const long per = scaled(2'000, 20'000);
  std::thread foreign_churn([&] {
    for (long i = 0; i < per / 20; ++i) std::thread([] { (void)spindle::current_thread(); }).join();
  });
  std::vector<spindle::Thread> churners;
  for (int c = 0; c < 2; ++c) churners.emplace_back([&ran, per] { churn(per, 20, ran); });
  for (auto& t : churners) t.start();
  for (auto& t : churners) t.join();
  foreign_churn.join();
  stop = true;
  observer.join();
  EXPECT_EQ(ran.load(), 2 * per);
  EXPECT_GT(snapshots.load(), 0);
  EXPECT_EQ(problems.load(), 0);
}
