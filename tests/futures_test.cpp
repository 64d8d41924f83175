// Future, wait() and as_completed(): C95-C100, the unretrieved-exception
// hook, Future<void> and move-only results. Executors: executor_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/futures.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using spindle::Future;
using spindle::FutureBase;

namespace {

// Captures the unretrieved-exception hook's calls for one test.
struct HookCapture {
  std::atomic<int> calls{0};
  std::string last;
  spindle::UnretrievedExceptionHook previous;
  HookCapture() {
    previous = spindle::set_unretrieved_exception_hook([this](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        last = ex.what();
      }
      calls.fetch_add(1);
    });
  }
  ~HookCapture() { spindle::set_unretrieved_exception_hook(std::move(previous)); }
};

}  // namespace

TEST(Future, StatesOfANewFuture) {
  Future<int> f;
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancelled());
  EXPECT_TRUE(f.set_running_or_notify_cancel());
  EXPECT_TRUE(f.running());
  f.set_result(42);
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(Future, C95_result_timeout_throws_TimeoutError) {
  Future<int> f;
  EXPECT_THROW((void)f.result(1ms), spindle::TimeoutError);
  EXPECT_THROW((void)f.exception(1ms), spindle::TimeoutError);
  EXPECT_THROW((void)f.result(0s), spindle::TimeoutError);
  f.set_result(1);
  EXPECT_EQ(f.result(0s), 1);
}

TEST(Future, C95_negative_timeout_acts_as_zero_and_huge_one_overflows) {
  Future<int> f;
  EXPECT_THROW((void)f.result(-1s), spindle::TimeoutError);
  EXPECT_THROW((void)f.result(spindle::TIMEOUT_MAX + 1s), spindle::OverflowError);
  f.set_result(3);
  EXPECT_EQ(f.result(-5s), 3);
  EXPECT_EQ(f.result(spindle::TIMEOUT_MAX), 3);
}

TEST(Future, C95_cancelled_result_and_exception_throw_CancelledError) {
  Future<int> f;
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW((void)f.result(), spindle::CancelledError);
  EXPECT_THROW((void)f.result(1s), spindle::CancelledError);
  EXPECT_THROW((void)f.exception(), spindle::CancelledError);
  EXPECT_THROW((void)f.exception(1s), spindle::CancelledError);
}

TEST(Future, C95_result_rethrows_the_exception) {
  Future<int> f;
  f.set_exception(std::make_exception_ptr(std::out_of_range("boom")));
  EXPECT_THROW((void)f.result(), std::out_of_range);
  std::exception_ptr e = f.exception();
  ASSERT_NE(e, nullptr);
  EXPECT_THROW(std::rethrow_exception(e), std::out_of_range);
}

TEST(Future, C96_cancel_pending_running_finished) {
  Future<int> pending;
  EXPECT_TRUE(pending.cancel());
  EXPECT_TRUE(pending.cancel());  // already cancelled
  EXPECT_TRUE(pending.cancelled());
  EXPECT_TRUE(pending.done());

  Future<int> running;
  ASSERT_TRUE(running.set_running_or_notify_cancel());
  EXPECT_FALSE(running.cancel());
  EXPECT_FALSE(running.cancelled());

  Future<int> finished;
  finished.set_result(1);
  EXPECT_FALSE(finished.cancel());
  EXPECT_EQ(finished.result(), 1);
}

TEST(Future, C97_set_result_or_exception_twice_throws_InvalidStateError) {
  Future<int> f;
  f.set_result(1);
  EXPECT_THROW(f.set_result(2), spindle::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
               spindle::InvalidStateError);
  EXPECT_EQ(f.result(), 1);

  Future<int> c;
  c.cancel();
  EXPECT_THROW(c.set_result(2), spindle::InvalidStateError);
  EXPECT_THROW(c.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
               spindle::InvalidStateError);
  try {
    c.set_result(3);
  } catch (const spindle::InvalidStateError& e) {
    EXPECT_NE(std::string(e.what()).find("CANCELLED"), std::string::npos) << e.what();
  }
}

namespace {
// set_running_or_notify_cancel must throw Python's RuntimeError text.
void expect_unexpected_state(FutureBase& f, const char* state) {
  try {
    (void)f.set_running_or_notify_cancel();
    ADD_FAILURE() << "no RuntimeError in state " << state;
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "Future in unexpected state") << state;
  }
}
}  // namespace

