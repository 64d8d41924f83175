// ProcessPoolExecutor (spindle/process.hpp): Python's
// concurrent.futures.ProcessPoolExecutor rules, each test citing the one it
// follows, plus what Python lacks (no zombies, no leaked descriptors, workers
// that die with their parent). Spawned workers are this test binary: they run
// its static initializers (gtest's registrations) and never main().
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "spindle/process.hpp"
#include "spindle/thread.hpp"
#include "support.hpp"

extern char** environ;

using namespace std::chrono_literals;
using spindle::BrokenProcessPool;
using spindle::Future;
using spindle::ProcessPoolExecutor;
using spindle::ProcessPoolOptions;
using spindle::StartMethod;
using spindle_test::Watchdog;

namespace {

// ---- task functions (plain functions: they cross by address) --------------

int square(int x) {
  return x * x;
}
long identity(long x) {
  return x;
}
int my_pid() {
  return static_cast<int>(::getpid());
}
// Names the calling process uniquely: pids are reused (pid_max may be 32768
// on a busy machine), a random number drawn once per process is not.
std::uint64_t process_token() {
  static const std::uint64_t token =
      (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  return token;
}
void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
int sleep_then_pid(int ms) {
  sleep_ms(ms);
  return my_pid();
}
[[noreturn]] int wait_forever(int) {
  for (;;) ::pause();
}

// A dynamically initialised global: a spawned worker runs static
// initializers, so it sees this value too.
const std::string g_static_greeting = std::string("hello from ") + "static initialisation";
std::string static_greeting() {
  return g_static_greeting;
}

// Set by a test in the parent (main has run there); a spawned worker never
// runs main or any test, a forked one is a copy of the parent.
int g_set_by_test = 0;
int read_set_by_test() {
  return g_set_by_test;
}

// What the initializer sets in each worker.
std::string g_worker_label;
void set_label(std::string label, int n) {
  g_worker_label = label + "#" + std::to_string(n);
}
std::string label() {
  return g_worker_label;
}
void failing_initializer() {
  throw std::runtime_error("initializer refuses");
}

struct Point {
  int x = 0;
  double y = 0;
  std::string name;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y, name);
  }
  bool operator==(const Point&) const = default;
};
Point move_point(Point p, int dx) {
  p.x += dx;
  p.name += "'";
  return p;
}

struct CustomError : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};

// Waits (hang-guarded by the test's Watchdog) until pred() holds.
template <class Pred>
void wait_until(Pred pred) {
  while (!pred()) std::this_thread::sleep_for(1ms);
}

int count_open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

// Manager threads of earlier pools that are still alive at the OS level.
int manager_threads() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("ProcessPoolExec", 0) == 0) ++n;  // "ProcessPoolExecutor-N_manager", cut at 15
  }
  ::closedir(d);
  return n;
}

// Before a fork pool starts its workers: waits (hang-guarded by the test's
// Watchdog) until the manager threads of earlier pools have fully exited.
// spindle's join() returns when a thread's body has ended, before the OS
// thread has freed its allocator cache; under ASan (GCC 12), whose
// allocator does not guard itself across fork, a thread doing that at the
// moment of the fork left the child blocked. The pool's own rule is in
// process.hpp.
void settle_before_fork() {
  while (manager_threads() > 0) std::this_thread::sleep_for(1ms);
}

// True if this process has no children left (none running, none zombie).
bool no_children_left() {
  int status;
  return ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
}

// Checks that `f` failed with BrokenProcessPool; returns its message.
template <class T>
std::string broken_message(Future<T>& f) {
  try {
    (void)f.result(60s);
  } catch (const BrokenProcessPool& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected BrokenProcessPool, got " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected BrokenProcessPool, the task succeeded";
  return {};
}

// A directory the parent and the workers share: map tasks leave a marker
// file per input there (what ran, seen from the parent), and a FIFO "gate"
// holds a task until the parent writes a byte into it.
class SharedDir {
 public:
  SharedDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != 0 ? tmp : "/tmp") + "/spindle-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::system_error(errno, std::generic_category());
    path_ = templ;
    if (::mkfifo(gate().c_str(), 0600) != 0)
      throw std::system_error(errno, std::generic_category());
  }
  ~SharedDir() { std::filesystem::remove_all(path_); }
  SharedDir(const SharedDir&) = delete;
  SharedDir& operator=(const SharedDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string gate() const { return path_ + "/gate"; }
  // Opens the gate for writing: returns once a task holds it open for reading.
  [[nodiscard]] int wait_for_gated_task() const {
    return ::open(gate().c_str(), O_WRONLY | O_CLOEXEC);
  }
  // Lets the gated task go.
  static void release(int fd) {
    EXPECT_EQ(::write(fd, "x", 1), 1);
    ::close(fd);
  }
  [[nodiscard]] bool ran(int x) const {
    return std::filesystem::exists(path_ + "/" + std::to_string(x));
  }

 private:
  std::string path_;
};

// Runs in a worker: blocks until the parent writes into dir's gate.
void wait_at_gate(const std::string& dir) {
  const int fd = ::open((dir + "/gate").c_str(), O_RDONLY | O_CLOEXEC);
  char c = 0;
  if (fd >= 0) {
    (void)::read(fd, &c, 1);
    ::close(fd);
  }
}
int mark(int x, std::string dir) {
  std::ofstream(dir + "/" + std::to_string(x)) << x;
  return x;
}

