// The client of spindle::mpi, on rank 0: one queue of encoded tasks shared by
// every MPIPoolExecutor of the process, and one communication thread that
// owns the wire - it deals the queued tasks to the workers, receives their
// results and completes the futures. Nothing here knows MPI (see internal.hpp).
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "report.hpp"
#include "spindle/detail/park.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/event.hpp"
#include "spindle/lock.hpp"
#include "spindle/mpi.hpp"
#include "spindle/thread.hpp"

namespace spindle::detail::mpi {

using process::Completion;
using process::Payload;
using process::Source;

namespace {

// Waiting without blocking (the wire cannot wake a thread): the policy is
// spin.hpp's kMpi* (docs/design/mpi.md has the measurements). While results
// are due the thread polls, the first kMpiClientTightPollNs without yielding
// (the result of a short task comes within microseconds, and a sched_yield on
// a core shared with other programs can hand it to them for a whole time
// slice), then yielding the core at each poll, until kMpiPollNs after its
// last activity, then sleeps for growing spells. With nothing due it polls
// as long, yielding at each poll (the caller whose future it just completed
// may be waiting for this very core: a rank is often bound to one core, and
// the client has two threads), since the next submit() of a caller that
// waits for each result comes soon after the result and would otherwise
// have to wake it (on a busy machine a woken thread waits for a core), then
// parks until a submit() wakes it. Polling while a result is due is what
// MPI_Recv does; it is what keeps the round trip near MPI's own.

// The comm thread's sleeps should end on time, not up to 50 us late.
constexpr unsigned long kTimerSlackNs = 5'000;
// A worker gets about this much measured work at a time, at most kMaxWindow
// tasks, one while nothing is measured yet (as the process pool does).
constexpr double kQueuedNsPerWorker = 2e6;
constexpr std::size_t kMaxWindow = 64;

[[noreturn]] void protocol_error(const char* what) noexcept {
  write_stderr("spindle::mpi: ");  // three writes: nothing to allocate
  write_stderr(what);
  write_stderr("\n");
  std::abort();
}

template <class T>
T read_pod(const char*& p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}

}  // namespace

/// One MPIPoolExecutor's state: its count of unfinished tasks.
class ExecState {
 public:
  explicit ExecState(std::shared_ptr<Client> c) : client(std::move(c)) { idle.set(); }
  const std::shared_ptr<Client> client;
  Lock lock;
  std::size_t unfinished = 0;  // submitted, not yet done (guarded by lock)
  bool shut = false;           // guarded by lock
  Event idle;                  // set while unfinished == 0

  void task_done() noexcept {
    std::scoped_lock guard(lock);
    if (--unfinished == 0) idle.set();
  }
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(std::unique_ptr<ClientWire> wire, std::vector<long> pids)
      : wire_(std::move(wire)), pids_(std::move(pids)), workers_(pids_.size()) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// A queued task.
  struct Job {
    Payload call;
    std::unique_ptr<Completion> done;
    std::shared_ptr<ExecState> owner;
  };

  [[nodiscard]] int workers() const noexcept { return static_cast<int>(pids_.size()); }

  void start() {
    auto self = shared_from_this();
    thread_ = std::make_shared<Thread>(
        ThreadOptions{.name = "MPIPoolExecutor_comm", .daemon = false}, [self] { self->run(); });
    thread_->start();
  }

  void enqueue(Job job);
  void cancel_pending(const ExecState& ex);
  void close();
  [[nodiscard]] bool on_comm_thread() const noexcept {
    return comm_ident_.load(std::memory_order_acquire) == get_ident();
  }

 private:
  struct Sent {
    std::unique_ptr<Completion> done;
    std::shared_ptr<ExecState> owner;
  };
  struct Worker {
    std::deque<Sent> inflight;  // in the order sent
    std::string batch;          // small calls being packed for one message
  };

  void run();
  bool dispatch(bool& drained);
  void flush_batch(std::size_t w);
  void on_message(Message& m);
  Sent take_sent(Worker& w);
  void measured(std::uint64_t run_ns) noexcept;
  [[nodiscard]] std::size_t window() const noexcept;
  void release_workers();
  void notify() noexcept;

  const std::unique_ptr<ClientWire> wire_;
  const std::vector<long> pids_;

  // Shared with submit(), shutdown() and close(), guarded by lock_.
  Lock lock_;
  std::deque<Job> queue_;
  bool closing_ = false;
  std::shared_ptr<Thread> thread_;
  // Bumped after every change of the above; the thread parks only if it has
  // not moved since it last looked (Dekker with sleeping_).
  std::atomic<std::uint64_t> gen_{0};
  std::atomic<bool> sleeping_{false};
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<std::uint64_t> comm_ident_{0};

