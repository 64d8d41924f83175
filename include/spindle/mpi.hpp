// spindle/mpi.hpp - mpi4py.futures.MPIPoolExecutor: the executor's tasks run
// on the ranks of an MPI job (Open MPI), on one machine or many.
//
//     long square(long x) { return x * x; }
//
//     int main(int argc, char** argv) {
//       spindle::mpi::init(argc, argv);          // ranks 1..N-1 serve tasks here, never return
//       spindle::mpi::MPIPoolExecutor pool;      // rank 0: the program goes on as the client
//       spindle::Future<long> f = pool.submit(square, 7L);
//       long v = f.result();                     // 49, computed on another rank
//       std::vector<long> xs{1, 2, 3};
//       for (long r : pool.map(square, xs, spindle::mpi::MPIMapOptions{.chunksize = 64}))
//         use(r);                                // input order
//     }
//
//     $ mpirun -n 4 ./app                        # one client + 3 workers on this machine
//
// The same spindle::Future<R> as ThreadPoolExecutor and ProcessPoolExecutor:
// wait(), as_completed() and done-callbacks mix futures of all three. Link
// with the CMake target spindle::mpi (built when CMake finds MPI; the core
// library spindle::spindle does not depend on MPI).
//
// ## Starting: one call at the top of main()
//
// Every rank of an MPI job runs the same program from the start. init()
// makes rank 0 the client and every other rank a worker, as mpi4py's
// `mpiexec -n N python -m mpi4py.futures app.py` does:
//   * on rank 0 it returns, and the program goes on; MPIPoolExecutor sends
//     its tasks to the other ranks;
//   * on ranks 1..N-1 it never returns: the rank serves tasks until the
//     client's program ends (return from main, std::exit) or calls
//     finalize(), then calls MPI_Finalize and std::exit(0). Those ranks run
//     the program's static initializers and main() up to the init() call,
//     and nothing after it: call init() first in main(), and give tasks what
//     they need through their arguments (as for a process pool's worker,
//     main()'s state is not there).
//
// One machine:        mpirun -n 4 ./app                (add --oversubscribe for
//                                                       more ranks than cores)
// Several machines:   mpirun -n 16 --hostfile hosts ./app
//                     where `hosts` lists one machine per line, with how many
//                     ranks it takes:   node1 slots=8
//                                       node2 slots=8
//                     Rank 0 (the client) is the first slot of the first host.
//                     Every machine must have the same executable at the same
//                     path (a shared directory, or a copy) and the same
//                     shared libraries: a task names its function by its
//                     offset in the executable (see "What can be submitted").
//                     Open MPI reaches the other machines with ssh
//                     (passwordless) and talks to them over TCP.
// As root, Open MPI's mpirun wants --allow-run-as-root (or the variables
// OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).
//
// Started without mpirun (./app), or with mpirun -n 1, the program is an MPI
// job of one process: init() returns, worker_count() is 0, and constructing
// an MPIPoolExecutor throws RuntimeError "MPIPoolExecutor: no worker ranks
// ...", which says how to start the program. (mpi4py would run the tasks in
// a thread of the client, or start workers with MPI_Comm_spawn; spindle
// says so instead.) A program that wants to run either way can choose:
//
//     if (spindle::mpi::worker_count() == 0) { /* use a ProcessPoolExecutor */ }
//
// ## What can be submitted
//
// Exactly what a ProcessPoolExecutor takes, checked at compile time by the
// same rules (spindle/process.hpp, "What can be submitted"; the compiler's
// messages name ProcessPoolExecutor): a plain function or a lambda without
// captures, arguments and a result that cereal can serialise. Tasks travel
// as the process pool's encoding (function identity + cereal payloads): the
// worker ranks run the same executable, where the function is found at the
// same offset. Arguments are serialised in submit(); the result is decoded
// on the client's communication thread. One task's arguments, or its result,
// may take up to 2 GiB - 1 bytes (an MPI message's count is an int):
// larger arguments make submit() throw OverflowError; a larger result fails
// its future with OverflowError.
//
// ## Failures
//
// A task's exception comes back to its future as for a process pool: the
// same type for spindle's and the standard library's exceptions, RemoteError
// (a RuntimeError, with the original type's name, what() and the worker's
// pid) for any other type.
//
// A worker rank that dies - a crash (SIGSEGV), abort(), SIGKILL from
// outside, or std::exit / _exit called by a task - ends the whole job. This
// is Open MPI's rule, not spindle's: a process of the job that ends without
// MPI_Finalize makes mpirun kill every other rank, the client included, and
// exit with a non-zero status and a message such as
//     mpirun noticed that process rank 2 with PID 1234 on node n1 exited on
//     signal 11 (Segmentation fault).
// or, for std::exit (even std::exit(0)), "mpirun has exited due to process
// rank 2 ... exiting improperly". No future completes then, nothing hangs,
// and the program's code after the failure does not run (unlike
// ProcessPoolExecutor's BrokenProcessPool, which a program can catch). The
// same happens if the client rank dies: the workers are killed.
// tests/mpi/crash_test.sh checks a crash, abort(), std::exit(0) in a task and
// a client that aborts.
//
// ## Shutdown and exit (C91-C93, C102, C103 as for ThreadPoolExecutor)
//
// shutdown(wait=false) never strands work: every submitted task still runs
// (gh-119592). The destructor is shutdown(true). At process exit on rank 0
// (spindle's exit hook, before non-daemon threads are joined), or at
// finalize(), every task queued by any executor completes first, then the
// worker ranks are released and MPI_Finalize is called. Submitting after
// that throws RuntimeError "cannot schedule new futures after interpreter
// shutdown".
//
// ## Threads and MPI's thread level
//
// On rank 0 one thread, "MPIPoolExecutor_comm" (a non-daemon spindle::Thread
// started by init()), polls MPI for the workers' results and completes the
// futures, so done-callbacks run there - keep them short, as in Python, and
// do not wait in them for another MPI future. It also sends the queued
// tasks; submit() queues its encoded task and, when that thread is not in
// MPI at the moment, sends it itself. The client's MPI calls are made one at
// a time under one lock, so init() asks MPI for MPI_THREAD_SERIALIZED (MPI
// calls from one thread at a time, any thread). A program that makes
// MPI calls of its own on rank 0 while executors run needs
// MPI_THREAD_MULTIPLE: call MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...)
// yourself before init(), which then uses that MPI (it uses a duplicate of
// MPI_COMM_WORLD, so its messages never mix with yours) and leaves
// MPI_Finalize to you. spindle defines MPI_Finalize (MPI's profiling
// interface; the real one is PMPI_Finalize) so that it runs finalize()
// first: the workers are released instead of being waited for forever.
// docs/design/mpi.md has the reasons and the measurements.
//
// Waiting: MPI cannot wake a thread, so the waiting sides poll. The
// communication thread polls MPI for 2 ms after its last message or
// submit() (yielding its core at each poll, except for the first 50 us while
// a result is due); then, while results are due, it sleeps for spells that
// double up to 1 ms, and with nothing due it parks until a submit() wakes
// it (spindle/detail/spin.hpp names these limits). An idle worker
// rank polls for 2 ms after its last task (yielding after the first 20 us),
// then sleeps the same way (mpi4py.futures' backoff also stops at 1 ms). So
// a task that follows a quiet spell waits for its worker's next wake-up (up
// to 1 ms on an idle machine, more on a busy one; a process pool's worker,
// blocked in the kernel, is woken at once), and rank 0 and each busy worker
// keep a core polling for 2 ms after each burst of work (giving it up
// whenever another thread wants it); idle ranks cost almost no CPU.
//
// Memory ordering: a thread that sees a future done (result(), wait(), a
// callback) sees the result fully decoded.
//
// ## What is not promised
//
// Which worker rank runs a task, and the order tasks start beyond
// "submitted first, dispatched first" (all executors of the process share
// one queue and every worker). When tasks are short, the client sends a
// worker several at once (about 2 ms of measured work, at most 64; one
// while it knows nothing of their length); a dispatched task counts as
// running, so cancel() and shutdown(cancel_futures=true) no longer reach it.
// Output of different ranks may interleave (mpirun forwards it; a worker
// flushes std::cout and C stdio before it sends results, so a task's output
// is out before its future completes).
//
// Not offered: mpi4py's max_workers (every executor uses every worker
// rank), initializer, unordered map, MPI_Comm_spawn of workers, and tasks
// that make MPI calls on the job's communicators.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/detail/process_codec.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"
#include "spindle/executor.hpp"
#include "spindle/future.hpp"
#include "spindle/process.hpp"

