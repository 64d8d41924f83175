// ProcessPoolExecutor: the parent side. One manager thread per pool owns the
// workers (a socket and a pidfd each), dispatches queued tasks, completes
// futures with the results, notices deaths and reaps every worker. submit()
// and shutdown() talk to it through a queue under a spindle::Lock and an
// eventfd that it polls beside the sockets and pidfds.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>  // std::cout is constructed before the worker hook below runs
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "process_internal.hpp"
#include "spindle/event.hpp"
#include "spindle/process.hpp"
#include "spindle/thread.hpp"

namespace spindle {
namespace detail::process {

namespace {

int default_max_workers() {
  cpu_set_t set;
  int cpus = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  return cpus > 0 ? cpus : 1;
}

int pidfd_open(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
int pidfd_send_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Reaps the worker behind `pidfd` (blocking until it has exited).
siginfo_t reap(int pidfd) noexcept {
  siginfo_t si{};
  int r;
  do {
    r = ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED);
  } while (r != 0 && errno == EINTR);
  if (r != 0) si.si_code = 0;  // ECHILD: someone else reaped it (SIGCHLD ignored)
  return si;
}

std::string describe_death(const siginfo_t& si) {
  char buf[128];
  if (si.si_code == CLD_EXITED) {
    std::snprintf(buf, sizeof buf, "exited with status %d", si.si_status);
  } else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
    const char* d = ::sigdescr_np(si.si_status);
    std::snprintf(buf, sizeof buf, "was killed by signal %d (%s)", si.si_status,
                  d != nullptr ? d : "unknown signal");
  } else {
    std::snprintf(buf, sizeof buf, "ended (its exit status was collected elsewhere)");
  }
  return buf;
}

// argv[0] for spawned workers: the program's own, so that ps shows it.
const std::string& program_name() {
  static const std::string name = [] {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string first;
    std::getline(in, first, '\0');
    return first.empty() ? std::string("spindle-process-worker") : first;
  }();
  return name;
}

// Pools alive in this process: when the last one goes, so do the kept
// shared-memory buffers.
std::atomic<int> g_live_pools{0};

constexpr const char* kFutureBroken =
    "A process in the process pool was terminated abruptly while the future was running or "
    "pending";
constexpr const char* kSubmitBroken =
    "A child process terminated abruptly, the process pool is not usable anymore";
constexpr const char* kInitBroken =
    "A process initializer failed, the process pool is not usable anymore";

}  // namespace

class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  PoolCore(int max_workers, StartMethod method, std::shared_ptr<const std::string> init,
           long max_tasks, std::string name);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  void submit(Task t);
  void shutdown(bool wait, bool cancel_futures);
  void close_for_exit();
  void force(int sig);
  std::vector<long> pids() const;
  int max_workers() const noexcept { return max_workers_; }
  StartMethod method() const noexcept { return method_; }

 private:
  struct Worker {
    pid_t pid = -1;
    int sock = -1;
    int pidfd = -1;
    Reader in;
    Writer out;
    std::deque<std::unique_ptr<Completion>> inflight;  // in the order sent
    long sent = 0;
    bool readable = true;   // until end of stream
    bool writable = true;   // until a write fails
    bool retiring = false;  // it got its max_tasks_per_child tasks
    bool released = false;  // we closed its socket: it exits
    std::string init_failure;
    ~Worker() {
      if (sock >= 0) ::close(sock);
      if (pidfd >= 0) ::close(pidfd);
    }
  };

  void manager_main();
  void start_manager_locked();
  void dispatch();
  Worker* pick_worker();
  Worker* spawn_worker();
  pid_t start_process(int child_sock);
  pid_t fork_process(int child_sock);
  pid_t spawn_process(int child_sock);
  void write_worker(Worker& w);
  void wait_events();
  void read_worker(Worker& w);
  void handle_frame(Worker& w, FrameView& f);
  void on_exit(Worker& w);
  void forget(Worker& w);
  void break_pool(const std::string& cause, bool init_failure);
  void release_all();
  std::size_t window() const noexcept;
  bool can_take(const Worker& w) const noexcept {
    return w.readable && w.writable && !w.retiring && !w.released && w.init_failure.empty() &&
           w.inflight.size() < window();
  }
  void wake() noexcept {
    const std::uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }

