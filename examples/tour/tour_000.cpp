// Seed 000 - "Python Threading: A Comprehensive Guide": starting threads,
// arguments, names, joining, daemon threads, controlling threads, a shared
// counter under a Lock, the two-lock deadlock, and a Queue between threads.
#include <atomic>
#include <string>
#include <vector>

#include "spindle/barrier.hpp"
#include "spindle/lock.hpp"
#include "spindle/queue.hpp"
#include "spindle/thread.hpp"
#include "tour.hpp"

using namespace std::chrono_literals;
using tour::note;
using tour::print;

namespace {

// def print_nums(): print("Thread started"); for i in range(10): print(i)
void print_nums() {
  print("Thread started");
  for (int i = 0; i < 10; ++i) print(i);
}

void print_letters() {
  for (char c = 'a'; c < 'a' + 10; ++c) print(c);
}

// def print_nums(start, end)
void print_range(int start, int end) {
  print("Thread started");
  std::string line;
  for (int i = start; i < end; ++i) line += std::to_string(i) + " ";
  print(line);
}

void print_chars(char c, int count) {
  print(std::string(static_cast<std::size_t>(count), c));
}

}  // namespace

TOUR_SECTION(start_thread, 0, "Starting a thread: Thread(target=print_nums), start()") {
  // t = threading.Thread(target=print_nums); t.start(); print("Main thread")
  spindle::Thread t(print_nums);
  t.start();
  print("Main thread");
  t.join();
  note(
      "the main thread printed while the new thread ran; where its line lands varies from run to "
      "run");

  // t1 = Thread(target=print_nums); t2 = Thread(target=print_letters)
  spindle::Thread t1(print_nums);
  spindle::Thread t2(print_letters);
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  note("two threads started almost together: their lines interleave");
  tour::check(!t1.is_alive() && !t2.is_alive(), "both threads finished after join()");
}

TOUR_SECTION(thread_args, 0, "Passing arguments: args=(1, 20) and kwargs") {
  // t = threading.Thread(target=print_nums, args=(1, 20))
  spindle::Thread t(print_range, 1, 20);
  t.start();
  t.join();
  // t = threading.Thread(target=print_nums, kwargs={'start': 1, 'end': 20})
  // C++ has no keyword arguments: a lambda names them instead.
  spindle::Thread kw([] { print_range(/*start=*/1, /*end=*/20); });
  kw.start();
  kw.join();
  note(
      "arguments follow the function, as args=(...) does; copies are stored in the Thread until it "
      "runs");
}

TOUR_SECTION(naming, 0, "Determining and naming threads: ident, name='printer'") {
  // print(threading.current_thread().ident)
  print(spindle::current_thread().ident().value_or(0));
  // t = threading.Thread(target=print_nums, name='printer')
  std::string seen;
  spindle::Thread t({.name = "printer"}, [&] {
    seen = spindle::current_thread().name();
    print("running in thread '", seen, "', ident ", spindle::get_ident());
  });
  t.start();
  t.join();
  tour::check(seen == "printer" && t.name() == "printer",
              "the thread is named 'printer' inside and out");
  tour::check(t.ident().has_value() && t.ident() != spindle::current_thread().ident(),
              "each thread has its own ident");
}

TOUR_SECTION(combining, 0, "Combining threads: start three, join them all") {
  spindle::Thread t1(print_chars, 'A', 40);
  spindle::Thread t2(print_range, 1, 20);
  spindle::Thread t3(print_chars, 'C', 30);
  t1.start();
  t2.start();
  t3.start();
  t1.join();
  t2.join();
  t3.join();
  print("All threads finished!");
  tour::check(!t1.is_alive() && !t2.is_alive() && !t3.is_alive(), "all three joined");
}

// --- daemon threads at exit: seen from outside, in a child process ---------

