// spindle::mpi over MPI: init() and finalize(), and the wires of the client
// and of a worker rank on a duplicate of MPI_COMM_WORLD. The only file that
// includes <mpi.h>.
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "spindle/lock.hpp"
#include "spindle/mpi.hpp"
#include "spindle/thread.hpp"

namespace spindle::detail::mpi {

namespace {

// Every call below checks nothing: MPI's default error handler,
// MPI_ERRORS_ARE_FATAL, aborts the job on an error.

class MpiClientWire final : public ClientWire {
 public:
  explicit MpiClientWire(MPI_Comm comm) noexcept : comm_(comm) {}

  void send(int worker, int tag, Outgoing out) override {
    // The buffer must stay where it is until the send completes (a short
    // std::string keeps its bytes inside the object): heap-allocate it once.
    auto p = std::make_unique<Pending>();
    p->out = std::move(out);
    MPI_Isend(p->out.data(), static_cast<int>(p->out.size()), MPI_BYTE, worker, tag, comm_,
              &p->req);
    int done = 0;
    MPI_Test(&p->req, &done, MPI_STATUS_IGNORE);  // small messages are sent at once
    if (!done) sends_.push_back(std::move(p));
  }

  bool progress() override {
    bool any = false;
    for (std::size_t i = 0; i < sends_.size();) {
      int done = 0;
      MPI_Test(&sends_[i]->req, &done, MPI_STATUS_IGNORE);
      if (done) {
        sends_[i] = std::move(sends_.back());
        sends_.pop_back();
        any = true;
      } else {
        ++i;
      }
    }
    return any;
  }

  [[nodiscard]] bool sending() const noexcept override { return !sends_.empty(); }

  bool receive(Message& m) override {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &st);
    if (!flag) return false;
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    MPI_Recv(m.reserve(static_cast<std::size_t>(n)), n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, comm_,
             MPI_STATUS_IGNORE);
    m.peer = st.MPI_SOURCE;
    m.tag = st.MPI_TAG;
    return true;
  }

 private:
  struct Pending {
    MPI_Request req = MPI_REQUEST_NULL;
    Outgoing out;
  };
  MPI_Comm comm_;
  std::vector<std::unique_ptr<Pending>> sends_;
};

class MpiWorkerWire final : public WorkerWire {
 public:
  explicit MpiWorkerWire(MPI_Comm comm) noexcept : comm_(comm) {}

  bool receive(Message& m) override {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(0, MPI_ANY_TAG, comm_, &flag, &st);
    if (!flag) return false;
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    MPI_Recv(m.reserve(static_cast<std::size_t>(n)), n, MPI_BYTE, 0, st.MPI_TAG, comm_,
             MPI_STATUS_IGNORE);
    m.peer = 0;
    m.tag = st.MPI_TAG;
    return true;
  }

  void send(int tag, const char* data, std::size_t n) override {
    MPI_Send(data, static_cast<int>(n), MPI_BYTE, 0, tag, comm_);
  }

 private:
  MPI_Comm comm_;
};

// The state of MPI in this process, as init() left it.
struct State {
  Lock lock;
  bool started = false;   // init() ran
  bool finished = false;  // finalize() ran
  bool owns_mpi = false;  // init() called MPI_Init_thread
  MPI_Comm comm = MPI_COMM_NULL;
};
State& state() {
  static auto* s = new State;  // never destroyed: used during exit
  return *s;
}
std::atomic<int> g_rank{0};
std::atomic<int> g_size{0};
std::atomic<bool> g_live{false};

const char* level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    default:
      return "MPI_THREAD_MULTIPLE";
  }
}

// A worker rank: serve until the client lets go, then leave. MPI_Finalize
// is called here whoever initialised MPI: the program's own code never
// runs again on this rank, and a rank that ends without it makes mpirun
// abort the job.
[[noreturn]] void be_worker(MPI_Comm comm) {
  set_world(World::worker_rank);
  {
    MpiWorkerWire wire(comm);
    serve(wire);
  }
  MPI_Comm_free(&comm);
  PMPI_Finalize();
  // The program ends here as if main had returned: its atexit handlers and
  // static destructors run. No thread of spindle's runs on a worker rank.
  std::exit(0);  // NOLINT(concurrency-mt-unsafe)
}