TEST(Future, SetRunningOrNotifyCancelInEachStateAsPython) {
  // PENDING -> RUNNING: true.
  Future<int> p;
  EXPECT_TRUE(p.set_running_or_notify_cancel());
  EXPECT_TRUE(p.running());
  // RUNNING: raises.
  expect_unexpected_state(p, "RUNNING");
  // FINISHED: raises.
  p.set_result(0);
  expect_unexpected_state(p, "FINISHED");
  Future<int> failed;
  failed.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  expect_unexpected_state(failed, "FINISHED with an exception");
  (void)failed.exception();
  // CANCELLED -> CANCELLED_AND_NOTIFIED: false.
  Future<int> c;
  c.cancel();
  EXPECT_FALSE(c.set_running_or_notify_cancel());
  EXPECT_TRUE(c.cancelled());
  EXPECT_TRUE(c.done());
  // CANCELLED_AND_NOTIFIED (a second call): raises, and stays cancelled.
  expect_unexpected_state(c, "CANCELLED_AND_NOTIFIED");
  EXPECT_TRUE(c.cancelled());
  EXPECT_TRUE(c.cancel());
}

TEST(Future, SetRunningOrNotifyCancelRacingCallsOnACancelledFutureReturnFalseOnce) {
  spindle_test::Watchdog dog("racing set_running_or_notify_cancel");
  for (int round = 0; round < 200; ++round) {
    Future<int> c;
    c.cancel();
    std::atomic<int> go{0};
    std::atomic<int> falses{0};
    std::atomic<int> throws{0};
    auto call = [&] {
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      try {
        if (!c.set_running_or_notify_cancel()) falses.fetch_add(1);
      } catch (const spindle::RuntimeError&) {
        throws.fetch_add(1);
      }
    };
    std::thread a(call);
    std::thread b(call);
    a.join();
    b.join();
    EXPECT_EQ(falses.load(), 1);
    EXPECT_EQ(throws.load(), 1);
  }
}

