// tour.hpp - the small toolkit the tour's sections share.
//
// Each seed tutorial becomes one file, tour_00N.cpp, whose sections register
// themselves with TOUR_SECTION(name, seed, "title") { ... }. main.cpp runs
// them in seed order, prints a header per section, and in --check mode turns
// every tour::check() into a pass/fail line and the exit status.
//
// The helpers stand in for the Python a reader of the seeds knows:
//   tour::print(a, b, c)   print(f"...")   - one whole line, never interleaved
//   tour::sleep(1.5)       time.sleep(1.5) - scaled down so the tour is quick
//   tour::note(...)        the tour's own commentary (what was measured)
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/lock.hpp"

namespace tour {

// --- options ---------------------------------------------------------------

struct Options {
  bool quick = false;  // --quick: shorter sleeps, smaller sizes
  bool check = false;  // --check: verify each section's outcome
};
const Options& options();
inline bool quick() {
  return options().quick;
}

/// CPUs this process may run on (affinity mask, not only the machine's count).
unsigned usable_cpus();

/// The 1-minute load average (printed next to a low speed-up: other programs
/// held the cores). The tour never checks a speed.
double load_average();

// --- output ----------------------------------------------------------------

namespace detail {
spindle::Lock& print_lock();
void emit(std::string_view prefix, const std::string& line);
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(2);
  out.setf(std::ios::boolalpha);  // Python prints True/False; C++ spells them true/false
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

/// Python's print(): the arguments, streamed, as one line. Lines from
/// different threads never mix (a spindle::Lock serialises them), which is
/// more than Python promises but what a reader expects to see.
template <class... Args>
void print(Args&&... args) {
  detail::emit("    ", detail::concat(std::forward<Args>(args)...));
}

/// The tour's commentary: what ran, what was measured, what it shows.
template <class... Args>
void note(Args&&... args) {
  detail::emit("  -> ", detail::concat(std::forward<Args>(args)...));
}

/// Verifies an outcome. In --check mode prints "[ok]" or "[FAILED]" and a
/// failure makes the tour exit non-zero, naming the check. Returns `ok`.
bool check(bool ok, const std::string& what);

// --- time ------------------------------------------------------------------

/// How much a seed's time.sleep(s) is shortened: s seconds become
/// s * time_scale() seconds (1/10 normally, 1/50 with --quick).
double time_scale();

/// The seed's `seconds`, scaled, as a chrono duration.
inline std::chrono::microseconds scaled(double seconds) {
  return std::chrono::microseconds(static_cast<long long>(seconds * time_scale() * 1e6));
}

/// time.sleep(seconds), scaled by time_scale().
inline void sleep(double seconds) {
  std::this_thread::sleep_for(scaled(seconds));
}

/// A size from a seed, kept in normal mode and divided by `quick_divisor`
/// with --quick.
inline long long size(long long n, long long quick_divisor = 10) {
  return quick() ? std::max(1LL, n / quick_divisor) : n;
}

/// time.time() differences: seconds since construction.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

// --- sections --------------------------------------------------------------

using SectionFn = void (*)();
struct Section {
  std::string name;   // what `tour NAME` runs
  int seed;           // which tutorial it comes from (docs/tour.md lists seeds 000-004)
  std::string title;  // one line: what the section shows
  SectionFn fn;
};
std::vector<Section>& sections();
struct Register {
  Register(const char* name, int seed, const char* title, SectionFn fn);
};

/// A helper program the tour starts as a child process ("tour __child NAME"),
/// for what can only be seen from outside: what happens when a process exits.
using ChildFn = int (*)();
struct RegisterChild {
  RegisterChild(const char* name, ChildFn fn);
};
struct ChildResult {
  int exit_code = -1;
  double seconds = 0;
  std::string output;
};
/// Runs this executable as "tour __child NAME" (with --quick if given) and
/// captures its standard output.
ChildResult run_child(const std::string& name);

}  // namespace tour

#define TOUR_CAT2(a, b) a##b
#define TOUR_CAT(a, b) TOUR_CAT2(a, b)
/// TOUR_SECTION(name, seed, "title") { body } defines and registers a section.
#define TOUR_SECTION(id, seed, title)                                                       \
  static void TOUR_CAT(tour_section_, id)();                                                \
  static const ::tour::Register TOUR_CAT(tour_register_, id){#id, seed, title,              \
                                                             &TOUR_CAT(tour_section_, id)}; \
  static void TOUR_CAT(tour_section_, id)()