namespace spindle::detail::mpi {
class ExecState;
/// The executor's end of the client: checks that tasks can be sent (the
/// errors of MPIPoolExecutor's constructor).
std::shared_ptr<ExecState> open_executor();
void submit(const std::shared_ptr<ExecState>& ex, process::Payload call,
            std::unique_ptr<process::Completion> done);
void shutdown(ExecState& ex, bool wait, bool cancel_futures);
int workers(const ExecState& ex) noexcept;

/// Test hook (tests/mpi/loopback_test.cpp): runs the client over `workers`
/// threads of this process that stand for worker ranks, instead of MPI;
/// stop_loopback() ends it as finalize() would. Not for programs.
void start_loopback(int workers);
void stop_loopback();
}  // namespace spindle::detail::mpi

namespace spindle::mpi {

// ---------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------

/// Makes this process a member of the MPI job: rank 0 returns and is the
/// client; every other rank serves tasks and never returns (see the file
/// comment). Initialises MPI with MPI_THREAD_SERIALIZED unless it is
/// initialised already (then it checks the thread level and leaves
/// MPI_Finalize to the caller). `argc`/`argv` go to MPI_Init_thread, which
/// may remove the arguments it handles. Blocks until every rank has called
/// it (it exchanges the workers' process ids). A second call on rank 0
/// returns at once. Throws RuntimeError if MPI provides less than
/// MPI_THREAD_SERIALIZED, or if called after finalize(); an MPI error
/// aborts the job (MPI's default error handler).
void init(int& argc, char**& argv);
/// init() without command-line arguments.
void init();

/// On rank 0: completes every task that any executor has queued, releases
/// the worker ranks (they leave) and, if init() initialised MPI, calls
/// MPI_Finalize. Blocks until then. Runs by itself at process exit; call it
/// earlier only to finish MPI before other exit-time work (or before your
/// own MPI_Finalize). Later submit() throws RuntimeError. Calling it again,
/// or without init(), does nothing.
void finalize();

/// True between init() and finalize() on rank 0.
[[nodiscard]] bool initialized() noexcept;
/// This process's rank in MPI_COMM_WORLD (0 on the client).
[[nodiscard]] int rank() noexcept;
/// The number of ranks in the job (1 without mpirun), 0 before init().
[[nodiscard]] int world_size() noexcept;
/// The ranks that run tasks: world_size() - 1 while initialized(), else 0.
/// Takes a lock: call it once, not in a loop.
[[nodiscard]] int worker_count() noexcept;

// ---------------------------------------------------------------------------
// MPIPoolExecutor
// ---------------------------------------------------------------------------

/// Options of MPIPoolExecutor::map: the same as ProcessPoolExecutor::map's
/// (timeout from the map() call; chunksize inputs per task, < 1 ValueError
/// "chunksize must be >= 1.").
using MPIMapOptions = ProcessMapOptions;

/// The range MPIPoolExecutor::map returns: ProcessPoolExecutor::map's, with
/// its rules (C101): results in input order; begin() starts it; a chunk's
/// exception is thrown when the chunk is reached, and a result not ready by
/// the deadline throws TimeoutError, either ending the range; dropping a
/// started range cancels the chunks not yet dispatched; dropping one never
/// started cancels nothing.
template <class R>
using MPIMapResults = ProcessMapResults<R>;

/// mpi4py.futures.MPIPoolExecutor over the worker ranks of the job started
/// by mpirun. Every executor of the process shares the workers; create as
/// many as you like, at once or in turn. See the file comment for starting,
/// failures and shutdown.
class MPIPoolExecutor {
 public:
  /// Throws RuntimeError "MPIPoolExecutor: spindle::mpi::init() was not
  /// called ..." before init() (or on a worker rank, where it cannot be
  /// reached), "MPIPoolExecutor: no worker ranks ..." when the job has one
  /// rank (started without mpirun, or mpirun -n 1), "cannot schedule new
  /// futures after interpreter shutdown" after finalize(). Cheap: starts
  /// nothing.
  MPIPoolExecutor();
  /// shutdown(wait=true) (C102). Don't destroy an executor from its own
  /// done-callback.
  ~MPIPoolExecutor();
  MPIPoolExecutor(const MPIPoolExecutor&) = delete;
  MPIPoolExecutor& operator=(const MPIPoolExecutor&) = delete;