class ProcessPoolBoth : public ::testing::TestWithParam<StartMethod> {
 protected:
  ProcessPoolOptions options(int workers) const {
    if (GetParam() == StartMethod::fork) settle_before_fork();
    return ProcessPoolOptions{.max_workers = workers, .start_method = GetParam()};
  }
};

std::string method_name(const ::testing::TestParamInfo<StartMethod>& info) {
  return spindle::to_string(info.param);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(StartMethods, ProcessPoolBoth,
                         ::testing::Values(StartMethod::spawn, StartMethod::fork), method_name);

// ---------------------------------------------------------------------------
// What can be submitted (compile-time rules; tests/process_reject.cpp checks
// the static_assert messages themselves)
// ---------------------------------------------------------------------------

namespace {
struct NotSerializable {
  int x = 0;
};
struct NoDefault {
  explicit NoDefault(int v) : x(v) {}
  int x;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x);
  }
};
int takes_pointer(int* p) {
  return *p;
}
int* returns_pointer(int) {
  return nullptr;
}
int takes_not_serializable(NotSerializable n) {
  return n.x;
}
int takes_vector_of_not_serializable(std::vector<NotSerializable> v) {
  return static_cast<int>(v.size());
}
int takes_no_default(NoDefault n) {
  return n.x;
}
}  // namespace

TEST(ProcessPool, capturing_lambdas_and_unserializable_arguments_are_rejected_at_compile_time) {
  int captured = 1;
  auto capturing = [captured](int x) { return x + captured; };
  auto capture_default = [&](int x) { return x; };
  auto captureless = [](int x) { return x; };
  std::function<int(int)> erased = captureless;
  static_assert(spindle::process_submittable<decltype(captureless), int>);
  static_assert(spindle::process_submittable<decltype(&square), int>);
  static_assert(spindle::process_submittable<decltype(square), short>);
  static_assert(!spindle::process_submittable<decltype(capturing), int>);
  static_assert(!spindle::process_submittable<decltype(capture_default), int>);
  static_assert(!spindle::process_submittable<decltype(erased), int>);
  static_assert(!spindle::process_submittable<decltype(&takes_pointer), int*>);
  static_assert(!spindle::process_submittable<decltype(&returns_pointer), int>);
  static_assert(!spindle::process_submittable<decltype(&takes_not_serializable), NotSerializable>);
  static_assert(!spindle::process_submittable<decltype(&takes_vector_of_not_serializable),
                                              std::vector<NotSerializable>>);
  static_assert(!spindle::process_submittable<decltype(&takes_no_default), NoDefault>);
  static_assert(!spindle::process_submittable<decltype(&square), std::string>);
  // C strings and string views travel as std::string.
  static_assert(spindle::process_submittable<std::string (*)(std::string), const char*>);
  static_assert(spindle::process_submittable<std::string (*)(std::string), std::string_view>);
  SUCCEED();
}

// ---------------------------------------------------------------------------
// submit / result
// ---------------------------------------------------------------------------

// Python: submit(fn, *args) returns a Future; fn runs in a worker process.
TEST_P(ProcessPoolBoth, submit_returns_the_result_computed_in_another_process) {
  Watchdog wd("submit/result");
  ProcessPoolExecutor pool(options(2));
  Future<int> f = pool.submit(square, 7);
  EXPECT_EQ(f.result(), 49);
  Future<int> pid = pool.submit(my_pid);
  EXPECT_NE(pid.result(), ::getpid());
  Future<int> lam = pool.submit([](int a, int b) { return a * 10 + b; }, 4, 2);
  EXPECT_EQ(lam.result(), 42);
  Future<void> v = pool.submit(sleep_ms, 1);
  v.result();
  EXPECT_TRUE(v.done());
}

TEST_P(ProcessPoolBoth, function_pointers_and_references_both_work) {
  Watchdog wd("function pointers");
  ProcessPoolExecutor pool(options(1));
  int (*fp)(int) = square;
  EXPECT_EQ(pool.submit(fp, 5).result(), 25);
  EXPECT_EQ(pool.submit(&square, 6).result(), 36);
  EXPECT_EQ(pool.submit(square, 3).result(), 9);
  int (*null_fp)(int) = nullptr;
  EXPECT_THROW((void)pool.submit(null_fp, 1), spindle::ValueError);
}

TEST_P(ProcessPoolBoth, user_type_with_a_serialize_member_crosses_both_ways) {
  Watchdog wd("user type");
  ProcessPoolExecutor pool(options(1));
  Point p{1, 2.5, "p"};
  EXPECT_EQ(pool.submit(move_point, p, 10).result(), (Point{11, 2.5, "p'"}));
}

TEST_P(ProcessPoolBoth, standard_containers_strings_and_c_strings_cross) {
  Watchdog wd("standard types");
  ProcessPoolExecutor pool(options(1));
  auto f = pool.submit(
      [](std::map<std::string, std::vector<int>> m, std::optional<int> o,
         std::variant<int, std::string> v, std::tuple<int, std::string> t) {
        int sum = 0;
        for (auto& [k, xs] : m) sum += std::accumulate(xs.begin(), xs.end(), 0);
        return std::make_tuple(sum, o.value_or(-1), std::get<std::string>(v), std::get<1>(t));
      },
      std::map<std::string, std::vector<int>>{{"a", {1, 2}}, {"b", {3}}}, std::optional<int>(),
      std::variant<int, std::string>("var"), std::make_tuple(1, std::string("tup")));
  EXPECT_EQ(f.result(), std::make_tuple(6, -1, std::string("var"), std::string("tup")));
  const char* cstr = "c string";
  std::string_view view = "a view";
  auto g = pool.submit([](std::string a, std::string b) { return a + "|" + b; }, cstr, view);
  EXPECT_EQ(g.result(), "c string|a view");
}