  const int max_workers_;
  const StartMethod method_;
  const std::shared_ptr<const std::string> init_;
  const long max_tasks_;
  const std::string name_;
  const int wake_fd_;

  // Shared with submit()/shutdown(), guarded by lock_.
  mutable Lock lock_;
  std::deque<Task> queue_;
  std::uint64_t gen_ = 0;  // bumped by every change the manager must look at
  bool shutdown_ = false;
  bool exiting_ = false;
  bool cancel_pending_ = false;
  int forced_signal_ = 0;
  std::string broken_;  // non-empty: the pool is broken; submit throws this
  std::shared_ptr<Thread> manager_;
  bool fork_all_asked_ = false;              // fork: the first submit asked for every worker
  bool fork_all_ = false;                    // ... and the manager has not started them yet
  Event forks_done_;                         // set once it has
  std::vector<std::pair<pid_t, int>> live_;  // pid and pidfd of every unreaped worker
  std::atomic<bool> sleeping_{false};        // the manager is (about to be) in poll

  // The manager thread's own.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::deque<Task> pending_;
  std::uint64_t seen_gen_ = 0;
  double avg_ns_ = 0;  // moving average of a task's run time in a worker
  bool broken_now_ = false;
};

PoolCore::PoolCore(int max_workers, StartMethod method, std::shared_ptr<const std::string> init,
                   long max_tasks, std::string name)
    : max_workers_(max_workers),
      method_(method),
      init_(std::move(init)),
      max_tasks_(max_tasks),
      name_(std::move(name)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  g_live_pools.fetch_add(1, std::memory_order_relaxed);
}

PoolCore::~PoolCore() {
  ::close(wake_fd_);
  if (g_live_pools.fetch_sub(1, std::memory_order_acq_rel) == 1) release_shm_buffers();
}

// ---- the submitting side -------------------------------------------------

void PoolCore::submit(Task t) {
  bool fork_all = false;
  {
    std::scoped_lock guard(lock_);
    if (!broken_.empty()) throw BrokenProcessPool(broken_);
    if (shutdown_) throw RuntimeError("cannot schedule new futures after shutdown");
    if (exiting_) throw RuntimeError("cannot schedule new futures after interpreter shutdown");
    if (!manager_) start_manager_locked();
    if (method_ == StartMethod::fork && !fork_all_asked_) {
      fork_all_asked_ = fork_all_ = fork_all = true;
    }
    queue_.push_back(std::move(t));
    ++gen_;
  }
  if (fork_all) {
    // Python starts every worker of a fork pool at the first submit; here
    // the submitting thread also waits until they are forked, so that it is
    // not in the middle of an allocation when the manager forks (a
    // sanitizer's allocator, unlike glibc's, does not guard itself across
    // fork, and a child could inherit its lock held).
    wake();
    forks_done_.wait();
    return;
  }
  // Dekker with wait_events(): it sets sleeping_ before it looks at gen_
  // under lock_; we look at sleeping_ after bumping gen_ under lock_.
  if (sleeping_.load(std::memory_order_seq_cst)) wake();
}

void PoolCore::start_manager_locked() {
  auto self = shared_from_this();
  auto t = std::make_shared<Thread>(ThreadOptions{.name = name_ + "_manager", .daemon = false},
                                    [self] { self->manager_main(); });
  t->start();
  manager_ = std::move(t);
}

void PoolCore::shutdown(bool wait, bool cancel_futures) {
  std::shared_ptr<Thread> mgr;
  std::deque<Task> cancelled;
  {
    std::scoped_lock guard(lock_);
    shutdown_ = true;
    if (cancel_futures) {
      cancel_pending_ = true;
      cancelled.swap(queue_);
    }
    ++gen_;
    mgr = manager_;
  }
  for (Task& t : cancelled) t.completion->cancel();  // outside the lock: runs callbacks
  wake();
  if (wait && mgr && mgr->ident() != get_ident()) mgr->join();
}

void PoolCore::close_for_exit() {
  std::shared_ptr<Thread> mgr;
  {
    std::scoped_lock guard(lock_);
    exiting_ = true;
    ++gen_;
    mgr = manager_;
  }
  wake();
  if (mgr && mgr->ident() != get_ident()) mgr->join();
}