  /// Schedules fn(args...) on a worker rank and returns its Future<R>, R the
  /// decayed result type (void allowed). The arguments are serialised now.
  /// Throws RuntimeError "cannot schedule new futures after shutdown" (C91)
  /// or "... after interpreter shutdown", ValueError for a null function
  /// pointer, OverflowError for arguments over 2 GiB - 1 bytes, whatever a
  /// user serialize() throws. Never blocks on the task.
  template <class F, class... A>
  [[nodiscard]] auto submit(F&& fn, A&&... args) {
    using namespace detail::process;
    if constexpr (check_submittable<F, A...>()) {
      using R = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, wire_t<A>&&...>>;
      Sink sink(false);
      Payload p = encode_call<&call_entry<F, wire_t<A>...>>(sink, fn, std::forward<A>(args)...);
      Future<R> fut;
      detail::mpi::submit(state_, std::move(p), std::make_unique<FutureCompletion<R>>(fut));
      return fut;
    } else {
      return Future<void>();  // unreachable: check_submittable failed to compile
    }
  }

  /// Python's map(fn, *iterables, timeout=None, chunksize=1): calls fn on
  /// each tuple of items of the input ranges (zipped; stops at the
  /// shortest), in tasks of `chunksize` calls each, all submitted before map
  /// returns, and returns the results in input order. A trailing
  /// MPIMapOptions sets timeout and chunksize. Throws ValueError "chunksize
  /// must be >= 1.", and what submit() throws. The function must return a
  /// value (use submit() for void). For tiny tasks a chunksize of a few
  /// hundred saves most of the per-task cost.
  template <class F, class... A>
  [[nodiscard]] auto map(F&& fn, A&&... a) {
    return detail::with_trailing_options<MPIMapOptions>(
        [this](const MPIMapOptions& o, auto&& f, auto&&... r) {
          return map_impl(o, std::forward<decltype(f)>(f), std::forward<decltype(r)>(r)...);
        },
        std::forward<F>(fn), std::forward<A>(a)...);
  }