namespace {
// Refuses to be written: what a pickling error is in Python.
struct Unsendable {
  template <class Archive>
  void serialize(Archive&) {
    throw std::length_error("Unsendable cannot be written");
  }
};
int takes_unsendable(Unsendable) {
  return 0;
}
// Written fine by the worker; reading it back in the parent throws.
struct Unreadable {
  int v = 0;
  template <class Archive>
  void save(Archive& ar) const {
    ar(v);
  }
  template <class Archive>
  void load(Archive& ar) {
    ar(v);
    throw std::out_of_range("Unreadable cannot be read");
  }
};
Unreadable make_unreadable(int v) {
  return Unreadable{v};
}
}  // namespace

// Departure: Python sets a pickling error of an argument on the future (its
// feeder thread pickles); here arguments are written in submit(), so the
// error comes out of submit() and nothing is queued.
TEST_P(ProcessPoolBoth, an_argument_that_cannot_be_written_throws_from_submit) {
  Watchdog wd("argument serialise error");
  ProcessPoolExecutor pool(options(1));
  try {
    (void)pool.submit(takes_unsendable, Unsendable{});
    ADD_FAILURE() << "submit accepted an argument that cannot be written";
  } catch (const std::length_error& e) {
    EXPECT_STREQ(e.what(), "Unsendable cannot be written");
  }
  EXPECT_EQ(pool.submit(square, 4).result(), 16);
}

// Departure: Python breaks the whole pool when a result cannot be unpickled
// in its manager thread; here only that task's future fails.
TEST_P(ProcessPoolBoth, a_result_that_cannot_be_read_fails_only_its_future) {
  Watchdog wd("result decode error");
  ProcessPoolExecutor pool(options(1));
  Future<Unreadable> f = pool.submit(make_unreadable, 3);
  EXPECT_THROW((void)f.result(), std::out_of_range);
  EXPECT_EQ(pool.submit(square, 5).result(), 25);
}

// The worker program: static initializers run in a spawned worker, main()
// (and so every test body) does not; a forked worker is a copy of the parent.
TEST_P(ProcessPoolBoth, worker_runs_static_initializers_and_never_main) {
  Watchdog wd("static initializers");
  g_set_by_test = 42;
  ProcessPoolExecutor pool(options(1));
  EXPECT_EQ(pool.submit(static_greeting).result(), "hello from static initialisation");
  const int seen = pool.submit(read_set_by_test).result();
  EXPECT_EQ(seen, GetParam() == StartMethod::spawn ? 0 : 42);
  g_set_by_test = 0;
}

// Departure: Python 3.13's default start method on Linux is fork; spindle's
// is spawn, which never copies a process that has threads.
TEST(ProcessPool, default_start_method_is_spawn) {
  ProcessPoolExecutor pool;
  EXPECT_EQ(pool.start_method(), StartMethod::spawn);
  EXPECT_STREQ(spindle::to_string(StartMethod::spawn), "spawn");
  EXPECT_STREQ(spindle::to_string(StartMethod::fork), "fork");
}

// As in Python, the first submit() to a fork pool starts every worker; here
// it also returns only once they are forked.
TEST(ProcessPool, fork_pool_forks_every_worker_at_the_first_submit) {
  Watchdog wd("fork all at first submit");
  settle_before_fork();
  ProcessPoolExecutor pool(ProcessPoolOptions{.max_workers = 3, .start_method = StartMethod::fork});
  EXPECT_TRUE(pool.worker_pids().empty());
  Future<int> f = pool.submit(square, 2);
  EXPECT_EQ(pool.worker_pids().size(), 3u);
  EXPECT_EQ(f.result(), 4);
}

namespace {
// Prints without flushing: the worker flushes after the task.
void print_unflushed(std::string s) {
  std::printf("%s\n", s.c_str());
  std::cout << s << " (cout)\n";
}
}  // namespace