  // Held by whoever calls into the wire: the communication thread while it
  // polls, or a submit() that dispatches its task itself (MPI_THREAD_SERIALIZED:
  // one thread in MPI at a time). The members below are guarded by it.
  Lock wire_lock_;
  std::vector<Worker> workers_;
  std::vector<Job> taken_;
  std::size_t inflight_ = 0;
  double avg_ns_ = 0;
  bool measured_ = false;
};

using Job = Client::Job;

// ---- the submitting side ----------------------------------------------------

void Client::notify() noexcept {
  gen_.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst)) {
    wake_.fetch_add(1, std::memory_order_release);
    unpark_all(wake_);
  }
}

void Client::enqueue(Job job) {
  {
    std::scoped_lock guard(lock_);
    if (closing_) throw RuntimeError("cannot schedule new futures after interpreter shutdown");
    queue_.push_back(std::move(job));
  }
  // Send it from here if no other thread is in the wire: the task is on its
  // way at once instead of once the communication thread has noticed it,
  // which, when the client's two threads share one core (a rank bound to a
  // core), waits for a context switch.
  {
    std::unique_lock wire(wire_lock_, std::try_to_lock);
    if (wire.owns_lock()) {
      bool drained = false;
      (void)dispatch(drained);
    }
  }
  notify();
}

void Client::cancel_pending(const ExecState& ex) {
  std::vector<Job> mine;
  {
    std::scoped_lock guard(lock_);
    auto keep = std::stable_partition(queue_.begin(), queue_.end(),
                                      [&](const Job& j) { return j.owner.get() != &ex; });
    for (auto it = keep; it != queue_.end(); ++it) mine.push_back(std::move(*it));
    queue_.erase(keep, queue_.end());
  }
  // Outside the lock: cancelling runs the futures' callbacks.
  for (Job& j : mine) {
    j.done->cancel();
    j.owner->task_done();
  }
}

void Client::close() {
  std::shared_ptr<Thread> t;
  {
    std::scoped_lock guard(lock_);
    closing_ = true;
    t = thread_;
  }
  notify();
  if (t) t->join();
}

// ---- the communication thread ---------------------------------------------