TEST(Future, SetExceptionWithANullExceptionIsValueError) {
  Future<int> f;
  try {
    f.set_exception(nullptr);
    FAIL() << "no ValueError";
  } catch (const spindle::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("exception_ptr"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(f.done());  // left as it was: still usable
  f.set_result(2);
  EXPECT_EQ(f.result(), 2);
  Future<void> v;
  ASSERT_TRUE(v.set_running_or_notify_cancel());
  EXPECT_THROW(static_cast<FutureBase&>(v).set_exception(std::exception_ptr()),
               spindle::ValueError);
  EXPECT_TRUE(v.running());
  v.set_result();
}

TEST(Future, C98_callbacks_run_in_order_and_a_throwing_one_is_reported) {
  Future<int> f;
  std::vector<int> order;
  f.add_done_callback([&](Future<int>& g) { order.push_back(g.result()); });
  f.add_done_callback([&](Future<int>&) { throw std::runtime_error("callback failed"); });
  f.add_done_callback([&](Future<int>&) { order.push_back(2); });
  testing::internal::CaptureStderr();
  f.set_result(1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("exception calling callback"), std::string::npos) << err;
  EXPECT_NE(err.find("callback failed"), std::string::npos) << err;
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(Future, C98_callback_added_to_a_done_future_runs_at_once) {
  Future<int> f;
  f.set_result(5);
  int seen = 0;
  f.add_done_callback([&](Future<int>& g) { seen = g.result(); });
  EXPECT_EQ(seen, 5);
  testing::internal::CaptureStderr();
  f.add_done_callback([](Future<int>&) { throw std::runtime_error("late"); });
  EXPECT_NE(testing::internal::GetCapturedStderr().find("late"), std::string::npos);
}

namespace {
// Installs a callback exception hook for one test; restores the previous one.
struct CallbackHookCapture {
  std::vector<std::string> messages;
  std::vector<FutureBase> futures;
  spindle::CallbackExceptionHook previous;
  CallbackHookCapture() {
    previous =
        spindle::set_callback_exception_hook([this](const spindle::CallbackExceptionArgs& a) {
          try {
            std::rethrow_exception(a.exc);
          } catch (const std::exception& e) {
            messages.emplace_back(e.what());
          }
          futures.push_back(a.future);
        });
  }
  ~CallbackHookCapture() { spindle::set_callback_exception_hook(std::move(previous)); }
};
}  // namespace

TEST(Future, C98_callback_exception_goes_to_the_hook_with_the_future) {
  CallbackHookCapture hook;
  Future<int> f;
  std::vector<int> order;
  f.add_done_callback([&](Future<int>&) { throw std::runtime_error("first"); });
  f.add_done_callback([&](Future<int>& g) { order.push_back(g.result()); });
  testing::internal::CaptureStderr();
  f.set_result(4);
  f.add_done_callback([](Future<int>&) { throw std::logic_error("late"); });  // runs at once
  Future<int> c;
  c.add_done_callback([](Future<int>&) { throw std::runtime_error("on cancel"); });
  c.cancel();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // the hook replaced the printing
  EXPECT_EQ(order, (std::vector<int>{4}));
  ASSERT_EQ(hook.messages, (std::vector<std::string>{"first", "late", "on cancel"}));
  ASSERT_EQ(hook.futures.size(), 3u);
  EXPECT_EQ(hook.futures[0], f);
  EXPECT_EQ(hook.futures[1], f);
  EXPECT_EQ(hook.futures[2], c);
  EXPECT_TRUE(hook.futures[2].cancelled());
}

TEST(Future, C98_callback_exception_hook_runs_in_the_completing_pool_worker) {
  spindle_test::Watchdog dog("callback hook in a worker");
  std::atomic<int> calls{0};
  std::atomic<bool> future_done{false};
  std::string hook_thread;
  auto prev = spindle::set_callback_exception_hook([&](const spindle::CallbackExceptionArgs& a) {
    future_done.store(a.future.done());
    hook_thread = spindle::current_thread().name();
    calls.fetch_add(1);
  });
  {
    std::atomic<bool> go{false};
    spindle::ThreadPoolExecutor pool({.max_workers = 1, .thread_name_prefix = "cbhook"});
    auto f = pool.submit([&go] {
      while (!go.load()) std::this_thread::yield();
      return 1;
    });
    f.add_done_callback([](Future<int>&) { throw std::runtime_error("in worker"); });
    go.store(true);
    pool.shutdown();  // joins the worker: the callback (and the hook) ran
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(future_done.load());
  EXPECT_EQ(hook_thread, "cbhook_0");
  spindle::set_callback_exception_hook(prev);
}

TEST(Future, C98_a_throwing_callback_exception_hook_is_reported_and_ignored) {
  auto prev = spindle::set_callback_exception_hook(
      [](const spindle::CallbackExceptionArgs&) { throw std::runtime_error("hook broke"); });
  Future<int> f;
  bool later_ran = false;
  f.add_done_callback([](Future<int>&) { throw std::runtime_error("callback broke"); });
  f.add_done_callback([&](Future<int>&) { later_ran = true; });
  testing::internal::CaptureStderr();
  f.set_result(1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("hook broke"), std::string::npos) << err;
  EXPECT_NE(err.find("callback broke"), std::string::npos) << err;
  EXPECT_TRUE(later_ran);
  // An empty hook restores the default, which prints Python's line.
  EXPECT_FALSE(spindle::set_callback_exception_hook({}) == nullptr);
  Future<int> g;
  g.add_done_callback([](Future<int>&) { throw std::runtime_error("default again"); });
  testing::internal::CaptureStderr();
  g.set_result(1);
  const std::string err2 = testing::internal::GetCapturedStderr();
  EXPECT_NE(err2.find("exception calling callback for <Future at "), std::string::npos) << err2;
  EXPECT_NE(err2.find("state=finished>"), std::string::npos) << err2;
  EXPECT_NE(err2.find("default again"), std::string::npos) << err2;
  spindle::set_callback_exception_hook(prev);
}

TEST(Future, C98_callbacks_run_on_cancel_with_untyped_handle) {
  Future<std::string> f;
  bool saw_cancelled = false;
  static_cast<FutureBase&>(f).add_done_callback(
      [&](FutureBase& g) { saw_cancelled = g.cancelled(); });
  f.cancel();
  EXPECT_TRUE(saw_cancelled);
}

TEST(Future, ResultWakesAThreadParkedOnIt) {
  spindle_test::Watchdog dog("ResultWakesAThreadParkedOnIt");
  Future<int> f;
  std::atomic<int> got{0};
  std::thread waiter([&] { got = f.result(); });
  std::thread waiter2([&] { EXPECT_EQ(f.result(100s), 7); });
  f.set_result(7);
  waiter.join();
  waiter2.join();
  EXPECT_EQ(got.load(), 7);
}

TEST(Future, VoidAndMoveOnlyResults) {
  Future<void> v;
  v.set_result();
  v.result();
  EXPECT_TRUE(v.done());

  Future<std::unique_ptr<int>> m;
  m.set_result(std::make_unique<int>(9));
  std::unique_ptr<int> p = std::move(m.result());
  EXPECT_EQ(*p, 9);
}

TEST(Future, MovedFromHandleThrows) {
  Future<int> f;
  Future<int> g = std::move(f);
  EXPECT_FALSE(f.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_THROW((void)f.done(), spindle::InvalidStateError);
  EXPECT_TRUE(g.valid());
}

TEST(Future, UnretrievedExceptionReachesTheHook) {
  HookCapture hook;
  {
    Future<int> f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("nobody looked")));
  }
  EXPECT_EQ(hook.calls.load(), 1);
  EXPECT_EQ(hook.last, "nobody looked");
  {
    Future<int> f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("seen")));
    EXPECT_THROW((void)f.result(), std::runtime_error);
  }
  {
    Future<int> f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("seen too")));
    (void)f.exception();
  }
  {
    Future<int> f;
    f.cancel();
  }
  EXPECT_EQ(hook.calls.load(), 1);
}

