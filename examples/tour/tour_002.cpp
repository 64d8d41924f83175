// Seed 002 - "Python Threading" (a training course): the thread lifecycle,
// starting a thread with logging, daemon threads and join(), multithreading,
// ThreadPoolExecutor, the dining philosophers, a race condition, the
// producer-consumer pipeline, and the other objects: Timer, Barrier phases.
#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "spindle/barrier.hpp"
#include "spindle/event.hpp"
#include "spindle/futures.hpp"
#include "spindle/lock.hpp"
#include "spindle/queue.hpp"
#include "spindle/thread.hpp"
#include "spindle/timer.hpp"
#include "tour.hpp"

using namespace std::chrono_literals;
using tour::note;
using tour::print;

TOUR_SECTION(lifecycle, 2,
             "Stages of a thread's lifecycle: new, ready, running, blocked, terminated") {
  spindle::Event go;
  spindle::Thread t({.name = "lifecycle"}, [&] {
    print("running: ", spindle::to_string(spindle::current_thread().state()),
          " - about to wait on an Event");
    go.wait();  // blocked: waiting for an available resource
    print("woken: ", spindle::to_string(spindle::current_thread().state()));
  });
  print("created:    state() = ", spindle::to_string(t.state()), ", is_alive() = ", std::boolalpha,
        t.is_alive());
  bool new_ok = t.state() == spindle::ThreadState::new_ && !t.ident().has_value();
  t.start();  // ready: queued for the OS scheduler; then running
  print("started:    state() = ", spindle::to_string(t.state()));
  // Wait until the thread parks on the Event (not, say, on the print lock for
  // a moment); the 60 s bound is only a hang guard.
  auto on_event = [&t, &go] {
    auto w = t.waiting_on();
    return t.state() == spindle::ThreadState::blocked && w && w->object == &go;
  };
  tour::Stopwatch guard;
  bool blocked_ok = false;
  while (!(blocked_ok = on_event()) && guard.seconds() < 60) std::this_thread::yield();
  auto wait = t.waiting_on();
  print("waiting:    state() = ", spindle::to_string(t.state()),
        ", waiting_on() = ", wait ? wait->kind : "?");
  go.set();
  t.join();
  print("joined:     state() = ", spindle::to_string(t.state()), ", is_alive() = ", t.is_alive());
  note(
      "after start() a thread is ready until the OS runs it; spindle records each stage, and what "
      "a");
  note("blocked thread waits on (spindle::dump_threads() lists them all)");
  tour::check(new_ok && blocked_ok && t.state() == spindle::ThreadState::terminated &&
                  t.ident().has_value(),
              "new -> blocked on the Event -> terminated, with ident kept after the end");
}

// --- starting a thread with logging: three variants, each as its own process

namespace {
const auto log_start = std::chrono::steady_clock::now();

// logging.info(...) with format "%(asctime)s: %(message)s"; the time is
// shown relative to the program's start so runs can be compared.
template <class... Args>
void log_info(Args&&... args) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  log_start);
  print("+", ms.count(), " ms: ", std::forward<Args>(args)...);
}

void thread_function(int name, bool daemon) {
  log_info("Thread ", name, ": starting");
  // The point of this program is what main does meanwhile, so the 2 s stay
  // long enough to show it on a slow machine: at least 0.5 s; a daemon's are
  // not scaled at all (the process ends long before).
  if (daemon)
    std::this_thread::sleep_for(2s);
  else
    std::this_thread::sleep_for(std::max<std::chrono::microseconds>(tour::scaled(2), 500ms));
  log_info("Thread ", name, ": finishing");
}

int logging_main(bool daemon, bool join) {
  log_info("Main    : before creating thread");
  spindle::Thread x({.daemon = daemon}, thread_function, 1, daemon);
  log_info("Main    : before running thread");
  x.start();
  log_info("Main    : wait for the thread to finish");
  if (join) x.join();
  log_info("Main    : all done");
  return 0;
}
const tour::RegisterChild child_plain("logging-plain", [] { return logging_main(false, false); });
const tour::RegisterChild child_daemon("logging-daemon", [] { return logging_main(true, false); });
const tour::RegisterChild child_join("logging-join", [] { return logging_main(false, true); });

tour::ChildResult show_child(const char* name) {
  auto child = tour::run_child(name);
  std::istringstream lines(child.output);
  for (std::string line; std::getline(lines, line);)
    print(line.substr(line.find_first_not_of(' ')));
  return child;
}
}  // namespace

TOUR_SECTION(start_and_daemon, 2,
             "Starting a thread, daemon=True, and join(): three runs of one program") {
  note("1) a normal thread, no join: main says 'all done', and exit waits for the thread");
  auto plain = show_child("logging-plain");
  note("2) daemon=True, no join: the process exits at once; the thread's last line never appears");
  auto daemon = show_child("logging-daemon");
  note("3) x.join(): main waits for the thread before 'all done'");
  auto joined = show_child("logging-join");
  auto pos = [](const std::string& s, const char* what) { return s.find(what); };
  tour::check(plain.exit_code == 0 && pos(plain.output, "finishing") != std::string::npos &&
                  pos(plain.output, "all done") < pos(plain.output, "finishing"),
              "without join, exit waited for the non-daemon thread after 'all done'");
  tour::check(daemon.exit_code == 0 && pos(daemon.output, "finishing") == std::string::npos,
              "the daemon thread was abandoned at exit");
  tour::check(
      joined.exit_code == 0 && pos(joined.output, "finishing") < pos(joined.output, "all done"),
      "with join, the thread finished before 'all done'");
}

