// The worker side: the loop that serves tasks, how a spawned process finds
// out that it is a worker (an environment variable read by a static
// initializer in process_pool.cpp), and the set-up of a forked child.
#include <fcntl.h>
#include <stdio_ext.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <csignal>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "process_internal.hpp"
#include "report.hpp"
#include "spindle/thread.hpp"

namespace spindle::detail::process {

namespace {

// Results of tiny tasks wait in the worker's buffer while the next task is
// already buffered and the parent marked it tiny too (kCall's aux = 1: it
// sends several tasks at once only when their measured run time is small),
// so a burst costs one write per burst, not one per task; but never longer
// than this, nor beyond this many bytes.
constexpr std::chrono::microseconds kMaxResultDelay{100};
constexpr std::size_t kMaxBufferedResults = std::size_t{256} * 1024;

// Status a forked worker exits with when a task calls std::exit (its real
// status is not known to an atexit handler).
constexpr int kExitInTask = 0;

[[noreturn]] void die(const char* what) noexcept {
  write_stderr(std::string("spindle: process pool worker: ") + what + "\n");
  ::_exit(70);
}

bool g_forked = false;

// A task's output reaches the terminal before its result reaches the parent.
// A forked worker flushes only stdout and stderr: other streams are the
// parent's, and their locks may be held by threads the child does not have.
void flush_stdio() noexcept {
  try {
    std::cout.flush();
  } catch (...) {
  }
  if (g_forked) {
    std::fflush(stdout);
    std::fflush(stderr);
  } else {
    std::fflush(nullptr);
  }
}

void send_all(Writer& out, int sock) noexcept {
  flush_stdio();
  const int err = out.flush(sock);  // a blocking socket: writes everything
  if (err != 0) ::_exit(0);         // the parent is gone
}

// Runs the encoded call in `f`; returns the result payload, or throws what
// the task threw.
Payload run_call(FrameView& f) {
  FrameSource fs(f);
  Source& src = fs.get();
  std::uint32_t n;
  src.read(&n, sizeof n);
  if (n == UINT32_MAX || n > src.left())
    throw RuntimeError("ProcessPoolExecutor: malformed call from the parent");
  std::string module(n, '\0');
  src.read(module.data(), n);
  std::uint64_t offset;
  src.read(&offset, sizeof offset);
  const auto entry = reinterpret_cast<Entry>(const_cast<void*>(resolve_code(module, offset)));
  const void* fn = nullptr;
  src.read(&n, sizeof n);
  if (n != UINT32_MAX) {
    if (n > src.left()) throw RuntimeError("ProcessPoolExecutor: malformed call from the parent");
    module.assign(n, '\0');
    src.read(module.data(), n);
    src.read(&offset, sizeof offset);
    fn = resolve_code(module, offset);
  }
  Sink sink;
  {
    InStream is(src);
    OutStream os(sink);
    entry(fn, is.get(), os.get());
  }
  return sink.take();
}

Payload encode_exception() {
  Sink sink(false);
  encode_current_exception(sink);
  return sink.take();
}

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void worker_main(int sock, WorkerConfig cfg) {
  Reader in;
  Writer out;
  long done = 0;
  std::int64_t oldest_unsent = 0;
  try {
    for (;;) {
      FrameView f;
      while (!in.next(f)) {
        if (out.pending()) send_all(out, sock);
        if (in.fill(sock) == Reader::Fill::eof) {
          flush_stdio();
          ::_exit(0);
        }
      }
      if (f.header.kind == kInit) {
        try {
          (void)run_call(f);
        } catch (...) {
          write_stderr("Exception in initializer:\n" +
                       describe_exception(std::current_exception()) + "\n");
          out.push(kInitFailed, 0, encode_exception());
          send_all(out, sock);
          ::_exit(0);
        }
        continue;
      }
      if (f.header.kind != kCall) die("unexpected message from the parent");
      if (out.pending() && f.header.aux == 0) send_all(out, sock);  // this one may take long
      const std::int64_t start = now_ns();
      Payload result;
      std::uint32_t kind = kResult;
      try {
        result = run_call(f);
      } catch (...) {
        kind = kError;
        result = encode_exception();
      }
      const std::int64_t end = now_ns();
      if (!out.pending()) oldest_unsent = end;
      out.push(kind, static_cast<std::uint64_t>(end - start), std::move(result));
      ++done;
      if (cfg.max_tasks > 0 && done >= cfg.max_tasks) {
        // Quota reached: the parent sent no more than this; leave.
        send_all(out, sock);
        ::_exit(0);
      }
      if (out.queued_bytes() >= kMaxBufferedResults ||
          end - oldest_unsent >= std::chrono::nanoseconds(kMaxResultDelay).count()) {
        send_all(out, sock);
      }
    }
  } catch (const std::exception& e) {
    die(e.what());
  }
}

// ---------------------------------------------------------------------------
// Becoming a worker
// ---------------------------------------------------------------------------

namespace {

// Dies with the parent: PR_SET_PDEATHSIG, then a check that the parent did
// not die before it was set.
void die_with_parent(pid_t parent) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
}

void reset_signals() noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &dfl, nullptr);
  }
}

