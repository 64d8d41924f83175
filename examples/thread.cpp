// Threads as in Python's threading module: a target with arguments, a
// subclass overriding run(), names, daemon flags, join with a timeout,
// enumerate/active_count, and an exception reported by excepthook.
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "spindle/lock.hpp"
#include "spindle/thread.hpp"

using namespace std::chrono_literals;

spindle::Lock print_lock;

void worker(const std::string& who, int n) {
  std::scoped_lock guard(print_lock);
  std::printf("%s is running in %s (n=%d)\n", who.c_str(), spindle::current_thread().name().c_str(),
              n);
}

class Squarer : public spindle::Thread {  // class MyThread(Thread): def run(self): ...
 public:
  explicit Squarer(int x) : Thread({.name = "squarer"}), x_(x) {}
  int result = 0;

 protected:
  void run() override { result = x_ * x_; }

 private:
  int x_;
};

int main() {
  // Thread(target=worker, args=("Alice", 1)); start(); join()
  std::vector<spindle::Thread> threads;
  threads.emplace_back(worker, "Alice", 1);
  threads.emplace_back(spindle::ThreadOptions{.name = "bob-thread"}, worker, "Bob", 2);
  for (auto& t : threads) t.start();
  std::printf("active_count() = %zu\n", spindle::active_count());
  for (auto& t : threads) t.join();

  Squarer sq(12);
  sq.start();
  sq.join();
  std::printf("%s computed %d\n", sq.name().c_str(), sq.result);

  // join(timeout) returns whether the thread has finished; is_alive() agrees.
  spindle::Thread quick([] {});
  quick.start();
  const bool done = quick.join(5s);
  std::printf("quick finished: %s, alive: %s\n", done ? "yes" : "no",
              quick.is_alive() ? "yes" : "no");

  // An exception that escapes a thread goes to excepthook, not std::terminate.
  spindle::set_excepthook([](const spindle::ExceptHookArgs& a) {
    std::printf("excepthook: %s raised %s\n", a.thread->name().c_str(), a.message().c_str());
  });
  spindle::Thread failing({.name = "failing"}, [] { throw std::runtime_error("disk full"); });
  failing.start();
  failing.join();

  for (auto& t : spindle::enumerate()) std::printf("alive: %s\n", t->name().c_str());
  // A daemon thread would be abandoned at exit; non-daemon ones are joined.
  return 0;
}
