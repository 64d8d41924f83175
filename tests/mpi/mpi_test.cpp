// MPIPoolExecutor under mpirun: rank 0 runs these tests, the other ranks
// are the workers (CTest starts this program with mpirun -n 4 and -n 3; with
// -n 1 and without mpirun only the one-rank test has something to check).
#include "scenarios.hpp"

namespace {

TEST(MPIPoolExecutor, one_rank_gives_a_clear_error) {
  if (spindle::mpi::worker_count() != 0) GTEST_SKIP() << "this job has worker ranks";
  EXPECT_TRUE(spindle::mpi::initialized());
  EXPECT_EQ(spindle::mpi::world_size(), 1);
  EXPECT_EQ(spindle::mpi::rank(), 0);
  try {
    spindle::mpi::MPIPoolExecutor pool;
    ADD_FAILURE() << "no exception";
  } catch (const spindle::RuntimeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no worker ranks"), std::string::npos) << what;
    EXPECT_NE(what.find("mpirun -n N"), std::string::npos) << what;
  }
}

TEST(MPIPoolExecutor, the_job_is_rank_0_and_its_workers) {
  SPINDLE_NEEDS_WORKERS();
  EXPECT_TRUE(spindle::mpi::initialized());
  EXPECT_EQ(spindle::mpi::rank(), 0);
  EXPECT_EQ(spindle::mpi::worker_count(), spindle::mpi::world_size() - 1);
  int argc = 0;
  char** argv = nullptr;
  spindle::mpi::init(argc, argv);  // again on rank 0: returns at once
  EXPECT_EQ(spindle::mpi::rank(), 0);
}

}  // namespace

int main(int argc, char** argv) {
  spindle::mpi::init(argc, argv);  // ranks 1..N-1 serve tasks and never return
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
