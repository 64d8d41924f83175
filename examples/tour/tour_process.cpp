// Seed 003's "Process Pool" program: the same submit()/result() as its
// thread pool, but each task runs in a worker process - what Python uses for
// CPU-bound work because of the GIL, and what C++ uses to keep a task that
// crashes from taking the program down.
//
// The workers of a spawned pool are this tour executable: they run its
// static initializers (the TOUR_SECTION registrations below and in the other
// tour_*.cpp files, which only fill a list) and never main(). So a task gets
// what it needs from its arguments - here the scaled sleep time, because the
// --quick flag is parsed in main() and the worker never sees it. That is the
// C++ form of the seed's `if __name__ == "__main__":`.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/process.hpp"
#include "tour.hpp"

using tour::note;
using tour::print;

namespace {

// def process_task(x): time.sleep(1); print(f"Task {x} (PID: {os.getpid()})"); return x * 2
// (the sleep arrives as an argument: see the file comment)
int process_task(int x, long sleep_us) {
  std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
  print("Task ", x, " (PID: ", ::getpid(), ")");
  return x * 2;
}

int worker_pid() {
  return static_cast<int>(::getpid());
}

}  // namespace

TOUR_SECTION(process_pool, 3,
             "Process pool: submit() then result(), each task in a worker process") {
  // pool = ProcessPoolExecutor(max_workers=2)
  spindle::ProcessPoolExecutor pool(2);
  const long sleep_us = static_cast<long>(tour::scaled(1).count());
  print("Main process PID: ", ::getpid());
  std::vector<int> results;
  std::vector<int> pids;
  for (int i = 0; i < 5; ++i) {
    auto future = pool.submit(process_task, i, sleep_us);
    results.push_back(future.result());  // wait for the result (synchronous)
    print(results.back());
    pids.push_back(pool.submit(worker_pid).result());
  }
  note(
      "each task printed from its worker process, whose output is flushed before its result is "
      "sent");
  note("the workers are this program started again: they run static initializers, never main()");
  tour::check(results == std::vector<int>({0, 2, 4, 6, 8}), "results were 0, 2, 4, 6, 8");
  bool other_process = true;
  for (int pid : pids) other_process = other_process && pid != ::getpid();
  tour::check(other_process, "every task ran in a process other than the main one");
}

// --- CPU-bound work: the reason Python has a process pool -------------------

namespace {

// The primes in [lo, hi), by trial division: pure CPU work.
long count_primes(long lo, long hi) {
  long count = 0;
  for (long n = std::max(lo, 2L); n < hi; ++n) {
    bool prime = n == 2 || n % 2 != 0;
    for (long d = 3; prime && d * d <= n; d += 2) prime = n % d != 0;
    count += prime ? 1 : 0;
  }
  return count;
}

// Counts the primes below `limit` in `chunks` tasks on a pool of `workers`.
std::pair<long, double> primes_with(int workers, long limit, int chunks) {
  std::vector<long> los;
  std::vector<long> his;
  for (int c = 0; c < chunks; ++c) {
    los.push_back(limit * c / chunks);
    his.push_back(limit * (c + 1) / chunks);
  }
  spindle::ProcessPoolExecutor pool(workers);
  std::vector<spindle::Future<int>> warm;
  for (int w = 0; w < workers; ++w) warm.push_back(pool.submit(worker_pid));
  for (auto& f : warm) f.result();  // every worker started: time only the work
  tour::Stopwatch watch;
  long total = 0;
  for (long n : pool.map(count_primes, los, his)) total += n;
  return {total, watch.seconds()};
}

}  // namespace

TOUR_SECTION(process_pool_cpu_bound, 3,
             "CPU-bound work in worker processes: one worker, then one per CPU") {
  const unsigned cpus = tour::usable_cpus();
  const int workers = static_cast<int>(std::max(2u, cpus));
  const long limit = tour::quick() ? 200'000 : 2'000'000;
  const long expected = tour::quick() ? 17'984 : 148'933;  // pi(limit)
  const int chunks = 4 * workers;
  const auto [one, t1] = primes_with(1, limit, chunks);
  const auto [many, tn] = primes_with(workers, limit, chunks);
  print("primes below ", limit, ": ", one, " with 1 worker process in ", t1, " s");
  print("primes below ", limit, ": ", many, " with ", workers, " worker processes in ", tn, " s");
  print("Speedup: ", t1 / tn, "x");
  note(cpus, " usable CPU(s): the speedup approaches min(workers, cores) when the machine is idle");
  note("(load average now ", tour::load_average(), "); it is measured, never checked");
  tour::check(one == expected && many == expected,
              "both pools counted every prime below the limit");
}

// --- Crash isolation ----------------------------------------------------------

namespace {

// A task that dereferences a null pointer. The default SIGSEGV action is
// restored first so that a sanitizer's handler does not turn the crash into
// a report and an exit, and the access is not instrumented.
__attribute__((no_sanitize("address", "undefined", "thread"))) int crash(int) {
  std::signal(SIGSEGV, SIG_DFL);
  volatile int* p = nullptr;
  *p = 42;
  return 0;
}

int square(int x) {
  return x * x;
}

}  // namespace

TOUR_SECTION(process_crash_isolation, 3,
             "Crash isolation: a task that segfaults breaks its pool, not the program") {
  std::string message;
  {
    spindle::ProcessPoolExecutor pool(2);
    print("square(7) in a worker: ", pool.submit(square, 7).result());
    auto doomed = pool.submit(crash, 0);
    try {
      doomed.result();
    } catch (const spindle::BrokenProcessPool& e) {
      message = e.what();
      print("BrokenProcessPool: ", message);
    }
    try {
      (void)pool.submit(square, 8);
    } catch (const spindle::BrokenProcessPool&) {
      print("the broken pool refuses new work");
    }
  }
  spindle::ProcessPoolExecutor fresh(2);
  const int after = fresh.submit(square, 9).result();
  print("a new pool still works: square(9) = ", after);
  note("the segfault killed one worker process; the main process got an exception and carried on");
  tour::check(message.find("signal 11") != std::string::npos,
              "the crash came back as BrokenProcessPool naming signal 11");
  tour::check(after == 81, "the program went on and a new pool ran a task");
}
