// threading.Event in C++: workers wait for a "traffic light" that the main
// thread turns green; wait(timeout) returns false when it stays red.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "spindle/event.hpp"

using namespace std::chrono_literals;

int main() {
  spindle::Event green;
  std::atomic<int> crossed{0};
  std::vector<std::thread> cars;
  for (int c = 0; c < 3; ++c) {
    cars.emplace_back([&, c] {
      green.wait();  // block until the event is set
      std::printf("car %d crosses\n", c);
      ++crossed;
    });
  }
  std::printf("light turns green\n");
  green.set();  // wakes every waiting car
  for (auto& t : cars) t.join();

  green.clear();
  const bool set = green.wait(5ms);
  std::printf("after clear, wait(5ms) returns %s\n", set ? "true" : "false");
  return crossed == 3 && !set ? 0 : 1;
}