TOUR_SECTION(multithreading, 2, "Multiple threading: print_numbers and print_letters together") {
  auto print_numbers = [] {
    for (int i = 1; i <= 5; ++i) {
      print(i);
      tour::sleep(1);
    }
  };
  auto print_letters = [] {
    for (char c : std::string("abcde")) {
      print(c);
      tour::sleep(1);
    }
  };
  spindle::Thread thread1(print_numbers), thread2(print_letters);
  tour::Stopwatch watch;
  thread1.start();
  thread2.start();
  thread1.join();
  thread2.join();
  print("Both threads have finished.");
  note("ten one-second prints (scaled) took ", watch.seconds(),
       " s: the two threads ran side by side");
  tour::check(!thread1.is_alive() && !thread2.is_alive(), "both loops ran to the end");
}

TOUR_SECTION(thread_pool_context, 2,
             "ThreadPoolExecutor(max_workers=3) as a context manager, five tasks") {
  std::atomic<int> done{0};
  auto task = [&](int n) {
    print("Task ", n, " starting on ", spindle::current_thread().name());
    tour::sleep(1);
    print("Task ", n, " done");
    done.fetch_add(1);
  };
  {
    spindle::ThreadPoolExecutor executor(3);  // with ThreadPoolExecutor(max_workers=3) as executor:
    for (int i = 0; i < 5; ++i) (void)executor.submit(task, i);
  }  // the end of the block waits for every task
  note(
      "three workers took the five tasks; the pool's destructor (the end of 'with') waited for "
      "them");
  tour::check(done.load() == 5, "all five tasks ran before the pool was gone");
}

TOUR_SECTION(dining_philosophers, 2,
             "Deadlock: the dining philosophers, caught by a timeout and avoided by ordering") {
  constexpr int N = 5;
  std::vector<std::unique_ptr<spindle::Lock>> forks;
  for (int i = 0; i < N; ++i) forks.push_back(std::make_unique<spindle::Lock>());

  // 1) Everyone picks up the left fork, then waits for the right one. The
  //    barrier makes that fatal interleaving happen on every run; a timeout
  //    on the second fork is what keeps the program from hanging.
  spindle::Barrier all_hold_left(N), all_gave_up(N);
  std::atomic<int> timed_out{0};
  auto naive = [&](int i) {
    spindle::Lock& left = *forks[i];
    spindle::Lock& right = *forks[(i + 1) % N];
    left.acquire();
    all_hold_left.wait();
    if (right.acquire(tour::scaled(1))) {
      right.release();  // cannot happen: every fork is held
    } else {
      timed_out.fetch_add(1);
    }
    all_gave_up.wait();
    left.release();
  };
  {
    std::vector<std::unique_ptr<spindle::Thread>> ps;
    for (int i = 0; i < N; ++i) ps.push_back(std::make_unique<spindle::Thread>(naive, i));
    for (auto& p : ps) p->start();
    for (auto& p : ps) p->join();
  }
  print("left fork first: ", timed_out.load(), " of ", N, " philosophers waited ",
        tour::scaled(1).count() / 1000, " ms for a right fork that never came");
  note(
      "every philosopher held one fork and wanted the next: a cycle, so nobody could eat "
      "(deadlock)");
  tour::check(timed_out.load() == N,
              "the deadlock was detected by acquire(timeout), not waited on forever");

  // 2) Lock ordering: always pick up the lower-numbered fork first. The
  //    cycle cannot form, so everyone eats; the timeout is only a guard.
  const int meals = static_cast<int>(tour::size(20, 4));
  std::atomic<int> eaten{0}, stuck{0};
  auto ordered = [&](int i) {
    int a = i, b = (i + 1) % N;
    spindle::Lock& first = *forks[std::min(a, b)];
    spindle::Lock& second = *forks[std::max(a, b)];
    for (int m = 0; m < meals; ++m) {
      if (!first.acquire(10s)) {
        stuck.fetch_add(1);
        return;
      }
      if (!second.acquire(10s)) {
        first.release();
        stuck.fetch_add(1);
        return;
      }
      eaten.fetch_add(1);  // eating
      second.release();
      first.release();
      std::this_thread::yield();  // thinking
    }
  };
  std::vector<std::unique_ptr<spindle::Thread>> ps;
  for (int i = 0; i < N; ++i) ps.push_back(std::make_unique<spindle::Thread>(ordered, i));
  for (auto& p : ps) p->start();
  for (auto& p : ps) p->join();
  print("lower-numbered fork first: ", eaten.load(), " meals eaten, nobody stuck");
  tour::check(eaten.load() == N * meals && stuck.load() == 0,
              "with lock ordering every philosopher ate every meal");
}

