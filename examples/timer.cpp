// threading.Timer: run a function after a delay, unless cancelled first.
#include <cstdio>

#include "spindle/timer.hpp"

using namespace std::chrono_literals;

int main() {
  spindle::Timer reminder(
      50ms, [](const char* who) { std::printf("reminder for %s\n", who); }, "Ada");
  reminder.start();
  reminder.join();  // fires after 50 ms

  spindle::Timer never(1h, [] { std::printf("this never prints\n"); });
  never.start();
  never.cancel();  // stops it while it waits: the thread ends at once
  never.join();
  std::printf("cancelled: %s\n", never.cancelled() ? "yes" : "no");
  return 0;
}
