// MPIPoolExecutor over the in-process wire: the workers are threads of this
// process standing for ranks 1..3. The client, its communication thread and
// the worker loop are the ones MPI runs; this is where LeakSanitizer sees
// them (leaks in Open MPI's own libraries hide ours under mpirun) and where
// ThreadSanitizer sees them with no suppression at all (under mpirun, Open
// MPI's own reports are suppressed: tests/mpi/openmpi.tsan.supp).
#define SPINDLE_MPI_LOOPBACK 1
#include "scenarios.hpp"

namespace {

constexpr int kWorkers = 3;

class LoopbackWorld : public ::testing::Environment {
 public:
  void SetUp() override { spindle::detail::mpi::start_loopback(kWorkers); }
  void TearDown() override { spindle::detail::mpi::stop_loopback(); }
};
[[maybe_unused]] ::testing::Environment* const g_world =
    ::testing::AddGlobalTestEnvironment(new LoopbackWorld);

using mpi_scenarios::square;
using mpi_scenarios::wait_for_gate;

TEST(MPIPoolExecutor, without_init_the_constructor_says_to_call_init) {
  spindle::detail::mpi::stop_loopback();
  EXPECT_EQ(spindle::mpi::worker_count(), 0);
  try {
    spindle::mpi::MPIPoolExecutor pool;
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("spindle::mpi::init() was not called"), std::string::npos)
        << e.what();
  }
  spindle::detail::mpi::start_loopback(kWorkers);
  EXPECT_EQ(spindle::mpi::worker_count(), kWorkers);
}

// As at finalize() and process exit: the work queued first completes, then
// the workers leave; an executor that outlives the client says so.
TEST(MPIPoolExecutor, stopping_the_client_completes_queued_work_first) {
  spindle_test::Watchdog wd("stop with work queued");
  auto pool = std::make_unique<spindle::mpi::MPIPoolExecutor>();
  std::vector<spindle::Future<long>> fs;
  for (long i = 0; i < 2000; ++i) fs.push_back(pool->submit(square, i));
  spindle::detail::mpi::stop_loopback();
  for (long i = 0; i < 2000; ++i) {
    ASSERT_TRUE(fs[static_cast<std::size_t>(i)].done());
    EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i * i);
  }
  try {
    (void)pool->submit(square, 1L);
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after interpreter shutdown");
  }
  pool.reset();
  spindle::detail::mpi::start_loopback(kWorkers);
}

// The exit's drain does not stop at a batch of cancelled tasks: everything
// behind them still runs. A fresh client sends one task per worker while it
// knows nothing of their length, so with every worker held by a gated task,
// the tasks behind them are taken three at a time once the gate opens - the
// first three all cancelled.
TEST(MPIPoolExecutor, stopping_the_client_runs_what_follows_cancelled_tasks) {
  spindle_test::Watchdog wd("stop past cancelled tasks");
  spindle::detail::mpi::stop_loopback();
  spindle::detail::mpi::start_loopback(kWorkers);
  spindle::mpi::MPIPoolExecutor pool;
  const std::string gate = mpi_scenarios::new_gate();
  std::vector<spindle::Future<long>> held;
  for (long i = 0; i < kWorkers; ++i) held.push_back(pool.submit(wait_for_gate, gate, i));
  for (auto& f : held) {
    while (!f.running()) std::this_thread::yield();
  }
  std::vector<spindle::Future<long>> cancelled;
  for (long i = 0; i < 50; ++i) cancelled.push_back(pool.submit(square, i));
  std::vector<spindle::Future<long>> last;
  for (long i = 0; i < 10; ++i) last.push_back(pool.submit(square, i));
  for (auto& f : cancelled) EXPECT_TRUE(f.cancel());
  // Opens the gate once the exit has begun (submitting is refused then).
  spindle::mpi::MPIPoolExecutor probe;
  std::thread opener([&] {
    for (;;) {
      try {
        (void)probe.submit(square, 1L);
      } catch (const spindle::RuntimeError&) {
        break;
      }
      std::this_thread::yield();
    }
    mpi_scenarios::open_gate(gate);
  });
  spindle::detail::mpi::stop_loopback();
  opener.join();
  for (long i = 0; i < 10; ++i) {
    ASSERT_TRUE(last[static_cast<std::size_t>(i)].done()) << i;
    EXPECT_EQ(last[static_cast<std::size_t>(i)].result(), i * i);
  }
  for (auto& f : held) EXPECT_TRUE(f.done());
  std::filesystem::remove(gate);
  spindle::detail::mpi::start_loopback(kWorkers);
}

}  // namespace