TEST(Future, DefaultUnretrievedHookPrints) {
  testing::internal::CaptureStderr();
  {
    Future<int> f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("lost one")));
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Future exception was never retrieved"), std::string::npos) << err;
  EXPECT_NE(err.find("lost one"), std::string::npos) << err;
}

TEST(Future, C95_negative_timeout_of_exception_acts_as_zero) {
  Future<int> f;
  EXPECT_THROW((void)f.exception(-1s), spindle::TimeoutError);
  EXPECT_THROW((void)f.exception(-1ns), spindle::TimeoutError);
  EXPECT_THROW((void)f.result(std::chrono::duration<double>(-0.5)), spindle::TimeoutError);
  f.set_exception(std::make_exception_ptr(std::runtime_error("e")));
  EXPECT_NE(f.exception(-1s), nullptr);
}

// ---- wait ---------------------------------------------------------------

TEST(Wait, C99_negative_timeout_acts_as_zero) {
  Future<int> a, b;
  a.set_result(1);
  auto r = spindle::wait(std::vector<Future<int>>{a, b}, -1s);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.done[0], a);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_EQ(r.not_done[0], b);
  auto r2 = spindle::wait({a, b}, -5s, spindle::FIRST_EXCEPTION);
  EXPECT_EQ(r2.done.size(), 1u);
  EXPECT_EQ(r2.not_done.size(), 1u);
  auto r3 = spindle::wait(std::vector<Future<int>>{b}, -1s, spindle::FIRST_COMPLETED);
  EXPECT_TRUE(r3.done.empty());
  EXPECT_EQ(r3.not_done.size(), 1u);
  b.set_result(2);
  auto r4 = spindle::wait(std::vector<Future<int>>{a, b}, -1s);
  EXPECT_EQ(r4.done.size(), 2u);
}

TEST(Wait, C99_all_completed_removes_duplicates) {
  Future<int> a, b;
  a.set_result(1);
  b.set_result(2);
  std::vector<Future<int>> fs{a, b, a, b, a};
  auto [done, not_done] = spindle::wait(fs);
  EXPECT_EQ(done.size(), 2u);
  EXPECT_TRUE(not_done.empty());
}

TEST(Wait, C99_timeout_returns_not_done) {
  Future<int> a, b;
  a.set_result(1);
  auto r = spindle::wait(std::vector<Future<int>>{a, b}, 1ms);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.done[0], a);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_EQ(r.not_done[0], b);
}

TEST(Wait, C99_first_completed) {
  spindle_test::Watchdog dog("C99_first_completed");
  Future<int> a, b;
  std::thread t([&] { b.set_result(2); });
  auto [done, not_done] = spindle::wait(std::vector<Future<int>>{a, b}, spindle::FIRST_COMPLETED);
  t.join();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], b);
  EXPECT_EQ(not_done.size(), 1u);
}

TEST(Wait, C99_first_exception_returns_on_exception) {
  spindle_test::Watchdog dog("C99_first_exception");
  Future<int> a, b;
  std::thread t([&] { b.set_exception(std::make_exception_ptr(std::runtime_error("x"))); });
  auto r = spindle::wait(std::vector<Future<int>>{a, b}, spindle::FIRST_EXCEPTION);
  t.join();
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.done[0], b);
  EXPECT_NE(r.done[0].exception(), nullptr);
  a.cancel();
}