// Departure: a worker flushes its output after each task, before its result
// is sent, so what a task printed is out before its future completes
// (Python's worker flushes when its stream's buffer fills, or at exit).
TEST_P(ProcessPoolBoth, task_output_is_out_before_its_future_completes) {
  Watchdog wd("task output flushed");
  SharedDir dir;
  const std::string out_path = dir.path() + "/out";
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(out, 0);
  std::fflush(stdout);
  std::cout.flush();
  const int saved = ::dup(1);
  ASSERT_GE(saved, 0);
  ::dup2(out, 1);  // the workers, started below, inherit it as standard output
  std::string seen;
  {
    ProcessPoolExecutor pool(options(1));
    pool.submit(print_unflushed, std::string("printed in a worker")).result();
    std::ifstream in(out_path);
    seen.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ::dup2(saved, 1);
  ::close(saved);
  ::close(out);
  EXPECT_EQ(seen, "printed in a worker\nprinted in a worker (cout)\n");
}

// Done-callbacks run in the pool's manager thread, a spindle::Thread named
// "ProcessPoolExecutor-N_manager".
TEST(ProcessPool, callbacks_run_in_the_manager_thread) {
  Watchdog wd("manager thread");
  ProcessPoolExecutor pool(1);
  Future<int> f = pool.submit(square, 2);
  spindle::Lock lock;
  std::string name;
  f.result();
  Future<int> g = pool.submit(square, 3);
  std::atomic<bool> called{false};
  g.add_done_callback([&](Future<int>&) {
    std::scoped_lock guard(lock);
    name = spindle::current_thread().name();
    called = true;
  });
  g.result();
  wait_until([&] { return called.load(); });
  std::scoped_lock guard(lock);
  // The callback ran either in the manager (normally) or here, if g was done
  // before it was added.
  if (name != spindle::current_thread().name()) {
    EXPECT_EQ(name.rfind("ProcessPoolExecutor-", 0), 0u) << name;
    EXPECT_NE(name.find("_manager"), std::string::npos) << name;
  }
}

// ---------------------------------------------------------------------------
// map
// ---------------------------------------------------------------------------

// Python: map(fn, *iterables, chunksize=) yields results in input order;
// chunksize < 1 raises ValueError("chunksize must be >= 1.").
TEST_P(ProcessPoolBoth, C101_map_yields_results_in_input_order_for_any_chunksize) {
  Watchdog wd("map order");
  ProcessPoolExecutor pool(options(2));
  std::vector<int> in(50);
  std::iota(in.begin(), in.end(), 0);
  for (long chunk : {1L, 3L, 7L, 50L, 100L}) {
    std::vector<int> out;
    for (int r : pool.map(square, in, spindle::ProcessMapOptions{.chunksize = chunk}))
      out.push_back(r);
    ASSERT_EQ(out.size(), in.size()) << "chunksize " << chunk;
    for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], in[i] * in[i]);
  }
  EXPECT_THROW((void)pool.map(square, in, spindle::ProcessMapOptions{.chunksize = 0}),
               spindle::ValueError);
  try {
    (void)pool.map(square, in, spindle::ProcessMapOptions{.chunksize = -1});
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "chunksize must be >= 1.");
  }
}

TEST(ProcessPool, map_zips_ranges_and_stops_at_the_shortest) {
  Watchdog wd("map zip");
  ProcessPoolExecutor pool(2);
  std::vector<int> a{1, 2, 3, 4};
  std::vector<std::string> b{"x", "y", "z"};
  std::vector<std::string> out;
  for (auto& s : pool.map([](int n, std::string s) { return std::string(n, s[0]); }, a, b))
    out.push_back(s);
  EXPECT_EQ(out, (std::vector<std::string>{"x", "yy", "zzz"}));
  int count = 0;
  for ([[maybe_unused]] int r : pool.map(square, std::vector<int>{})) ++count;
  EXPECT_EQ(count, 0);
}

// Python's _process_chunk: an exception ends its chunk; the result iterator
// raises it when that chunk is reached, after the earlier results.
TEST(ProcessPool, map_rethrows_a_task_exception_when_its_chunk_is_reached) {
  Watchdog wd("map exception");
  ProcessPoolExecutor pool(2);
  std::vector<int> in{1, 2, 3, 4, 5, 6};
  auto results = pool.map(
      [](int x) {
        if (x == 5) throw std::invalid_argument("five");
        return x;
      },
      in, spindle::ProcessMapOptions{.chunksize = 2});
  std::vector<int> got;
  try {
    for (int r : results) got.push_back(r);
    ADD_FAILURE() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "five");
  }
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4}));
}

// C101: TimeoutError when a result is not ready by the map's deadline.
TEST(ProcessPool, C101_map_timeout_throws_TimeoutError) {
  Watchdog wd("map timeout");
  ProcessPoolExecutor pool(1);
  auto results =
      pool.map(sleep_then_pid, std::vector<int>{300}, spindle::ProcessMapOptions{.timeout = 1ms});
  EXPECT_THROW((void)results.begin(), spindle::TimeoutError);
}

// CPython's test_map_submits_without_iteration (bpo-11777): a map whose
// results are never iterated still runs every task.
TEST(ProcessPool, C101_map_submits_without_iteration) {
  Watchdog wd("map without iteration");
  SharedDir dir;
  {
    ProcessPoolExecutor pool(1);
    {
      auto results = pool.map(mark, std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
                              std::vector<std::string>(10, dir.path()),
                              spindle::ProcessMapOptions{.chunksize = 3});
    }  // dropped without begin()
  }    // shutdown(wait=true)
  for (int x = 0; x < 10; ++x) EXPECT_TRUE(dir.ran(x)) << x;
}

// Python's map generator: once started, dropping it cancels the chunks not
// yet delivered (here those not yet dispatched to the worker).
TEST(ProcessPool, C101_dropping_a_started_range_cancels_undelivered) {
  Watchdog wd("map drop started");
  SharedDir dir;
  ProcessPoolExecutor pool(1);
  int gate = -1;
  {
    auto results = pool.map(
        [](int x, std::string d) {
          // Task 0 takes 50 ms, so the pool sends this worker one task at
          // a time; task 1 waits at the gate.
          if (x == 0) sleep_ms(50);
          if (x == 1) wait_at_gate(d);
          return mark(x, d);
        },
        std::vector<int>{0, 1, 2, 3}, std::vector<std::string>(4, dir.path()));
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    gate = dir.wait_for_gated_task();  // task 1 is running
    ASSERT_GE(gate, 0);
  }  // dropped after delivering one result: 2 and 3 are cancelled
  SharedDir::release(gate);
  pool.shutdown();
  EXPECT_TRUE(dir.ran(0));
  EXPECT_TRUE(dir.ran(1));
  EXPECT_FALSE(dir.ran(2));
  EXPECT_FALSE(dir.ran(3));
}