  /// Stops accepting work (later submit: RuntimeError, C91). With
  /// cancel_futures, cancels this executor's tasks not yet dispatched to a
  /// worker (C93). Everything else still runs to completion, also with
  /// wait=false. With wait, blocks until every task of this executor has
  /// completed; called from a done-callback (the communication thread) it
  /// does not wait. The worker ranks stay for other executors (they leave
  /// at finalize()). Calling it again is allowed (C92).
  void shutdown(bool wait = true, bool cancel_futures = false);

  /// The number of worker ranks (mpi4py 4's num_workers): world_size() - 1.
  [[nodiscard]] int num_workers() const noexcept;

 private:
  template <class F, class... Rs>
  auto map_impl(const MPIMapOptions& opt, F&& fn, Rs&&... rs);

  std::shared_ptr<detail::mpi::ExecState> state_;
};

template <class F, class... Rs>
auto MPIPoolExecutor::map_impl(const MPIMapOptions& opt, F&& fn, Rs&&... rs) {
  using namespace detail::process;
  static_assert(sizeof...(Rs) > 0, "map() needs at least one input range");
  static_assert((std::ranges::input_range<Rs> && ...), "map() takes input ranges");
  constexpr bool ok = check_submittable<F, std::ranges::range_reference_t<Rs>...>();
  if constexpr (ok) {
    using R = call_result_t<F, wire_t<std::ranges::range_reference_t<Rs>>...>;
    static_assert(!std::is_void_v<R>,
                  "map() needs a function that returns a value; use submit() for void");
    using Item = std::tuple<wire_t<std::ranges::range_reference_t<Rs>>...>;
    if (opt.chunksize < 1) throw ValueError("chunksize must be >= 1.");
    const detail::Deadline deadline =
        opt.timeout ? detail::future_deadline(*opt.timeout) : detail::Deadline::never();
    constexpr Entry entry = &chunk_entry<F, wire_t<std::ranges::range_reference_t<Rs>>...>;
    std::deque<Future<std::vector<R>>> fs;
    std::vector<Item> chunk;
    const auto flush = [&] {
      Sink sink(false);
      write_call_head<entry>(sink, fn);
      {
        OutStream os(sink);
        cereal::BinaryOutputArchive ar(os.get());
        ar(chunk);
      }
      Future<std::vector<R>> f;
      detail::mpi::submit(state_, sink.take(),
                          std::make_unique<FutureCompletion<std::vector<R>>>(f));
      fs.push_back(std::move(f));
      chunk.clear();
    };
    auto its = std::tuple(std::ranges::begin(rs)...);
    const auto ends = std::tuple(std::ranges::end(rs)...);
    const auto at_end = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((std::get<I>(its) == std::get<I>(ends)) || ...);
    };
    const auto seq = std::index_sequence_for<Rs...>{};
    while (!at_end(seq)) {
      std::apply([&](auto&... it) { chunk.emplace_back(*it...); }, its);
      std::apply([](auto&... it) { (++it, ...); }, its);
      if (static_cast<long>(chunk.size()) == opt.chunksize) flush();
    }
    if (!chunk.empty()) flush();
    using Chunks = MapResults<std::vector<R>>;
    return detail::FutureAccess::make<MPIMapResults<R>>(
        std::make_unique<Chunks>(detail::FutureAccess::make<Chunks>(
            std::move(fs), std::unique_ptr<detail::MapSource<std::vector<R>>>(),
            std::shared_ptr<detail::ExecutorAnchor>(), deadline)));
  } else {
    // Unreachable: the checks above failed to compile.
    return detail::FutureAccess::make<MPIMapResults<int>>(nullptr);
  }
}

}  // namespace spindle::mpi