void stdin_from_devnull() noexcept {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (fd != 0) {
    ::dup2(fd, 0);
    ::close(fd);
  }
}

extern "C" void exit_in_forked_worker() {
  ::_exit(kExitInTask);
}

// A forked child's stdout and stderr are copies of the parent's, buffered
// output and lock included: another thread may have held the lock (it stays
// held here), and what the parent buffered would be printed twice. The child
// is single-threaded: no locking, and the parent's buffered bytes dropped.
void own_std_streams() noexcept {
  for (FILE* f : {stdout, stderr}) {
    __fsetlocking(f, FSETLOCKING_BYCALLER);
    __fpurge(f);
  }
}

}  // namespace

void run_forked_worker(int sock, pid_t parent, WorkerConfig cfg) {
  die_with_parent(parent);
  if (sock != kWorkerFd) {
    if (::dup2(sock, kWorkerFd) < 0) die("dup2 failed");
  }
  ::close_range(kWorkerFd + 1, ~0U, 0);
  ::fcntl(kWorkerFd, F_SETFD, FD_CLOEXEC);  // not for processes a task starts
  forget_shm_buffers();
  own_std_streams();
  reset_signals();
  stdin_from_devnull();
  // The parent's atexit handlers would wait for threads this child does not
  // have; a task that calls std::exit leaves straight away instead.
  std::atexit(exit_in_forked_worker);
  cfg.forked = true;
  g_forked = true;
  worker_main(kWorkerFd, cfg);
}

bool run_spawned_worker_if_asked() {
  // Static initialisation of a program that has started no thread of ours:
  // nothing can change the environment concurrently.
  const char* v = std::getenv(kWorkerEnv);  // NOLINT(concurrency-mt-unsafe): see above
  if (v == nullptr) return false;
  long version = 0;
  long parent = 0;
  long max_tasks = 0;
  const bool ok = std::sscanf(v, "%ld:%ld:%ld", &version, &parent, &max_tasks) == 3 && version == 1;
  // Processes this worker starts are not workers.
  ::unsetenv(kWorkerEnv);  // NOLINT(concurrency-mt-unsafe): static initialisation, as above
  if (!ok) return false;
  die_with_parent(static_cast<pid_t>(parent));
  struct stat st {};
  if (::fstat(kWorkerFd, &st) != 0 || !S_ISSOCK(st.st_mode)) die("no socket on descriptor 3");
  ::fcntl(kWorkerFd, F_SETFD, FD_CLOEXEC);  // not for processes a task starts
  WorkerConfig cfg;
  cfg.max_tasks = max_tasks;
  worker_main(kWorkerFd, cfg);
}

}  // namespace spindle::detail::process
