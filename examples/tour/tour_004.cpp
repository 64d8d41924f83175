// Seed 004 - "How to start threading in Python": a named download thread, a
// shared counter under a Lock, two concurrent tasks, passing arguments, and
// stopping a worker with an Event.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "spindle/event.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"
#include "tour.hpp"

using namespace std::chrono_literals;
using tour::note;
using tour::print;

namespace {
void download_file(const std::string& url) {
  print("Downloading ", url, "...  [", spindle::current_thread().name(), "]");
  tour::sleep(2);  // simulate I/O work
  print("Finished ", url);
}
}  // namespace

TOUR_SECTION(download_thread, 4, "Create, start and join a named thread: name=\"DownloadThread\"") {
  // download_thread = threading.Thread(target=download_file, args=(url,), name="DownloadThread")
  spindle::Thread download_thread({.name = "DownloadThread"}, download_file,
                                  std::string("https://example.com/data.csv"));
  download_thread.start();
  download_thread.join();  // wait for completion (optional)
  note("the name shows up in current_thread().name() - and in debuggers and logs");
  tour::check(download_thread.name() == "DownloadThread" && !download_thread.is_alive(),
              "the thread kept its name and finished");
}

TOUR_SECTION(shared_counter, 4, "Example 1: five threads add 1000 each to a counter under a Lock") {
  int counter = 0;  // shared variable
  spindle::Lock lock;
  auto increment_counter = [&] {
    for (int i = 0; i < 1000; ++i) {
      std::scoped_lock guard(lock);  // with lock:
      counter += 1;
    }  // lock released when the block exits
  };
  std::vector<std::unique_ptr<spindle::Thread>> threads;
  for (int i = 0; i < 5; ++i) {
    threads.push_back(std::make_unique<spindle::Thread>(increment_counter));
    threads.back()->start();
  }
  for (auto& t : threads) t->join();
  print("Final counter value: ", counter);  // always 5000
  note("5 threads x 1000 increments; with the lock held around each one, none is lost");
  tour::check(counter == 5000, "the counter is always 5000");
}

TOUR_SECTION(concurrent_tasks, 4, "Example 2: NumberThread and LetterThread run side by side") {
  auto print_numbers = [] {
    for (int i = 1; i <= 5; ++i) {
      print("Number thread: ", i);
      tour::sleep(0.5);
    }
  };
  auto print_letters = [] {
    for (char letter : std::string("abcde")) {
      print("Letter thread: ", letter);
      tour::sleep(0.5);
    }
  };
  spindle::Thread t1({.name = "NumberThread"}, print_numbers);
  spindle::Thread t2({.name = "LetterThread"}, print_letters);
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  print("Both threads completed");
  note("the order of interleaving may vary with OS scheduling");
  tour::check(!t1.is_alive() && !t2.is_alive(), "both named threads completed");
}

namespace {
void process_data(const std::string& filename, const std::string& mode = "read") {
  print("Processing ", filename, " in ", mode, " mode");
}
}  // namespace

TOUR_SECTION(passing_arguments, 4, "Passing arguments: one argument, several, and a default") {
  // t1 = Thread(target=process_data, args=("data.txt",))  - a one-element tuple
  // A C++ function pointer carries no default arguments, so a lambda supplies mode.
  spindle::Thread t1([] { process_data("data.txt"); });
  // t2 = Thread(target=process_data, args=("config.json", "write"))
  spindle::Thread t2(process_data, std::string("config.json"), std::string("write"));
  t1.start();
  t1.join();
  t2.start();
  t2.join();
  note(
      "the seed's t2 also passes kwargs={'mode': 'write'}: Python raises TypeError (mode given "
      "twice);");
  note("in C++ passing an argument twice cannot compile");
  tour::check(!t1.is_alive() && !t2.is_alive(), "both calls ran");
}

TOUR_SECTION(stop_event, 4, "Stopping a thread: while not stop_event.is_set()") {
  spindle::Event stop_event;
  std::atomic<int> rounds{0};
  spindle::Thread worker({.name = "worker"}, [&] {
    while (!stop_event.is_set()) {
      rounds.fetch_add(1);  // do work
      // time.sleep(1) would make the stop wait up to a second; waiting on
      // the event for that second wakes at once when it is set.
      stop_event.wait(tour::scaled(1));
    }
    print("worker: stop_event is set, leaving the loop after ", rounds.load(), " rounds");
  });
  worker.start();
  tour::sleep(3);
  tour::Stopwatch watch;
  stop_event.set();  // in main thread: signal stop
  worker.join(10s);
  note("set() -> the worker stopped ", watch.seconds() * 1000,
       " ms later (it was waiting on the event, not sleeping)");
  tour::check(!worker.is_alive() && rounds.load() >= 1,
              "the worker ran and then stopped when asked");
}