namespace {
int daemon_exit_child() {
  // t = threading.Thread(target=background_print); t.daemon = True; t.start()
  spindle::Thread background({.name = "background", .daemon = true}, [] {
    print("daemon: starting a 10 s background job");
    // Not scaled: the process is gone long before, however slow the machine.
    std::this_thread::sleep_for(10s);
    print("daemon: background job done");  // never printed: the process exits first
  });
  spindle::Thread worker({.name = "worker"}, [] {
    tour::sleep(2);
    print("worker (non-daemon): finished its work");
  });
  background.start();
  worker.start();
  print("main: returning from main()");
  return 0;  // the process waits for `worker`, not for `background`
}
const tour::RegisterChild register_daemon_child("daemon-exit", daemon_exit_child);
}  // namespace

TOUR_SECTION(daemon_threads, 0, "Daemon threads: the program exits without waiting for them") {
  note(
      "running a child process whose main() starts a daemon thread (10 s job) and a normal one, "
      "then returns");
  auto child = tour::run_child("daemon-exit");
  std::istringstream lines(child.output);
  for (std::string line; std::getline(lines, line);)
    print("child| ", line.substr(line.find_first_not_of(' ')));
  note("child exited with status ", child.exit_code, " after ", child.seconds, " s");
  note("exit waited for the non-daemon thread and abandoned the daemon one, as Python does");
  tour::check(child.exit_code == 0, "the child process exited normally");
  tour::check(child.output.find("worker (non-daemon): finished") != std::string::npos,
              "process exit waited for the non-daemon thread");
  // Had exit waited for the daemon, its last line would be in the output.
  tour::check(child.output.find("background job done") == std::string::npos,
              "process exit did not wait for the daemon thread");
}

// --- controlling threads ----------------------------------------------------

namespace {
std::string describe(const spindle::Thread& t) {
  std::string s = "<Thread(" + t.name() + ", ";
  s += t.is_alive() ? "started " : "stopped ";
  if (t.daemon()) s += "daemon ";
  s += std::to_string(t.ident().value_or(0)) + ")>";
  return s;
}
}  // namespace

TOUR_SECTION(controlling, 0,
             "Controlling threads: current_thread, enumerate, is_alive, join(timeout)") {
  // print(threading.current_thread().getName(), "Starting")
  print(spindle::current_thread().name(), " Starting");
  spindle::Thread helper({.name = "helper", .daemon = true}, [] { tour::sleep(2); });
  helper.start();
  // threads = threading.enumerate(); print(threads)
  auto threads = spindle::enumerate();
  std::string listing = "[";
  for (const auto& t : threads) listing += (listing.size() > 1 ? ", " : "") + describe(*t);
  print(listing + "]");
  // print(threads[0].is_alive())
  print(std::boolalpha, threads[0]->is_alive());
  tour::check(threads.size() >= 2, "enumerate() lists the main thread and the helper");
  helper.join();

  // t = Thread(target=print_nums, args=(10,)); t.daemon = True; t.join(timeout=5)
  spindle::Thread t({.daemon = true}, [] { tour::sleep(1); });
  t.start();
  tour::Stopwatch watch;
  const auto timeout = tour::scaled(5);
  t.join(timeout);
  const double waited = watch.seconds();
  const bool finished = !t.is_alive();
  print("Finished");
  note("join(timeout=5 s, scaled) returned after ", waited,
       " s: ", finished ? "the thread ended first" : "the time ran out first",
       ", is_alive() = ", std::boolalpha, !finished);
  // Which comes first depends on the machine's load; the rule does not:
  // join(timeout) returns when the thread ends, or not before the timeout.
  tour::check(finished || waited >= std::chrono::duration<double>(timeout).count(),
              "join(timeout) returned because the thread finished or its time was up");
  t.join();
}

// --- synchronization ----------------------------------------------------------

TOUR_SECTION(lock_counter, 0,
             "Thread synchronization: increment() and decrement() under one Lock") {
  long counter = 0;
  spindle::Lock lock;
  const long n = tour::size(100000);
  auto increment = [&] {
    for (long i = 0; i < n; ++i) {
      lock.acquire();
      counter += 1;
      lock.release();
    }
  };
  auto decrement = [&] {
    for (long i = 0; i < n; ++i) {
      lock.acquire();
      counter -= 1;
      lock.release();
    }
  };
  spindle::Thread a(increment), b(decrement);
  a.start();
  b.start();
  a.join();
  b.join();
  print("counter = ", counter);
  note(n, " increments and ", n, " decrements ran at the same time; the Lock makes each one whole");
  tour::check(counter == 0, "counter is back to exactly 0");
}