// Releases the workers and frees spindle's communicator; true if MPI is
// spindle's to finalize.
bool close_world() {
  State& s = state();
  MPI_Comm comm;
  bool owns;
  {
    std::scoped_lock guard(s.lock);
    if (!s.started || s.finished) return false;
    s.finished = true;
    comm = std::exchange(s.comm, MPI_COMM_NULL);
    owns = s.owns_mpi;
  }
  g_live.store(false, std::memory_order_release);
  stop_client();  // every queued task completes, the workers leave
  set_world(World::finished);
  int gone = 0;
  MPI_Finalized(&gone);
  if (gone) return false;
  if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  return owns;
}

void finalize_at_exit() {
  spindle::mpi::finalize();
}

void init_impl(int* argc, char*** argv) {
  State& s = state();
  std::unique_lock guard(s.lock);
  if (s.finished) throw RuntimeError("spindle::mpi::init() called after finalize()");
  if (s.started) return;  // rank 0 again (a worker rank never returns)
  int inited = 0;
  MPI_Initialized(&inited);
  int gone = 0;
  MPI_Finalized(&gone);
  if (gone) throw RuntimeError("spindle::mpi::init(): MPI has been finalized already");
  int provided = MPI_THREAD_SINGLE;
  if (inited) {
    MPI_Query_thread(&provided);
  } else {
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    s.owns_mpi = true;
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    throw RuntimeError(std::string("spindle::mpi::init(): MPI provides ") + level_name(provided) +
                       "; spindle needs MPI_THREAD_SERIALIZED (its communication thread makes "
                       "the client's MPI calls)");
  }
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  g_rank.store(rank, std::memory_order_relaxed);
  g_size.store(size, std::memory_order_relaxed);
  long pid = ::getpid();
  std::vector<long> pids(rank == 0 ? static_cast<std::size_t>(size) : 0);
  MPI_Gather(&pid, 1, MPI_LONG, pids.data(), 1, MPI_LONG, 0, comm);
  if (rank != 0) {
    guard.unlock();  // exit-time code may call MPI_Finalize, which takes it
    be_worker(comm);
  }

  s.started = true;
  s.comm = comm;
  register_atexit(finalize_at_exit);  // before the client starts its thread
  if (size > 1) {
    start_client(std::make_unique<MpiClientWire>(comm),
                 std::vector<long>(pids.begin() + 1, pids.end()));
  } else {
    set_world(World::one_rank);
  }
  g_live.store(true, std::memory_order_release);
}

}  // namespace

}  // namespace spindle::detail::mpi

namespace spindle::mpi {

void init(int& argc, char**& argv) {
  detail::mpi::init_impl(&argc, &argv);
}

void init() {
  detail::mpi::init_impl(nullptr, nullptr);
}

void finalize() {
  if (detail::mpi::close_world()) PMPI_Finalize();
}

bool initialized() noexcept {
  return detail::mpi::g_live.load(std::memory_order_acquire);
}

int rank() noexcept {
  return detail::mpi::g_rank.load(std::memory_order_relaxed);
}

int world_size() noexcept {
  return detail::mpi::g_size.load(std::memory_order_relaxed);
}

int worker_count() noexcept {
  return detail::mpi::client_workers();
}

}  // namespace spindle::mpi

// MPI's profiling interface: a program that calls MPI_Finalize itself on
// rank 0 (one that initialised MPI before init()) gets finalize() first, so
// the worker ranks are released; otherwise its MPI_Finalize would wait for
// them forever. The real finalize is PMPI_Finalize. Once MPI is finalized,
// MPI_Finalize does nothing.
extern "C" int MPI_Finalize() {
  (void)spindle::detail::mpi::close_world();
  // On a worker rank spindle has finalized MPI already, behind the program's
  // back: an MPI_Finalize the program's exit-time code makes does nothing.
  int gone = 0;
  MPI_Finalized(&gone);
  return gone ? MPI_SUCCESS : PMPI_Finalize();
}