void PoolCore::force(int sig) {
  shutdown(false, true);
  std::scoped_lock guard(lock_);
  forced_signal_ = sig;
  // live_ lists only unreaped workers (the manager unlists a worker under
  // lock_ before it closes the pidfd), so the signal cannot reach another
  // process.
  for (const auto& [pid, pidfd] : live_) pidfd_send_signal(pidfd, sig);
}

std::vector<long> PoolCore::pids() const {
  std::scoped_lock guard(lock_);
  std::vector<long> out;
  for (const auto& [pid, pidfd] : live_) out.push_back(pid);
  return out;
}

// ---- the manager -------------------------------------------------------

void PoolCore::manager_main() {
  for (;;) {
    bool stopping;
    bool cancel;
    bool fork_all;
    {
      std::scoped_lock guard(lock_);
      seen_gen_ = gen_;
      for (Task& t : queue_) pending_.push_back(std::move(t));
      queue_.clear();
      stopping = shutdown_ || exiting_;
      cancel = cancel_pending_;
      fork_all = std::exchange(fork_all_, false);
    }
    if (fork_all) {
      while (static_cast<int>(workers_.size()) < max_workers_ && !broken_now_) spawn_worker();
      forks_done_.set();
      if (broken_now_) return;
    }
    if (cancel) {
      for (Task& t : pending_) t.completion->cancel();
      pending_.clear();
    }
    dispatch();
    if (broken_now_) return;
    if (stopping && pending_.empty() &&
        std::all_of(workers_.begin(), workers_.end(),
                    [](const auto& w) { return w->inflight.empty(); })) {
      release_all();
      return;
    }
    wait_events();
    if (broken_now_) return;
  }
}

std::size_t PoolCore::window() const noexcept {
  // About 2 ms of measured work queued per worker, between 1 and 64 tasks;
  // 1 until a task has come back (nothing is known about their length).
  if (avg_ns_ <= 0) return 1;
  const double w = 2e6 / avg_ns_;
  return w < 1 ? 1 : w > 64 ? 64 : static_cast<std::size_t>(w);
}

PoolCore::Worker* PoolCore::pick_worker() {
  Worker* best = nullptr;
  int active = 0;
  for (auto& wp : workers_) {
    Worker& w = *wp;
    // A worker that got its last task and answered it is only exiting.
    if (!(w.retiring && w.inflight.empty())) ++active;
    if (!can_take(w)) continue;
    if (w.inflight.empty()) return &w;  // an idle worker first
    if (best == nullptr || w.inflight.size() < best->inflight.size()) best = &w;
  }
  // Python's _adjust_process_count: start one more while none is idle.
  if (active < max_workers_) {
    bool forced;
    {
      std::scoped_lock guard(lock_);
      forced = forced_signal_ != 0;
    }
    if (!forced) {
      Worker* w = spawn_worker();
      if (w != nullptr || broken_now_) return w;
    }
  }
  return best;
}

void PoolCore::dispatch() {
  while (!pending_.empty()) {
    Worker* w = pick_worker();
    if (w == nullptr) break;
    Task& t = pending_.front();
    if (t.completion->start()) {
      w->out.push(kCall, window() > 1 ? 1 : 0, std::move(t.payload));
      w->inflight.push_back(std::move(t.completion));
      if (max_tasks_ > 0 && ++w->sent >= max_tasks_) w->retiring = true;
    }
    pending_.pop_front();
  }
  for (auto& w : workers_)
    if (w->writable && w->out.pending()) write_worker(*w);
}

void PoolCore::write_worker(Worker& w) {
  const int err = w.out.flush(w.sock);
  // The worker is gone (EPIPE) or its socket broke: its pidfd tells the rest.
  if (err != 0) w.writable = false;
}

PoolCore::Worker* PoolCore::spawn_worker() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    break_pool(std::string("a worker process could not be started: socketpair: ") +
                   std::generic_category().message(errno),
               false);
    return nullptr;
  }
  auto w = std::make_unique<Worker>();
  w->sock = sv[0];
  ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  pid_t pid;
  try {
    pid = start_process(sv[1]);
  } catch (const std::exception& e) {
    ::close(sv[1]);
    break_pool(std::string("a worker process could not be started: ") + e.what(), false);
    return nullptr;
  }
  ::close(sv[1]);
  w->pid = pid;
  w->pidfd = pidfd_open(pid);
  if (w->pidfd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    break_pool(std::string("a worker process could not be watched: pidfd_open: ") +
                   std::generic_category().message(err),
               false);
    return nullptr;
  }
  if (init_) w->out.push(kInit, 0, Payload(std::string(*init_)));
  {
    std::scoped_lock guard(lock_);
    live_.emplace_back(pid, w->pidfd);
    if (forced_signal_ != 0) pidfd_send_signal(w->pidfd, forced_signal_);
  }
  workers_.push_back(std::move(w));
  return workers_.back().get();
}

