// The spindle tour: every program in the five threading tutorials listed in
// docs/tour.md, rewritten with spindle and run section by section.
//
//   tour                 run every section (under 30 s on 2 cores)
//   tour --list          list the sections
//   tour NAME...         run only the named sections (or every section of seed N: "seed-001")
//   tour --quick         shorter sleeps and smaller sizes
//   tour --check         verify each section's outcome; exit 1 naming failed checks
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include "tour.hpp"

extern char** environ;

namespace tour {
namespace {

Options g_options;
std::vector<std::string> g_failures;
std::string g_current = "-";

std::map<std::string, ChildFn>& children() {
  static std::map<std::string, ChildFn> all;
  return all;
}

// A run that hangs is a bug the tour must report, not wait on forever.
void on_alarm(int) {
  static const char msg[] = "\ntour: a section did not finish within the time limit; aborting\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  std::_Exit(2);
}

std::string seed_label(int seed) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03d", seed);
  return buf;
}

void print_list() {
  std::cout << "Sections of the tour (seed = the tutorial it comes from, see docs/tour.md):\n";
  for (const auto& s : sections())
    std::cout << "  " << s.name << std::string(s.name.size() < 28 ? 28 - s.name.size() : 1, ' ')
              << "seed " << seed_label(s.seed) << "  " << s.title << "\n";
}

bool run_section(const Section& s) {
  std::cout << "\n=== [seed " << seed_label(s.seed) << "] " << s.name << ": " << s.title << " ===\n"
            << std::flush;
  g_current = s.name;
  Stopwatch watch;
  std::size_t failures_before = g_failures.size();
  try {
    s.fn();
  } catch (const std::exception& e) {
    check(false, std::string("the section finished without an exception (got: ") + e.what() + ")");
  }
  std::cout << "  (" << watch.seconds() << " s)\n" << std::flush;
  return g_failures.size() == failures_before;
}

int usage(const char* why) {
  std::cerr << "tour: " << why << "\nusage: tour [--quick] [--check] [--list] [SECTION...]\n";
  return 2;
}

}  // namespace

const Options& options() {
  return g_options;
}
double time_scale() {
  return g_options.quick ? 0.02 : 0.1;
}

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned hw = std::thread::hardware_concurrency();
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    auto n = static_cast<unsigned>(CPU_COUNT(&set));
    return hw ? std::min(hw, n) : n;
  }
  return hw;
}

double load_average() {
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  return load;
}

namespace detail {
spindle::Lock& print_lock() {
  static spindle::Lock lock;
  return lock;
}
void emit(std::string_view prefix, const std::string& line) {
  std::scoped_lock guard(print_lock());
  std::cout << prefix << line << '\n' << std::flush;
}
}  // namespace detail

bool check(bool ok, const std::string& what) {
  if (!g_options.check) return ok;
  if (ok) {
    detail::emit("  [ok] ", what);
  } else {
    detail::emit("  [FAILED] ", what);
    std::scoped_lock guard(detail::print_lock());
    g_failures.push_back(g_current + ": " + what);
  }
  return ok;
}

std::vector<Section>& sections() {
  static std::vector<Section> all;
  return all;
}

Register::Register(const char* name, int seed, const char* title, SectionFn fn) {
  std::string dashed = name;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  auto& all = sections();
  // Keep seed order; within a seed, the order the file declares them.
  auto at = std::find_if(all.begin(), all.end(), [&](const Section& s) { return s.seed > seed; });
  all.insert(at, Section{dashed, seed, title, fn});
}

RegisterChild::RegisterChild(const char* name, ChildFn fn) {
  children()[name] = fn;
}

ChildResult run_child(const std::string& name) {
  ChildResult result;
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return result;
  self[n] = '\0';
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  std::string child_flag = "__child";
  std::string quick_flag = "--quick";
  std::vector<char*> argv{self, child_flag.data(), const_cast<char*>(name.c_str())};
  if (g_options.quick) argv.push_back(quick_flag.data());
  argv.push_back(nullptr);
  std::cout << std::flush;
  Stopwatch watch;
  pid_t pid = -1;
  int rc = posix_spawn(&pid, self, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return result;
  }
  char buf[4096];
  ssize_t got;
  while ((got = ::read(fds[0], buf, sizeof buf)) > 0)
    result.output.append(buf, static_cast<std::size_t>(got));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.seconds = watch.seconds();
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace tour

int main(int argc, char** argv) {
  using namespace tour;
  std::vector<std::string> wanted;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick")
      g_options.quick = true;
    else if (arg == "--check")
      g_options.check = true;
    else if (arg == "--list")
      list = true;
    else if (arg == "--help" || arg == "-h") {
      std::cout << "tour: the threading tutorials' programs (docs/tour.md), run with spindle\n"
                << "usage: tour [--quick] [--check] [--list] [SECTION...]\n"
                << "  SECTION     run only these sections (see --list); seed-000 ... seed-004 run "
                   "one tutorial\n"
                << "  --list      list the sections and the seed each comes from\n"
                << "  --quick     shorter sleeps and sizes (what the test suite runs)\n"
                << "  --check     verify each section's outcome; exit 1 naming the failed checks\n";
      return 0;
    } else if (arg == "__child" && i + 1 < argc) {
      // A helper process started by run_child(); see RegisterChild.
      for (int j = i + 2; j < argc; ++j)
        if (std::string(argv[j]) == "--quick") g_options.quick = true;
      auto it = children().find(argv[i + 1]);
      return it == children().end() ? 2 : it->second();
    } else if (!arg.empty() && arg[0] == '-')
      return usage(("unknown option " + arg).c_str());
    else
      wanted.push_back(arg);
  }
  if (list) {
    print_list();
    return 0;
  }

  std::vector<const Section*> run;
  for (const auto& name : wanted) {
    bool found = false;
    for (const auto& s : sections())
      if (s.name == name || name == "seed-" + seed_label(s.seed)) {
        run.push_back(&s);
        found = true;
      }
    if (!found) return usage(("no section named " + name + " (see --list)").c_str());
  }
  if (wanted.empty())
    for (const auto& s : sections()) run.push_back(&s);

  std::signal(SIGALRM, on_alarm);
  ::alarm(240);
  std::signal(SIGPIPE, SIG_IGN);

  std::cout
      << "spindle tour: " << run.size() << " section(s) from the tutorials of docs/tour.md"
      << (g_options.quick ? " (quick mode)" : "") << "\n"
      << "Each section runs the tutorial's program with spindle; lines indented by four\n"
      << "spaces are the program's own output, lines starting with '->' are the tour's notes.\n";
  std::cout << std::fixed << std::setprecision(2);
  Stopwatch total;
  for (const auto* s : run) run_section(*s);
  std::cout << "\nTour finished: " << run.size() << " section(s) in " << total.seconds() << " s";
  if (g_options.check) {
    if (g_failures.empty()) {
      std::cout << ", every check passed.\n";
    } else {
      std::cout << ", " << g_failures.size() << " check(s) FAILED:\n";
      for (const auto& f : g_failures) std::cout << "  " << f << "\n";
      return 1;
    }
  } else {
    std::cout << ".\n";
  }
  return 0;
}