TOUR_SECTION(deadlock_two_locks, 0,
             "Avoiding deadlocks: worker_1 takes lock_1 then lock_2, worker_2 the reverse") {
  spindle::Lock lock_1, lock_2;
  // Both workers take their first lock, then meet at a barrier, so the
  // deadly interleaving happens every time; acquire(timeout) catches it.
  spindle::Barrier both_hold(2), both_gave_up(2);
  std::atomic<int> timed_out{0};
  auto worker = [&](spindle::Lock& first, spindle::Lock& second, const char* name) {
    first.acquire();
    (void)both_hold.wait();
    if (second.acquire(tour::scaled(2))) {
      print(name, ": got both locks");
      second.release();
    } else {
      print(name, ": waited ", tour::scaled(2).count() / 1000,
            " ms for its second lock - deadlock; backing off");
      timed_out.fetch_add(1);
    }
    (void)both_gave_up.wait();
    first.release();
  };
  spindle::Thread w1(worker, std::ref(lock_1), std::ref(lock_2), "worker_1");
  spindle::Thread w2(worker, std::ref(lock_2), std::ref(lock_1), "worker_2");
  w1.start();
  w2.start();
  w1.join();
  w2.join();
  note("each held the lock the other wanted: without a timeout both would wait forever");
  tour::check(timed_out.load() == 2, "the deadlock was caught by acquire(timeout) in both workers");

  // "all threads must always acquire locks in the same global order"
  int done = 0;
  auto ordered = [&](const char* name) {
    for (int round = 0; round < 1000; ++round) {
      lock_1.acquire();
      lock_2.acquire();
      ++done;
      lock_2.release();
      lock_1.release();
    }
    print(name, ": 1000 rounds, always lock_1 before lock_2");
  };
  spindle::Thread o1(ordered, "worker_1"), o2(ordered, "worker_2");
  o1.start();
  o2.start();
  o1.join();
  o2.join();
  // In C++ std::scoped_lock takes several locks with a deadlock-avoiding algorithm.
  {
    std::scoped_lock both(lock_2, lock_1);
    ++done;
  }
  note("with one global order (or std::scoped_lock(lock_1, lock_2)) the same work always finishes");
  tour::check(done == 2001, "every ordered round completed");
}

// --- queue ---------------------------------------------------------------------

TOUR_SECTION(queue_basics, 0, "Thread communication using Queue: put, get, task_done, join") {
  spindle::Queue<int> q;
  std::vector<int> got;
  // def producer(): for i in range(6): q.put(i)
  spindle::Thread t1([&] {
    for (int i = 0; i < 6; ++i) q.put(i);
  });
  // def consumer(): while True: item = q.get(); print(item); q.task_done()
  spindle::Thread t2({.daemon = true}, [&] {
    try {
      while (true) {
        int item = q.get();
        print(item);
        got.push_back(item);
        q.task_done();
      }
    } catch (const spindle::ShutDown&) {
      print("consumer: queue shut down, leaving its loop");
    }
  });
  t1.start();
  t2.start();
  // The seed calls q.join() straight away; if the producer has not put
  // anything yet, join() returns at once (nothing is unfinished). Waiting
  // for the producer first makes "all tasks done" mean all six.
  t1.join();
  q.join();  // wait until all tasks are marked done
  note("q.join() returned: every item put has had its task_done() (join the producer first, or");
  note("q.join() may run before the first put() and return at once)");
  tour::check(got == std::vector<int>({0, 1, 2, 3, 4, 5}), "the consumer got 0..5 in order");
  // The seed leaves the consumer blocked in get() for ever; Python 3.13's
  // Queue.shutdown() (and spindle's) lets it leave its loop instead.
  q.shutdown();
  t2.join();
  tour::check(!t2.is_alive(), "the consumer thread ended after shutdown()");
}