TEST(Wait, C99_first_exception_acts_as_all_completed_without_exceptions) {
  spindle_test::Watchdog dog("C99_first_exception_all");
  Future<int> a, b, c;
  a.set_result(1);
  std::thread t([&] {
    b.set_result(2);
    c.set_result(3);
  });
  auto r = spindle::wait(std::vector<Future<int>>{a, b, c}, spindle::FIRST_EXCEPTION);
  t.join();
  EXPECT_EQ(r.done.size(), 3u);
  EXPECT_TRUE(r.not_done.empty());
}

TEST(Wait, C99_mixed_result_types_and_cancelled_count_as_done) {
  spindle_test::Watchdog dog("C99_mixed");
  Future<int> a;
  Future<std::string> b;
  Future<void> c;
  std::thread t([&] {
    a.set_result(1);
    b.cancel();
    c.set_result();
  });
  auto [done, not_done] = spindle::wait({a, b, c});
  t.join();
  EXPECT_EQ(done.size(), 3u);
  EXPECT_TRUE(not_done.empty());
  std::vector<FutureBase> fs{a, b};
  auto r = spindle::wait(fs, 0s, spindle::FIRST_COMPLETED);
  EXPECT_EQ(r.done.size(), 2u);
}

// ---- as_completed ------------------------------------------------------

TEST(AsCompleted, C100_finished_first_each_once) {
  spindle_test::Watchdog dog("C100_finished_first");
  Future<int> a, b, c;
  b.set_result(2);
  std::vector<Future<int>> fs{a, b, c, b};
  std::vector<int> seen;
  std::thread t;
  bool started = false;
  for (auto& f : spindle::as_completed(fs)) {
    seen.push_back(f.result());
    if (!started) {
      started = true;
      t = std::thread([&] {
        c.set_result(3);
        a.set_result(1);
      });
    }
  }
  t.join();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], 2);  // the one already finished comes first
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
}

TEST(AsCompleted, C100_timeout_names_unfinished_count) {
  Future<int> a, b;
  a.set_result(1);
  std::vector<Future<int>> fs{a, b};
  int yielded = 0;
  try {
    for (auto& f : spindle::as_completed(fs, 1ms)) {
      (void)f;
      ++yielded;
    }
    FAIL() << "no TimeoutError";
  } catch (const spindle::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "1 (of 2) futures unfinished");
  }
  EXPECT_EQ(yielded, 1);
}

TEST(AsCompleted, C100_timeout_measured_from_the_call) {
  Future<int> a;
  auto range = spindle::as_completed(std::vector<Future<int>>{a}, 0s);
  EXPECT_THROW((void)range.begin(), spindle::TimeoutError);
}

TEST(AsCompleted, C100_negative_timeout_acts_as_zero) {
  // As Python: the finished ones are yielded, then TimeoutError at once.
  Future<int> a, b, c;
  a.set_result(1);
  c.set_result(3);
  std::vector<int> seen;
  try {
    for (auto& f : spindle::as_completed(std::vector<Future<int>>{a, b, c}, -1s)) {
      seen.push_back(f.result());
    }
    FAIL() << "no TimeoutError";
  } catch (const spindle::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "1 (of 3) futures unfinished");
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 3}));
  b.set_result(2);
  int n = 0;
  for (auto& f : spindle::as_completed(std::vector<Future<int>>{a, b, c}, -1s)) n += f.result();
  EXPECT_EQ(n, 6);
}

TEST(AsCompleted, EmptyInputYieldsNothing) {
  std::vector<Future<int>> none;
  int n = 0;
  for (auto& f : spindle::as_completed(none)) {
    (void)f;
    ++n;
  }
  EXPECT_EQ(n, 0);
}

TEST(AsCompleted, ManyThreadsCompleteConcurrently) {
  spindle_test::Watchdog dog("AsCompleted many");
  constexpr int kN = 64;
  std::vector<Future<int>> fs(kN);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      for (int j = i; j < kN; j += 4) fs[j].set_result(j);
    });
  }
  long sum = 0;
  int count = 0;
  for (auto& f : spindle::as_completed(fs)) {
    sum += f.result();
    ++count;
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(count, kN);
  EXPECT_EQ(sum, kN * (kN - 1) / 2);
}