// Python's generator: an exception (here TimeoutError) leaves it, its
// finally cancels what was not delivered, and it is exhausted.
TEST(ProcessPool, C101_an_exception_ends_the_range_and_cancels_the_rest_at_once) {
  Watchdog wd("map exception ends range");
  SharedDir dir;
  ProcessPoolExecutor pool(1);
  Future<void> blocker = pool.submit(wait_at_gate, dir.path());
  const int gate = dir.wait_for_gated_task();
  ASSERT_GE(gate, 0);
  auto results = pool.map(mark, std::vector<int>{1, 2, 3}, std::vector<std::string>(3, dir.path()),
                          spindle::ProcessMapOptions{.timeout = 0s});
  EXPECT_THROW((void)results.begin(), spindle::TimeoutError);
  SharedDir::release(gate);
  pool.shutdown();  // the range is still alive: its tasks were cancelled by the exception
  blocker.result();
  for (int x = 1; x <= 3; ++x) EXPECT_FALSE(dir.ran(x)) << x;
}

TEST(ProcessPool, C101_iteration_after_a_task_exception_reaches_the_end) {
  Watchdog wd("map after exception");
  ProcessPoolExecutor pool(1);
  auto results = pool.map(
      [](int x) {
        if (x == 1) throw std::domain_error("one");
        return x;
      },
      std::vector<int>{0, 1, 2, 3});
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  EXPECT_THROW(++it, std::domain_error);
  ++it;
  EXPECT_TRUE(it == std::default_sentinel);
}

// ---------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------