void Client::run() {
  comm_ident_.store(get_ident(), std::memory_order_release);
  ::prctl(PR_SET_TIMERSLACK, kTimerSlackNs);
  std::int64_t last_active = Deadline::now_ns();
  std::int64_t sleep_ns = 0;
  std::uint64_t last_seen = gen_.load(std::memory_order_seq_cst);
  Message m;  // its buffer is reused for the next message
  for (;;) {
    const std::uint64_t seen = gen_.load(std::memory_order_seq_cst);
    bool active = false;
    bool due = false;
    bool sending = false;
    {
      std::unique_lock wire(wire_lock_, std::try_to_lock);
      if (!wire.owns_lock()) {  // a submit() is dispatching: let it finish
        sched_yield();
        continue;
      }
      // A submit() since the last look counts as activity, also when it sent
      // its task itself: its result is due, so poll (not sleep) for it.
      active = seen != last_seen;
      last_seen = seen;
      active |= wire_->progress();
      for (int i = 0; i < 64 && wire_->receive(m); ++i) {
        on_message(m);  // done-callbacks run here, with wire_lock_ held
        active = true;
      }
      bool drained = false;  // closing, and nothing left in the queue
      active |= dispatch(drained);
      if (drained && inflight_ == 0) {
        release_workers();
        return;
      }
      due = inflight_ > 0;
      sending = wire_->sending();
    }
    const std::int64_t now = Deadline::now_ns();
    if (active) {
      last_active = now;
      sleep_ns = 0;
      continue;
    }
    // Poll on while results are due (and while a large message is being
    // sent: it moves only while this side calls into MPI, as Open MPI's
    // shared-memory transport sends it in fragments), yielding the core to
    // any thread that can run - the one whose future was just completed, a
    // worker rank on this core.
    if (now - last_active < kMpiPollNs || sending) {
      if (due && now - last_active < kMpiClientTightPollNs) {
        cpu_relax();
      } else {
        sched_yield();
      }
      continue;
    }
    Deadline until = Deadline::never();
    if (due) {
      sleep_ns = mpi_next_sleep_ns(sleep_ns);
      until = Deadline::after(std::chrono::nanoseconds(sleep_ns));
    }
    const std::uint32_t w = wake_.load(std::memory_order_acquire);
    sleeping_.store(true, std::memory_order_seq_cst);
    if (gen_.load(std::memory_order_seq_cst) == seen) {
      park(wake_, w, until, WaitSite{"MPIPoolExecutor.comm", this});
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

std::size_t Client::window() const noexcept {
  if (!measured_) return 1;
  const double n = kQueuedNsPerWorker / std::max(avg_ns_, 1.0);
  return n >= static_cast<double>(kMaxWindow)
             ? kMaxWindow
             : std::max<std::size_t>(1, static_cast<std::size_t>(n));
}

void Client::measured(std::uint64_t run_ns) noexcept {
  const auto ns = static_cast<double>(run_ns);
  avg_ns_ = measured_ ? 0.8 * avg_ns_ + 0.2 * ns : ns;
  measured_ = true;
}

// Deals queued tasks to the workers with room, one at a time in rank order
// (a single task goes to the lowest rank with room: the one most likely
// still polling), small calls packed into one message per worker.
bool Client::dispatch(bool& drained) {
  const std::size_t win = window();
  std::size_t room = 0;
  for (const Worker& w : workers_) room += win - std::min(win, w.inflight.size());
  {
    std::scoped_lock guard(lock_);
    const std::size_t n = std::min(room, queue_.size());
    for (std::size_t i = 0; i < n; ++i) {
      taken_.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    drained = closing_ && queue_.empty();
  }
  if (taken_.empty()) return false;
  std::size_t next = 0;
  for (Job& j : taken_) {
    if (!j.done->start()) {  // cancelled while queued
      j.owner->task_done();
      continue;
    }
    while (workers_[next].inflight.size() >= win) next = (next + 1) % workers_.size();
    Worker& w = workers_[next];
    w.inflight.push_back(Sent{std::move(j.done), std::move(j.owner)});
    ++inflight_;
    const std::string& call = j.call.bytes();
    if (call.size() > kAloneAbove) {
      flush_batch(next);
      wire_->send(static_cast<int>(next) + 1, kTask, Outgoing{{}, std::move(j.call)});
    } else {
      const auto n = static_cast<std::uint32_t>(call.size());
      w.batch.append(reinterpret_cast<const char*>(&n), sizeof n);
      w.batch.append(call);
      if (w.batch.size() >= kBatchBytes) flush_batch(next);
    }
    next = (next + 1) % workers_.size();
  }
  taken_.clear();
  for (std::size_t i = 0; i < workers_.size(); ++i) flush_batch(i);
  return true;
}

void Client::flush_batch(std::size_t w) {
  std::string& b = workers_[w].batch;
  if (b.empty()) return;
  wire_->send(static_cast<int>(w) + 1, kTasks, Outgoing{std::move(b), {}});
  b = std::string();
}

Client::Sent Client::take_sent(Worker& w) {
  if (w.inflight.empty()) protocol_error("a worker sent a result for no task");
  Sent s = std::move(w.inflight.front());
  w.inflight.pop_front();
  --inflight_;
  return s;
}

void Client::on_message(Message& m) {
  if (m.peer < 1 || m.peer > workers()) protocol_error("a message from an unknown rank");
  Worker& w = workers_[static_cast<std::size_t>(m.peer) - 1];
  const long pid = pids_[static_cast<std::size_t>(m.peer) - 1];
  if (m.tag == kResult) {
    Sent s = take_sent(w);
    Source src(m.data.get(), m.size);
    s.done->finish(src);
    s.owner->task_done();
    return;
  }
  if (m.tag != kResults) protocol_error("a message with an unknown tag");
  const char* p = m.data.get();
  const char* const end = p + m.size;
  constexpr std::size_t kHead = 1 + sizeof(std::uint64_t) + sizeof(std::uint32_t);
  while (p != end) {
    if (static_cast<std::size_t>(end - p) < kHead) protocol_error("a truncated result");
    const auto kind = read_pod<std::uint8_t>(p);
    const auto run_ns = read_pod<std::uint64_t>(p);
    const auto n = read_pod<std::uint32_t>(p);
    if (static_cast<std::size_t>(end - p) < n) protocol_error("a truncated result");
    Sent s = take_sent(w);
    measured(run_ns);
    Source src(p, n);
    if (kind == kOk) {
      s.done->finish(src);
    } else {
      std::exception_ptr e;
      try {
        e = process::decode_exception(src, pid);
      } catch (...) {
        e = std::current_exception();
      }
      s.done->fail(std::move(e));
    }
    s.owner->task_done();
    p += n;
  }
}

void Client::release_workers() {
  for (std::size_t i = 0; i < workers_.size(); ++i)
    wire_->send(static_cast<int>(i) + 1, kExit, Outgoing{});
  std::atomic<std::uint32_t> never{0};
  while (wire_->sending()) {
    if (!wire_->progress()) {
      park(never, 0, Deadline::after(std::chrono::microseconds(50)),
           WaitSite{"MPIPoolExecutor.comm", this});
    }
  }
}

// ---------------------------------------------------------------------------
// The process's client, and the executors' calls
// ---------------------------------------------------------------------------

namespace {

struct Global {
  Lock lock;
  std::shared_ptr<Client> client;
  World world = World::never_started;
};
Global& global() {
  static auto* g = new Global;  // never destroyed: used during exit
  return *g;
}

}  // namespace

void set_world(World w) noexcept {
  Global& g = global();
  std::scoped_lock guard(g.lock);
  g.world = w;
}

void start_client(std::unique_ptr<ClientWire> wire, std::vector<long> pids) {
  Global& g = global();
  std::scoped_lock guard(g.lock);
  if (g.client) throw RuntimeError("spindle::mpi: a client is already running");
  auto c = std::make_shared<Client>(std::move(wire), std::move(pids));
  c->start();
  g.client = std::move(c);
}

void stop_client() {
  std::shared_ptr<Client> c;
  {
    Global& g = global();
    std::scoped_lock guard(g.lock);
    c = std::move(g.client);
    g.client = nullptr;
  }
  if (!c) return;
  if (c->on_comm_thread()) {
    throw RuntimeError(
        "spindle::mpi::finalize() cannot run in a done-callback of an MPI future (it waits for "
        "the thread that runs the callback)");
  }
  c->close();
}

int client_workers() noexcept {
  Global& g = global();
  std::scoped_lock guard(g.lock);
  return g.client ? g.client->workers() : 0;
}

std::shared_ptr<ExecState> open_executor() {
  Global& g = global();
  std::scoped_lock guard(g.lock);
  if (g.client) return std::make_shared<ExecState>(g.client);
  switch (g.world) {
    case World::never_started:
      throw RuntimeError(
          "MPIPoolExecutor: spindle::mpi::init() was not called: call spindle::mpi::init(argc, "
          "argv) first in main(), and start the program with mpirun -n N");
    case World::one_rank:
      throw RuntimeError(
          "MPIPoolExecutor: no worker ranks: this program runs as an MPI job of one process "
          "(started without mpirun, or with mpirun -n 1); start it as `mpirun -n N program` with "
          "N >= 2: rank 0 runs main() and ranks 1..N-1 run the tasks");
    case World::worker_rank:
      throw RuntimeError("MPIPoolExecutor: this process is a worker rank; only rank 0 submits");
    case World::finished:
      break;
  }
  throw RuntimeError("cannot schedule new futures after interpreter shutdown");
}

void submit(const std::shared_ptr<ExecState>& ex, Payload call, std::unique_ptr<Completion> done) {
  if (call.size() > kMaxPayload) {
    throw OverflowError("MPIPoolExecutor: the task's arguments take " +
                        std::to_string(call.size()) +
                        " bytes; an MPI message carries at most 2 GiB - 1");
  }
  {
    std::scoped_lock guard(ex->lock);
    if (ex->shut) throw RuntimeError("cannot schedule new futures after shutdown");
    if (++ex->unfinished == 1) ex->idle.clear();
  }
  try {
    ex->client->enqueue(Job{std::move(call), std::move(done), ex});
  } catch (...) {
    ex->task_done();
    throw;
  }
}

void shutdown(ExecState& ex, bool wait, bool cancel_futures) {
  {
    std::scoped_lock guard(ex.lock);
    ex.shut = true;
  }
  if (cancel_futures) ex.client->cancel_pending(ex);
  if (wait && !ex.client->on_comm_thread()) ex.idle.wait();
}

int workers(const ExecState& ex) noexcept {
  return ex.client->workers();
}

}  // namespace spindle::detail::mpi

namespace spindle::mpi {

MPIPoolExecutor::MPIPoolExecutor() : state_(detail::mpi::open_executor()) {}

MPIPoolExecutor::~MPIPoolExecutor() {
  detail::mpi::shutdown(*state_, true, false);
}

void MPIPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  detail::mpi::shutdown(*state_, wait, cancel_futures);
}

int MPIPoolExecutor::num_workers() const noexcept {
  return detail::mpi::workers(*state_);
}

}  // namespace spindle::mpi