pid_t PoolCore::start_process(int child_sock) {
  return method_ == StartMethod::fork ? fork_process(child_sock) : spawn_process(child_sock);
}

pid_t PoolCore::fork_process(int child_sock) {
  const pid_t parent = ::getpid();
  // (The child drops what the parent's stdout and stderr had buffered.)
  lock_code_tables();
  lock_shm_buffers();
  const pid_t pid = ::fork();
  if (pid == 0) {
    unlock_shm_buffers();
    unlock_code_tables();
    WorkerConfig cfg;
    cfg.max_tasks = max_tasks_;
    run_forked_worker(child_sock, parent, cfg);
  }
  const int err = errno;
  unlock_shm_buffers();
  unlock_code_tables();
  if (pid < 0) throw std::system_error(err, std::generic_category(), "fork");
  return pid;
}

pid_t PoolCore::spawn_process(int child_sock) {
  const pid_t parent = ::getpid();
  // spawn: the worker finds its socket on kWorkerFd and its orders in the
  // environment; nothing else of ours crosses (closefrom).
  int fd = child_sock;
  int extra = -1;
  if (fd == kWorkerFd) {  // dup2(3, 3) would keep FD_CLOEXEC on older glibc
    extra = ::fcntl(fd, F_DUPFD_CLOEXEC, kWorkerFd + 1);
    if (extra < 0) throw std::system_error(errno, std::generic_category(), "fcntl");
    fd = extra;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, kWorkerFd);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, kWorkerFd + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigdefault(&attr, &all);

  const std::string orders =
      std::string(kWorkerEnv) + "=1:" + std::to_string(parent) + ":" + std::to_string(max_tasks_);
  const std::string prefix = std::string(kWorkerEnv) + "=";
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) envp.push_back(*e);
  envp.push_back(const_cast<char*>(orders.c_str()));
  envp.push_back(nullptr);
  std::string argv0 = program_name();
  char* argv[] = {argv0.data(), nullptr};

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (extra >= 0) ::close(extra);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn /proc/self/exe");
  return pid;
}

void PoolCore::wait_events() {
  std::vector<pollfd> fds;
  std::vector<Worker*> owners;  // per entry: the worker, null for the eventfd
  fds.push_back(pollfd{wake_fd_, POLLIN, 0});
  owners.push_back(nullptr);
  for (auto& wp : workers_) {
    Worker& w = *wp;
    short ev = 0;
    if (w.readable) ev |= POLLIN;
    if (w.writable && w.out.pending()) ev |= POLLOUT;
    if (ev != 0 && w.sock >= 0) {
      fds.push_back(pollfd{w.sock, ev, 0});
      owners.push_back(&w);
    }
    fds.push_back(pollfd{w.pidfd, POLLIN, 0});
    owners.push_back(&w);
  }
  sleeping_.store(true, std::memory_order_seq_cst);
  {
    std::scoped_lock guard(lock_);
    if (gen_ != seen_gen_) {
      sleeping_.store(false, std::memory_order_relaxed);
      return;
    }
  }
  int n;
  do {
    n = ::poll(fds.data(), fds.size(), -1);
  } while (n < 0 && errno == EINTR);
  sleeping_.store(false, std::memory_order_relaxed);
  if (n <= 0) return;
  if (fds[0].revents != 0) {
    std::uint64_t v;
    ssize_t ignored = ::read(wake_fd_, &v, sizeof v);
    (void)ignored;
  }
  // Sockets first (results), then deaths: a worker's last results are read
  // before its death is judged (on_exit reads what is left, too).
  std::vector<Worker*> dead;
  for (std::size_t i = 1; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    Worker& w = *owners[i];
    if (fds[i].fd == w.pidfd) {
      dead.push_back(&w);
      continue;
    }
    if ((fds[i].revents & POLLOUT) != 0 && w.writable) write_worker(w);
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && w.readable) read_worker(w);
    if (broken_now_) return;
  }
  for (Worker* w : dead) {
    on_exit(*w);
    if (broken_now_) return;
  }
}

