// spindle_report: runs one workload with one implementation and prints one
// JSON line {"workload", "impl", "seconds", "ops", "ns_per_op"}.
//
//   spindle_report --list
//   spindle_report WORKLOAD IMPL [--n N] [--threads T] [--workers W] [--ms MS] [--grain G]
//                  [--warmup K]
//
// Exit status: 0 measured and correct; 1 the result was wrong; 2 bad usage.
// A run that hangs is killed by the driver's watchdog.
//
// The floors (impl "floor") are what the hardware and kernel cost at least:
// an atomic exchange + store pair, a cache line bounced between two cores,
// a raw futex wait/wake round trip, pthread_create + join.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness.hpp"

namespace report {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

Sample floor_atomic(const Params& p) {
  std::atomic<std::uint32_t> word{0};
  std::uint64_t counter = 0;
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < p.n; ++i) {
    while (word.exchange(1, std::memory_order_acquire) != 0) {
    }
    ++counter;
    opaque(counter);
    word.store(0, std::memory_order_release);
  }
  const double s = since(t0);
  expect(counter == static_cast<std::uint64_t>(p.n), "lost increments");
  return {s, p.n};
}

// One round trip: A writes 1 and spins for 0, B spins for 1 and writes 0.
// Spins yield now and then: on a loaded machine the other side may not run.
Sample floor_cacheline(const Params& p) {
  alignas(64) std::atomic<std::uint32_t> flag{0};
  const double s = gated(2, [&](int who) {
    const std::uint32_t want = who == 0 ? 0 : 1;
    for (std::int64_t i = 0; i < p.n; ++i) {
      for (int k = 0; flag.load(std::memory_order_acquire) != want; ++k) {
        if ((k & 1023) == 1023)
          std::this_thread::yield();
        else
          cpu_relax();
      }
      flag.store(want ^ 1, std::memory_order_release);
    }
  });
  return {s, p.n};
}

long futex(std::atomic<std::uint32_t>* w, int op, std::uint32_t v) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), op | FUTEX_PRIVATE_FLAG, v,
                 nullptr, nullptr, 0);
}

// One round trip: each side sets the other's word and wakes it, then waits
// on its own word with FUTEX_WAIT (no spinning: the kernel's cost).
Sample floor_futex(const Params& p) {
  alignas(64) std::atomic<std::uint32_t> a{0};
  alignas(64) std::atomic<std::uint32_t> b{0};
  const double s = gated(2, [&](int who) {
    std::atomic<std::uint32_t>& mine = who == 0 ? a : b;
    std::atomic<std::uint32_t>& theirs = who == 0 ? b : a;
    for (std::int64_t i = 0; i < p.n; ++i) {
      if (who == 0) {
        theirs.store(1, std::memory_order_release);
        futex(&theirs, FUTEX_WAKE, 1);
      }
      while (mine.load(std::memory_order_acquire) == 0) futex(&mine, FUTEX_WAIT, 0);
      mine.store(0, std::memory_order_relaxed);
      if (who == 1) {
        theirs.store(1, std::memory_order_release);
        futex(&theirs, FUTEX_WAKE, 1);
      }
    }
  });
  return {s, p.n};
}

void* pthread_body(void* arg) {
  static_cast<std::atomic<std::int64_t>*>(arg)->fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

Sample floor_pthread(const Params& p) {
  std::atomic<std::int64_t> counter{0};
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < p.n; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, pthread_body, &counter) != 0)
      throw WrongResult("pthread_create");
    pthread_join(t, nullptr);
  }
  const double s = since(t0);
  expect(counter.load() == p.n, "a thread did not run");
  return {s, p.n};
}

REPORT_CASE("floor_atomic", "floor", floor_atomic);
REPORT_CASE("floor_cacheline", "floor", floor_cacheline);
REPORT_CASE("floor_futex", "floor", floor_futex);
REPORT_CASE("floor_pthread", "floor", floor_pthread);

int usage() {
  std::fprintf(stderr,
               "usage: spindle_report --list\n"
               "       spindle_report WORKLOAD IMPL [--n N] [--threads T] [--workers W] [--ms MS]"
               " [--grain G] [--warmup K]\n");
  return 2;
}

}  // namespace
}  // namespace report

int main(int argc, char** argv) {
  using namespace report;
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const auto& c : registry()) std::printf("%s %s\n", c.workload.c_str(), c.impl.c_str());
    return 0;
  }
  if (argc < 3) return usage();
  const std::string workload = argv[1];
  const std::string impl = argv[2];
  Params p;
  int warmup = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    char* end = nullptr;
    const long long v = std::strtoll(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0' || v < 0) return usage();
    if (k == "--n")
      p.n = v;
    else if (k == "--threads")
      p.threads = static_cast<int>(v);
    else if (k == "--workers")
      p.workers = static_cast<int>(v);
    else if (k == "--ms")
      p.ms = static_cast<int>(v);
    else if (k == "--grain")
      p.grain = v;
    else if (k == "--warmup")
      warmup = static_cast<int>(v);
    else
      return usage();
  }
  if ((argc - 3) % 2 != 0 || p.n < 1 || p.threads < 1 || p.workers < 1 || p.grain < 1)
    return usage();
  // glibc drops the lock prefix from pthread mutexes while a process has
  // never had a second thread, which would flatter every pthread-based peer
  // in the single-threaded workloads; a program that needs a lock has
  // threads, so make this process one of those first.
  std::thread([] {}).join();
  for (const auto& c : registry()) {
    if (c.workload != workload || c.impl != impl) continue;
    try {
      if (warmup > 0) {
        Params w = p;  // a short untimed run: page faults, thread caches, lazy init
        w.n = p.n / 10 > 0 ? p.n / 10 : 1;
        for (int k = 0; k < warmup; ++k) c.fn(w);
      }
      const Sample s = c.fn(p);
      std::printf(
          "{\"workload\": \"%s\", \"impl\": \"%s\", \"seconds\": %.9g, \"ops\": %lld, "
          "\"ns_per_op\": %.6g}\n",
          workload.c_str(), impl.c_str(), s.seconds, static_cast<long long>(s.ops),
          s.seconds * 1e9 / static_cast<double>(s.ops));
      return 0;
    } catch (const WrongResult& e) {
      std::fprintf(stderr, "WRONG RESULT: %s %s: %s\n", workload.c_str(), impl.c_str(), e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "FAILED: %s %s: %s\n", workload.c_str(), impl.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "no case %s %s (see --list)\n", workload.c_str(), impl.c_str());
  return 2;
}