namespace {
template <class E>
void expect_same_type(ProcessPoolExecutor& pool, int which, const char* what) {
  Future<int> f = pool.submit(
      [](int w) -> int {
        switch (w) {
          case 0:
            throw std::runtime_error("runtime");
          case 1:
            throw std::invalid_argument("invalid");
          case 2:
            throw std::out_of_range("range");
          case 3:
            throw std::logic_error("logic");
          case 4:
            throw std::bad_alloc();
          case 5:
            throw std::system_error(ENOENT, std::generic_category(), "opening x");
          case 6:
            throw spindle::ValueError("value");
          case 7:
            throw spindle::TimeoutError("timeout");
          case 8:
            throw std::overflow_error("overflow");
          case 9:
            throw spindle::BrokenProcessPool("nested broken");
          default:
            return w;
        }
      },
      which);
  try {
    (void)f.result();
    ADD_FAILURE() << "case " << which << " did not throw";
  } catch (const E& e) {
    EXPECT_EQ(typeid(e), typeid(E)) << "case " << which;
    if (what != nullptr) {
      EXPECT_STREQ(e.what(), what) << "case " << which;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "case " << which << " arrived as " << typeid(e).name() << ": " << e.what();
  }
}
}  // namespace

// Python pickles a task's exception: it arrives with its own class. Here:
// spindle's and the standard library's types keep their type and what().
TEST(ProcessPool, standard_and_spindle_exceptions_keep_their_type) {
  Watchdog wd("exception types");
  ProcessPoolExecutor pool(1);
  expect_same_type<std::runtime_error>(pool, 0, "runtime");
  expect_same_type<std::invalid_argument>(pool, 1, "invalid");
  expect_same_type<std::out_of_range>(pool, 2, "range");
  expect_same_type<std::logic_error>(pool, 3, "logic");
  expect_same_type<std::bad_alloc>(pool, 4, nullptr);
  expect_same_type<std::system_error>(pool, 5, nullptr);
  expect_same_type<spindle::ValueError>(pool, 6, "value");
  expect_same_type<spindle::TimeoutError>(pool, 7, "timeout");
  expect_same_type<std::overflow_error>(pool, 8, "overflow");
  expect_same_type<BrokenProcessPool>(pool, 9, "nested broken");
  auto f = pool.submit(
      []() -> int { throw std::system_error(ENOENT, std::generic_category(), "opening x"); });
  try {
    (void)f.result();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(std::string(e.what()).rfind("opening x", 0), 0u) << e.what();
  }
  // The pool is not broken by exceptions.
  EXPECT_EQ(pool.submit(square, 4).result(), 16);
}

// Python chains a _RemoteTraceback; other types arrive as RemoteError with
// the original type's name and message.
TEST(ProcessPool, other_exception_types_arrive_as_RemoteError_naming_the_type) {
  Watchdog wd("RemoteError");
  ProcessPoolExecutor pool(1);
  auto f = pool.submit([]() -> int { throw CustomError(); });
  try {
    (void)f.result();
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RemoteError& e) {
    EXPECT_NE(e.type_name().find("CustomError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.message(), "custom failure");
    EXPECT_NE(e.pid(), ::getpid());
    EXPECT_NE(std::string(e.what()).find("custom failure"), std::string::npos);
  }
  auto g = pool.submit([]() -> int { throw 42; });
  try {
    (void)g.result();
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.message(), "");
  }
  // RemoteError is a RuntimeError, so generic handlers still catch it.
  auto h = pool.submit([]() -> int { throw CustomError(); });
  EXPECT_THROW((void)h.result(), spindle::RuntimeError);
}

// ---------------------------------------------------------------------------
// Workers that die
// ---------------------------------------------------------------------------

namespace {
int segfault(int) {
  volatile int* p = nullptr;
  *p = 1;  // NOLINT: the point of the test
  return 0;
}
int exit_in_task(int code) {
  std::exit(code);
}
}  // namespace

// Python: a worker that dies abruptly breaks the pool; pending futures fail
// with BrokenProcessPool and so does every later submit. Nothing hangs.
TEST_P(ProcessPoolBoth, segfaulting_task_breaks_the_pool_and_names_the_cause) {
  Watchdog wd("segfault");
  ProcessPoolExecutor pool(options(1));
  EXPECT_EQ(pool.submit(square, 3).result(), 9);
  Future<int> crash = pool.submit(segfault, 0);
  // Queued behind it; the pool may break before all are submitted.
  std::vector<Future<int>> queued;
  try {
    for (int i = 0; i < 5; ++i) queued.push_back(pool.submit(sleep_then_pid, 1));
  } catch (const BrokenProcessPool&) {
  }
  const std::string msg = broken_message(crash);
  EXPECT_NE(msg.find("terminated abruptly"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(pid "), std::string::npos) << msg;
  // A plain build dies of SIGSEGV; under a sanitizer the runtime reports the
  // fault and aborts or exits.
  EXPECT_TRUE(msg.find("signal 11 (Segmentation fault)") != std::string::npos ||
              spindle_test::scaled(10) != 10)
      << msg;
  for (auto& f : queued) (void)broken_message(f);
  EXPECT_THROW((void)pool.submit(square, 1), BrokenProcessPool);
  try {
    (void)pool.submit(square, 1);
  } catch (const BrokenProcessPool& e) {
    EXPECT_NE(std::string(e.what()).find("not usable anymore"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(pool.worker_pids().empty());
}

TEST_P(ProcessPoolBoth, task_that_calls_std_exit_breaks_the_pool) {
  Watchdog wd("std::exit");
  ProcessPoolExecutor pool(options(1));
  Future<int> f = pool.submit(exit_in_task, 3);
  const std::string msg = broken_message(f);
  EXPECT_NE(msg.find("exited with status"), std::string::npos) << msg;
  EXPECT_NE(msg.find("while running a task"), std::string::npos) << msg;
  EXPECT_THROW((void)pool.submit(square, 1), BrokenProcessPool);
}

// Python breaks the pool when any worker dies, idle or not.
TEST(ProcessPool, worker_killed_from_outside_while_idle_breaks_the_pool) {
  Watchdog wd("killed idle");
  ProcessPoolExecutor pool(1);
  EXPECT_EQ(pool.submit(square, 2).result(), 4);
  const std::vector<long> pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(::kill(static_cast<pid_t>(pids[0]), SIGKILL), 0);
  // Either the manager has seen the death already (submit throws) or the
  // next task fails with it.
  try {
    Future<int> f = pool.submit(square, 3);
    const std::string msg = broken_message(f);
    EXPECT_NE(msg.find("signal 9 (Killed)"), std::string::npos) << msg;
  } catch (const BrokenProcessPool& e) {
    EXPECT_NE(std::string(e.what()).find("signal 9 (Killed) while idle"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)pool.submit(square, 1), BrokenProcessPool);
}

TEST(ProcessPool, worker_killed_from_outside_while_busy_fails_its_future) {
  Watchdog wd("killed busy");
  ProcessPoolExecutor pool(2);
  Future<int> busy = pool.submit(wait_forever, 0);
  wait_until([&] { return busy.running(); });  // dispatched to a worker
  std::vector<long> pids = pool.worker_pids();
  ASSERT_FALSE(pids.empty());
  for (long pid : pids) ::kill(static_cast<pid_t>(pid), SIGKILL);
  const std::string msg = broken_message(busy);
  EXPECT_NE(msg.find("signal 9 (Killed)"), std::string::npos) << msg;
  EXPECT_THROW((void)pool.submit(square, 1), BrokenProcessPool);
}

// C94, Python: an initializer that raises breaks the pool (BrokenProcessPool).
TEST_P(ProcessPoolBoth, C94_initializer_that_throws_breaks_the_pool) {
  Watchdog wd("initializer throws");
  ProcessPoolOptions opts = options(2);
  opts.initializer = {failing_initializer};
  ProcessPoolExecutor pool(opts);
  std::vector<Future<int>> fs;
  fs.push_back(pool.submit(square, 0));  // queued before any worker starts
  for (int i = 1; i < 4; ++i) {
    try {
      fs.push_back(pool.submit(square, i));
    } catch (const BrokenProcessPool&) {
      break;  // the pool may already be broken (as in Python)
    }
  }
  for (auto& f : fs) {
    const std::string msg = broken_message(f);
    EXPECT_NE(msg.find("initializer"), std::string::npos) << msg;
  }
  try {
    (void)pool.submit(square, 1);
    ADD_FAILURE() << "submit on a broken pool";
  } catch (const BrokenProcessPool& e) {
    EXPECT_NE(std::string(e.what()).find("initializer refuses"), std::string::npos) << e.what();
  }
}

// Python: initializer(*initargs) runs first in every worker.
TEST_P(ProcessPoolBoth, initializer_runs_first_in_every_worker_with_its_arguments) {
  Watchdog wd("initializer");
  ProcessPoolOptions opts = options(2);
  opts.initializer = {set_label, "worker", 7};
  ProcessPoolExecutor pool(opts);
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(pool.submit(label));
  for (auto& f : fs) EXPECT_EQ(f.result(), "worker#7");
}

// ---------------------------------------------------------------------------
// max_tasks_per_child
// ---------------------------------------------------------------------------

// Python 3.11+: max_tasks_per_child >= 1, not with "fork". cpython
// gh-115634: Python hung when a worker exited at its quota with tasks
// queued; here every queued task runs, each in a fresh worker.
TEST(ProcessPool, max_tasks_per_child_1_runs_100_queued_tasks_each_in_a_fresh_worker) {
  Watchdog wd("max_tasks_per_child", 300s);
  const int n = static_cast<int>(spindle_test::scaled(100) < 100 ? 30 : 100);
  ProcessPoolExecutor pool(ProcessPoolOptions{.max_workers = 2, .max_tasks_per_child = 1});
  std::vector<Future<std::uint64_t>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(pool.submit(process_token));
  std::set<std::uint64_t> workers;
  for (auto& f : fs) workers.insert(f.result());
  EXPECT_EQ(static_cast<int>(workers.size()), n);
  EXPECT_LE(static_cast<int>(pool.worker_pids().size()), 2);
}

TEST(ProcessPool, max_tasks_per_child_is_validated) {
  EXPECT_THROW(ProcessPoolExecutor(ProcessPoolOptions{.max_tasks_per_child = 0}),
               spindle::ValueError);
  try {
    ProcessPoolExecutor p(ProcessPoolOptions{.max_tasks_per_child = -3});
  } catch (const spindle::ValueError& e) {
    EXPECT_STREQ(e.what(), "max_tasks_per_child must be >= 1");
  }
  EXPECT_THROW(ProcessPoolExecutor(
                   ProcessPoolOptions{.start_method = StartMethod::fork, .max_tasks_per_child = 2}),
               spindle::ValueError);
}

TEST(ProcessPool, max_tasks_per_child_3_reuses_each_worker_three_times) {
  Watchdog wd("max_tasks_per_child 3");
  ProcessPoolExecutor pool(ProcessPoolOptions{.max_workers = 1, .max_tasks_per_child = 3});
  std::vector<Future<std::uint64_t>> fs;
  for (int i = 0; i < 9; ++i) fs.push_back(pool.submit(process_token));
  std::map<std::uint64_t, int> per_worker;
  for (auto& f : fs) ++per_worker[f.result()];
  EXPECT_EQ(per_worker.size(), 3u);
  for (auto& [token, count] : per_worker) EXPECT_EQ(count, 3) << token;
}

// ---------------------------------------------------------------------------
// Volume
// ---------------------------------------------------------------------------

TEST_P(ProcessPoolBoth, tiny_tasks_100k_sum_exactly) {
  Watchdog wd("100k tiny tasks", 300s);
  const long n = spindle_test::scaled(100'000);
  ProcessPoolExecutor pool(options(2));
  std::vector<Future<long>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) fs.push_back(pool.submit(identity, i));
  long sum = 0;
  for (auto& f : fs) sum += f.result();
  EXPECT_EQ(sum, n * (n - 1) / 2);
}

// 50 MB (5 MB under sanitizers, which instrument every byte copied) each
// way: the payloads travel through memfds, not the socket.
TEST_P(ProcessPoolBoth, fifty_megabyte_argument_and_result_round_trip) {
  Watchdog wd("50 MB", 300s);
  ProcessPoolExecutor pool(options(1));
  const std::size_t mb = static_cast<std::size_t>(spindle_test::scaled(50));
  std::vector<unsigned char> big(mb << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<unsigned char>(i * 31 + 7);
  auto f = pool.submit(
      [](std::vector<unsigned char> v) {
        for (auto& b : v) b = static_cast<unsigned char>(b + 1);
        return v;
      },
      big);
  const std::vector<unsigned char>& out = f.result();
  ASSERT_EQ(out.size(), big.size());
  bool same = true;
  for (std::size_t i = 0; i < big.size(); ++i)
    same = same && out[i] == static_cast<unsigned char>(big[i] + 1);
  EXPECT_TRUE(same);
  // A large string argument with a small result, and the reverse.
  std::string text((mb / 2) << 20, 'a');
  EXPECT_EQ(pool.submit([](std::string s) { return s.size(); }, text).result(), text.size());
  EXPECT_EQ(
      pool.submit([](std::size_t n) { return std::string(n, 'z'); }, mb << 20).result().size(),
      mb << 20);
}

// ---------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------

// C90, Python: max_workers <= 0 raises ValueError("max_workers must be
// greater than 0"); the default is os.process_cpu_count().
TEST(ProcessPool, C90_max_workers_must_be_greater_than_zero) {
  for (int bad : {0, -1}) {
    try {
      ProcessPoolExecutor p(bad);
      ADD_FAILURE() << bad;
    } catch (const spindle::ValueError& e) {
      EXPECT_STREQ(e.what(), "max_workers must be greater than 0");
    }
  }
  ProcessPoolExecutor d;
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(d.max_workers(), CPU_COUNT(&set));
  EXPECT_EQ(d.start_method(), StartMethod::spawn);
}

// C91, C92: submit after shutdown raises RuntimeError; shutdown twice is fine.
TEST(ProcessPool, C91_C92_submit_after_shutdown_throws_and_shutdown_twice_is_allowed) {
  ProcessPoolExecutor pool(1);
  EXPECT_EQ(pool.submit(square, 2).result(), 4);
  pool.shutdown();
  pool.shutdown();
  try {
    (void)pool.submit(square, 1);
    ADD_FAILURE();
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
  EXPECT_TRUE(pool.worker_pids().empty());
}

// cpython gh-119592: shutdown(wait=False) must not strand submitted work.
TEST_P(ProcessPoolBoth, shutdown_without_wait_still_completes_every_submitted_task) {
  Watchdog wd("shutdown(wait=false)");
  std::vector<Future<int>> fs;
  {
    ProcessPoolExecutor pool(options(2));
    for (int i = 0; i < 20; ++i) fs.push_back(pool.submit(square, i));
    pool.shutdown(false);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i * i);
  }
}

// C93: shutdown(cancel_futures=True) cancels what has not started; what
// runs finishes.
TEST(ProcessPool, C93_shutdown_cancel_futures_cancels_what_has_not_started) {
  Watchdog wd("cancel_futures");
  ProcessPoolExecutor pool(1);
  Future<int> running = pool.submit(sleep_then_pid, 300);
  wait_until([&] { return running.running(); });
  std::vector<Future<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(pool.submit(square, i));
  pool.shutdown(true, true);
  EXPECT_GT(running.result(), 0);
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
}

// C102: the destructor waits for the work.
TEST(ProcessPool, C102_destructor_waits_for_submitted_work) {
  Watchdog wd("destructor");
  std::vector<Future<int>> fs;
  {
    ProcessPoolExecutor pool(2);
    for (int i = 0; i < 8; ++i) fs.push_back(pool.submit(sleep_then_pid, 20));
  }
  for (auto& f : fs) EXPECT_TRUE(f.done());
}

// Python 3.14: terminate_workers()/kill_workers() shut down with
// cancel_futures and signal every live worker; running futures fail with
// BrokenProcessPool.
TEST(ProcessPool, terminate_workers_fails_running_futures_and_cancels_queued_ones) {
  Watchdog wd("terminate_workers");
  ProcessPoolExecutor pool(1);
  Future<int> busy = pool.submit(wait_forever, 0);
  wait_until([&] { return busy.running(); });
  std::vector<Future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit(square, i));
  pool.terminate_workers();
  const std::string msg = broken_message(busy);
  EXPECT_NE(msg.find("signal 15 (Terminated)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("terminate_workers()"), std::string::npos) << msg;
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
  EXPECT_THROW((void)pool.submit(square, 1), spindle::RuntimeError);
  pool.shutdown();
  EXPECT_TRUE(pool.worker_pids().empty());
}

TEST(ProcessPool, kill_workers_sends_sigkill) {
  Watchdog wd("kill_workers");
  ProcessPoolExecutor pool(2);
  Future<int> busy = pool.submit(wait_forever, 0);
  wait_until([&] { return busy.running(); });
  pool.kill_workers();
  const std::string msg = broken_message(busy);
  EXPECT_NE(msg.find("signal 9 (Killed)"), std::string::npos) << msg;
  pool.shutdown();
  EXPECT_TRUE(pool.worker_pids().empty());
}

TEST(ProcessPool, terminate_workers_on_an_idle_or_unused_pool_is_harmless) {
  Watchdog wd("terminate idle");
  {
    ProcessPoolExecutor unused(2);
    unused.terminate_workers();
  }
  ProcessPoolExecutor pool(1);
  EXPECT_EQ(pool.submit(square, 5).result(), 25);
  pool.kill_workers();
  pool.shutdown();
  EXPECT_TRUE(pool.worker_pids().empty());
}

// ---------------------------------------------------------------------------
// Resources: zombies, descriptors, orphans
// ---------------------------------------------------------------------------

// Every worker is reaped and every descriptor closed: 1,000 pools later the
// process has no child (running or zombie) and as many descriptors as before.
TEST(ProcessPool, no_zombies_and_no_leaked_descriptors_after_1000_pools) {
  Watchdog wd("1000 pools", 600s);
  const int cycles = static_cast<int>(spindle_test::scaled(1000));
  const int fds_before = count_open_fds();
  for (int i = 0; i < cycles; ++i) {
    if (i % 2 == 1) settle_before_fork();
    ProcessPoolExecutor pool(ProcessPoolOptions{
        .max_workers = 1 + i % 2, .start_method = i % 2 ? StartMethod::fork : StartMethod::spawn});
    if (i % 10 == 9) continue;  // some pools never start a worker
    Future<int> f = pool.submit(square, i);
    ASSERT_EQ(f.result(), i * i);
    if (i % 10 == 3) pool.kill_workers();
  }
  EXPECT_TRUE(no_children_left());
  EXPECT_EQ(count_open_fds(), fds_before);
}

#ifdef SPINDLE_PROCESS_HELPER
namespace {
// Runs the helper program with `mode`; returns its first line of output and
// leaves its pid in `pid`.
std::string run_helper_line(const char* mode, pid_t& pid) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  std::string path = SPINDLE_PROCESS_HELPER;
  std::string m = mode;
  char* argv[] = {path.data(), m.data(), nullptr};
  const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  std::string line;
  if (rc == 0) {
    char c;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
  }
  ::close(fds[0]);
  return line;
}
}  // namespace

// A worker dies with its parent (PR_SET_PDEATHSIG), even in the middle of a
// task: the helper's task prints the worker's pid and never returns; once
// the line is here, the helper is killed with SIGKILL. This process, a child
// subreaper, inherits the orphaned worker and sees it killed too.
TEST(ProcessPool, workers_die_when_their_parent_dies) {
  Watchdog wd("orphans");
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  pid_t helper = -1;
  const std::string line = run_helper_line("orphan", helper);
  ASSERT_GT(helper, 0);
  ::kill(helper, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(helper, &status, 0), helper);
  const pid_t worker = static_cast<pid_t>(std::atol(line.c_str()));
  ASSERT_GT(worker, 0) << "helper printed: " << line;
  ASSERT_EQ(::waitpid(worker, &status, 0), worker);  // re-parented to us
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_TRUE(no_children_left());
}
#endif
