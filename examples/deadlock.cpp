// Deadlock diagnostics: two threads take two locks in opposite orders and
// spindle names the cycle instead of hanging; lock-order checking reports
// the same program on a run that happened not to deadlock.
#include <cstdio>
#include <mutex>
#include <string>

#include "spindle/barrier.hpp"
#include "spindle/deadlock.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"

int main() {
  spindle::Lock a, b;
  spindle::Barrier both_hold(2);
  int named = 0;
  auto worker = [&](spindle::Lock& first, spindle::Lock& second) {
    std::scoped_lock hold_first(first);
    (void)both_hold.wait();  // each holds one lock and wants the other
    try {
      std::scoped_lock hold_second(second);  // no timeout
    } catch (const spindle::DeadlockError& e) {
      std::printf("%s\n", e.what());  // the thread that closed the cycle backs off
      ++named;
    }
  };
  spindle::Thread t1({.name = "t1"}, worker, std::ref(a), std::ref(b));
  spindle::Thread t2({.name = "t2"}, worker, std::ref(b), std::ref(a));
  t1.start();
  t2.start();
  t1.join();
  t2.join();

  // The same orders, one thread after the other: no deadlock this time, but
  // lock-order checking says what could have happened.
  int reported = 0;
  spindle::set_lock_order_hook([&](const spindle::LockOrderViolation& v) {
    std::printf("%s\n", v.describe().c_str());
    ++reported;
  });
  spindle::set_lock_order_checking(true);
  auto both = [](spindle::Lock& first, spindle::Lock& second) {
    std::scoped_lock x(first);
    std::scoped_lock y(second);
  };
  spindle::Thread u1({.name = "u1"}, both, std::ref(a), std::ref(b));
  u1.start();
  u1.join();
  spindle::Thread u2({.name = "u2"}, both, std::ref(b), std::ref(a));
  u2.start();
  u2.join();
  spindle::set_lock_order_checking(false);
  return named == 1 && reported == 1 ? 0 : 1;
}