TOUR_SECTION(race_condition_five, 2,
             "Race condition: five threads each add one - the counter should be 5") {
  // Each thread reads the counter, is slow for a moment, then writes its
  // value + 1. The read and the write are separate atomic operations, so the
  // program is well defined in C++ and still shows the lost updates.
  std::atomic<int> counter{0};
  auto increment = [&] {
    int value = counter.load();
    tour::sleep(0.1);  // the other threads read the same value meanwhile
    counter.store(value + 1);
  };
  std::vector<std::unique_ptr<spindle::Thread>> ts;
  for (int i = 0; i < 5; ++i) ts.push_back(std::make_unique<spindle::Thread>(increment));
  for (auto& t : ts) t->start();
  for (auto& t : ts) t->join();
  print("counter = ", counter.load(), " (5 expected)");
  note("the threads read the same value before any of them wrote: ", 5 - counter.load(),
       " update(s) lost");

  spindle::Lock lock;
  int safe = 0;
  auto safe_increment = [&] {
    std::scoped_lock guard(lock);  // with threading.Lock():
    int value = safe;
    tour::sleep(0.01);
    safe = value + 1;
  };
  ts.clear();
  for (int i = 0; i < 5; ++i) ts.push_back(std::make_unique<spindle::Thread>(safe_increment));
  for (auto& t : ts) t->start();
  for (auto& t : ts) t->join();
  print("with a Lock around read-and-write: counter = ", safe);
  tour::check(safe == 5, "with the Lock the counter is exactly 5");
}

TOUR_SECTION(producer_consumer_pipeline, 2,
             "Producer-consumer: bursts of messages through a bounded pipeline") {
  spindle::Queue<int> pipeline(10);  // the buffer between the two
  spindle::Event stop;
  std::atomic<int> produced{0}, consumed{0};
  std::size_t peak = 0;
  spindle::Thread producer({.name = "producer"}, [&] {
    std::mt19937 rng(42);
    int message = 0;
    while (!stop.is_set()) {
      int burst = std::uniform_int_distribution<int>(1, 8)(rng);  // messages come in bursts
      for (int i = 0; i < burst; ++i) {
        pipeline.put(++message);
        produced.fetch_add(1);
      }
      stop.wait(tour::scaled(0.2));  // quiet time between bursts
    }
    pipeline.put(-1);  // sentinel: no more messages
  });
  spindle::Thread consumer({.name = "consumer"}, [&] {
    for (;;) {
      peak = std::max(peak, pipeline.qsize());
      int message = pipeline.get();
      if (message < 0) break;
      consumed.fetch_add(1);
      tour::sleep(0.01);  // writing the message out
    }
  });
  producer.start();
  consumer.start();
  tour::sleep(3);
  stop.set();
  producer.join();
  consumer.join();
  print("produced ", produced.load(), " messages in bursts, consumed ", consumed.load());
  print("the buffer held at most about ", peak, " of its 10 slots");
  note(
      "the bounded Queue smoothed the bursts; an Event told the producer to stop, a sentinel the "
      "consumer");
  tour::check(produced.load() == consumed.load() && produced.load() > 0,
              "every message produced was consumed");
}

TOUR_SECTION(timer, 2, "Timer: call a function after a delay; cancel() before it fires") {
  std::atomic<int> fired{0};
  auto hello = [&](const std::string& who) {
    print("Timer fired: hello, ", who);
    fired.fetch_add(1);
  };
  spindle::Timer t(tour::scaled(1), hello, std::string("world"));
  t.start();
  print("Timer started; waiting for it");
  t.join();
  // Not scaled, and long: cancel() surely comes while it still waits, however
  // slow the machine (and it ends the wait at once).
  spindle::Timer cancelled(60s, hello, std::string("nobody"));
  cancelled.start();
  cancelled.cancel();  // still waiting: the action will not run
  cancelled.join();
  print("Second timer cancelled before it fired");
  tour::check(fired.load() == 1, "the first timer fired once, the cancelled one never");
}

TOUR_SECTION(barrier_stages, 2, "Barrier: a workload in stages, nobody starts a stage early") {
  constexpr int workers = 3, stages = 3;
  std::atomic<int> finished_stage[stages] = {};
  std::atomic<bool> early{false};
  spindle::Barrier barrier(workers, [] { print("--- every worker finished this stage ---"); });
  auto worker = [&](int id) {
    std::mt19937 rng(static_cast<unsigned>(id));
    for (int stage = 0; stage < stages; ++stage) {
      if (stage > 0 && finished_stage[stage - 1].load() != workers) early = true;
      tour::sleep(std::uniform_real_distribution<double>(0.1, 0.5)(rng));
      print("worker ", id, " finished stage ", stage + 1);
      finished_stage[stage].fetch_add(1);
      barrier.wait();
    }
  };
  std::vector<std::unique_ptr<spindle::Thread>> ts;
  for (int i = 0; i < workers; ++i) ts.push_back(std::make_unique<spindle::Thread>(worker, i));
  for (auto& t : ts) t->start();
  for (auto& t : ts) t->join();
  tour::check(!early.load(), "no worker began a stage before all had finished the previous one");
}