void PoolCore::read_worker(Worker& w) {
  try {
    for (;;) {
      const Reader::Fill st = w.in.fill(w.sock);
      if (st == Reader::Fill::eof) w.readable = false;
      FrameView f;
      while (w.in.next(f)) {
        handle_frame(w, f);
        if (broken_now_) return;
      }
      if (st != Reader::Fill::data) return;
    }
  } catch (const std::exception& e) {
    break_pool("the pool could not read from worker process (pid " + std::to_string(w.pid) +
                   "): " + e.what(),
               false);
  }
}

void PoolCore::handle_frame(Worker& w, FrameView& f) {
  const std::uint32_t kind = f.header.kind;
  if (kind == kInitFailed) {
    FrameSource src(f);
    w.init_failure = describe_encoded_exception(src.get());
    return;
  }
  if ((kind != kResult && kind != kError) || w.inflight.empty()) {
    if (f.fd >= 0) ::close(f.fd);
    throw RuntimeError("unexpected message");
  }
  std::unique_ptr<Completion> c = std::move(w.inflight.front());
  w.inflight.pop_front();
  const double ns = static_cast<double>(f.header.aux);
  avg_ns_ = avg_ns_ <= 0 ? std::max(ns, 1.0) : avg_ns_ * 0.875 + ns * 0.125;
  std::exception_ptr e;
  try {
    FrameSource src(f);
    if (kind == kResult) {
      c->finish(src.get());
      return;
    }
    e = decode_exception(src.get(), w.pid);
  } catch (...) {
    e = std::current_exception();
  }
  c->fail(std::move(e));
}

void PoolCore::forget(Worker& w) {
  {
    std::scoped_lock guard(lock_);
    std::erase_if(live_, [&](const auto& p) { return p.second == w.pidfd; });
  }
  ::close(w.pidfd);
  w.pidfd = -1;
  if (w.sock >= 0) ::close(w.sock);
  w.sock = -1;
  w.readable = w.writable = false;
}

void PoolCore::on_exit(Worker& w) {
  // Results it sent before it ended are still in the socket.
  if (w.readable) read_worker(w);
  if (broken_now_) return;
  const siginfo_t si = reap(w.pidfd);
  const pid_t pid = w.pid;
  forget(w);
  if (!w.init_failure.empty()) {
    break_pool("worker process (pid " + std::to_string(pid) + "): " + w.init_failure, true);
    return;
  }
  if (w.inflight.empty() && (w.retiring || w.released)) {
    std::erase_if(workers_, [&](const auto& p) { return p.get() == &w; });
    return;  // it left at its task quota (or at our request)
  }
  int forced;
  {
    std::scoped_lock guard(lock_);
    forced = forced_signal_;
  }
  std::string cause = "a worker process (pid " + std::to_string(pid) + ") " + describe_death(si) +
                      (w.inflight.empty() ? " while idle" : " while running a task");
  if (forced != 0) cause += " (terminate_workers() or kill_workers() was called)";
  break_pool(cause, false);
}

void PoolCore::break_pool(const std::string& cause, bool init_failure) {
  broken_now_ = true;
  const std::string future_msg =
      std::string(init_failure ? kInitBroken : kFutureBroken) + " (" + cause + ")";
  {
    std::scoped_lock guard(lock_);
    broken_ = std::string(init_failure ? kInitBroken : kSubmitBroken) + " (" + cause + ")";
    shutdown_ = true;
    for (Task& t : queue_) pending_.push_back(std::move(t));
    queue_.clear();
    ++gen_;
  }
  // The other workers' state is unknown (Python: "the queues or their locks
  // may be in a dirty state"): kill them before failing their futures, so
  // that no task keeps running for a future that has already failed.
  for (auto& w : workers_)
    if (w->pidfd >= 0) pidfd_send_signal(w->pidfd, SIGKILL);
  // One exception object per future, owned by that future alone: a shared
  // one would be destroyed by whichever thread drops its last reference,
  // ordered after other threads' reads only by libstdc++'s reference count.
  const auto broken = [&] { return std::make_exception_ptr(BrokenProcessPool(future_msg)); };
  for (auto& w : workers_) {
    for (auto& c : w->inflight) c->fail(broken());
    w->inflight.clear();
  }
  for (Task& t : pending_) t.completion->fail(broken());
  pending_.clear();
  for (auto& w : workers_) {
    if (w->pidfd < 0) continue;
    reap(w->pidfd);
    forget(*w);
  }
  workers_.clear();
}

