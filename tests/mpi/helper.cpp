// Programs that the MPI tests run under mpirun to check how a job ends: at
// exit with work queued, with MPI initialised by the program itself, after
// an explicit finalize(), and when a rank dies (tests/mpi/crash_test.sh).
//
//   mpi_helper exit-return   main returns with 200 tasks queued in a leaked executor
//   mpi_helper exit-exit     std::exit(0) with an executor on the stack and work queued
//   mpi_helper exit-nowait   shutdown(wait=false), then main returns
//   mpi_helper own-mpi       MPI_Init_thread(MULTIPLE) and MPI_Finalize by the program
//   mpi_helper finalize      finalize(), then submit and construct: RuntimeError
//   mpi_helper crash-segv    a task dies of SIGSEGV
//   mpi_helper crash-abort   a task calls abort()
//   mpi_helper crash-exit    a task calls std::exit(0) (no MPI_Finalize: the job ends too)
//   mpi_helper crash-client  rank 0 aborts while a task runs
//
// Every mode prints a line the test looks for; a crash mode prints
// "UNREACHABLE" if the client goes on after the failure.
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "spindle/mpi.hpp"

namespace {

using spindle::Future;
using spindle::mpi::MPIPoolExecutor;

constexpr int kTasks = 200;
std::atomic<int> g_done{0};

// A task that takes a few milliseconds (its length is the point: work is
// still queued when the client exits).
long work(long i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return i;
}
long segv(long) {
  std::raise(SIGSEGV);
  return 0;
}
long do_abort(long) {
  std::abort();
}
long do_exit(long) {
  std::exit(0);
}
long sleep_long(long) {
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}

void submit_counted(MPIPoolExecutor& pool) {
  for (long i = 0; i < kTasks; ++i) {
    Future<long> f = pool.submit(work, i);
    f.add_done_callback([](Future<long>& g) {
      if (!g.cancelled() && g.exception() == nullptr && ++g_done == kTasks) {
        std::printf("all %d tasks ran\n", kTasks);
        std::fflush(stdout);
      }
    });
  }
}

int crash(long (*fn)(long)) {
  MPIPoolExecutor pool;
  Future<long> ok = pool.submit(work, 1L);
  std::printf("first result %ld\n", ok.result());
  std::fflush(stdout);
  Future<long> f = pool.submit(fn, 2L);
  (void)f.exception();  // the job ends before this returns
  std::printf("UNREACHABLE\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "own-mpi") {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  }
  spindle::mpi::init(argc, argv);
  if (mode == "exit-return") {
    submit_counted(*new MPIPoolExecutor);  // leaked on purpose: the exit hook runs the work
    return 0;
  }
  if (mode == "exit-exit") {
    MPIPoolExecutor pool;
    submit_counted(pool);
    std::exit(0);
  }
  if (mode == "exit-nowait") {
    MPIPoolExecutor pool;
    submit_counted(pool);
    pool.shutdown(false);
    return 0;
  }
  if (mode == "own-mpi") {
    {
      MPIPoolExecutor pool;
      submit_counted(pool);
    }
    // spindle interposes MPI_Finalize: the workers are released first.
    MPI_Finalize();
    std::printf("finalized by the program\n");
    return 0;
  }
  if (mode == "finalize") {
    MPIPoolExecutor pool;
    submit_counted(pool);
    spindle::mpi::finalize();
    spindle::mpi::finalize();  // again: nothing
    try {
      (void)pool.submit(work, 1L);
    } catch (const spindle::RuntimeError& e) {
      std::printf("submit: %s\n", e.what());
    }
    try {
      MPIPoolExecutor late;
    } catch (const spindle::RuntimeError& e) {
      std::printf("construct: %s\n", e.what());
    }
    std::printf("initialized=%d workers=%d\n", spindle::mpi::initialized() ? 1 : 0,
                spindle::mpi::worker_count());
    return 0;
  }
  if (mode == "crash-segv") return crash(segv);
  if (mode == "crash-abort") return crash(do_abort);
  if (mode == "crash-exit") return crash(do_exit);
  if (mode == "crash-client") {
    MPIPoolExecutor pool;
    Future<long> f = pool.submit(sleep_long, 1L);
    while (!f.running()) std::this_thread::yield();
    std::printf("client aborting\n");
    std::fflush(stdout);
    std::abort();
  }
  std::fprintf(stderr, "mpi_helper: unknown mode '%s'\n", mode.c_str());
  return 2;
}