void PoolCore::release_all() {
  // End of stream tells each worker to exit; then reap them all.
  for (auto& w : workers_) {
    w->released = true;
    if (w->sock >= 0) ::close(w->sock);
    w->sock = -1;
    w->readable = w->writable = false;
  }
  for (auto& w : workers_) {
    reap(w->pidfd);
    forget(*w);
  }
  workers_.clear();
}

// ---- every live pool, for the process-exit hook ---------------------------

namespace {

struct PoolRegistry {
  Lock lock;
  std::vector<std::weak_ptr<PoolCore>> pools;
  bool hooked = false;
  bool exiting = false;
};
PoolRegistry& registry() {
  static auto* r = new PoolRegistry;  // never destroyed: used during exit
  return *r;
}

void exit_all_pools() {
  std::vector<std::shared_ptr<PoolCore>> live;
  {
    PoolRegistry& r = registry();
    std::scoped_lock guard(r.lock);
    r.exiting = true;
    for (auto& w : r.pools)
      if (auto p = w.lock()) live.push_back(std::move(p));
  }
  for (auto& p : live) p->close_for_exit();
}

bool register_pool(const std::shared_ptr<PoolCore>& core) {
  PoolRegistry& r = registry();
  std::scoped_lock guard(r.lock);
  if (!r.hooked && !r.exiting) {
    try {
      register_atexit(exit_all_pools);
      r.hooked = true;
    } catch (const RuntimeError&) {
      r.exiting = true;
    }
  }
  if (r.exiting) return false;
  std::erase_if(r.pools, [](const std::weak_ptr<PoolCore>& w) { return w.expired(); });
  r.pools.push_back(core);
  return true;
}

}  // namespace
}  // namespace detail::process

// ---------------------------------------------------------------------------
// ProcessPoolExecutor
// ---------------------------------------------------------------------------

ProcessPoolExecutor::ProcessPoolExecutor(ProcessPoolOptions options) {
  using namespace detail::process;
  int max_workers = default_max_workers();
  if (options.max_workers) {
    if (*options.max_workers <= 0) throw ValueError("max_workers must be greater than 0");
    max_workers = *options.max_workers;
  }
  long max_tasks = 0;
  if (options.max_tasks_per_child) {
    if (*options.max_tasks_per_child <= 0) throw ValueError("max_tasks_per_child must be >= 1");
    if (options.start_method == StartMethod::fork) {
      throw ValueError(
          "max_tasks_per_child is incompatible with the 'fork' start method; supply a different "
          "start_method");
    }
    max_tasks = *options.max_tasks_per_child;
  }
  static std::atomic<unsigned> counter{0};
  core_ = std::make_shared<PoolCore>(
      max_workers, options.start_method, options.initializer.encoded(), max_tasks,
      "ProcessPoolExecutor-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed)));
  if (!register_pool(core_)) core_->close_for_exit();
}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  core_->shutdown(true, false);
}

void ProcessPoolExecutor::submit_task(detail::process::Task task) {
  core_->submit(std::move(task));
}
void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  core_->shutdown(wait, cancel_futures);
}
void ProcessPoolExecutor::terminate_workers() {
  core_->force(SIGTERM);
}
void ProcessPoolExecutor::kill_workers() {
  core_->force(SIGKILL);
}
int ProcessPoolExecutor::max_workers() const noexcept {
  return core_->max_workers();
}
StartMethod ProcessPoolExecutor::start_method() const noexcept {
  return core_->method();
}
std::vector<long> ProcessPoolExecutor::worker_pids() const {
  return core_->pids();
}

// A spawned worker becomes one here, in this object file's static
// initialisation: it is linked into every program that creates a pool.
// See "The worker program" in spindle/process.hpp.
namespace {
[[maybe_unused]] const bool g_is_worker = detail::process::run_spawned_worker_if_asked();
}

}  // namespace spindle
