// Seed 001's CPU-bound program, spread over the ranks of an MPI job.
//
// The seed runs cpu_bound_task(10_000_000) twice, first one after the other,
// then in two threads, and finds the threads no faster: the GIL. C++ threads
// have no GIL, but one machine still has only so many cores; with MPI the
// same map() reaches every core of every machine in the job:
//
//   mpirun -n 4 ./example_mpi_cpu_bound                      # this machine: 3 workers
//   mpirun -n 33 --hostfile hosts ./example_mpi_cpu_bound    # 32 workers on several machines
//
// (README.md, "Scaling past one machine", has the hostfile.) Rank 0 runs
// main(); every other rank computes the tasks.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "spindle/mpi.hpp"

namespace {

// cpu_bound_task: count += i ** 2, with the running count mixed in so that
// the compiler cannot replace the loop by a formula (Python's integers never
// overflow; these wrap, the same on every rank).
std::uint64_t cpu_bound_task(std::uint64_t n, std::uint64_t seed) {
  std::uint64_t count = seed;
  for (std::uint64_t i = 0; i < n; ++i) count += (i * i) ^ (count >> 7);
  return count;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  spindle::mpi::init(argc, argv);  // ranks 1..N-1 serve tasks from here and never return
  const int workers = spindle::mpi::worker_count();
  if (workers == 0) {
    std::printf(
        "No worker ranks: start this program with mpirun -n N (N >= 2), e.g.\n"
        "  mpirun -n 4 %s\n",
        argv[0]);
    return 0;
  }
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const int tasks = std::max(2, 2 * workers);
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(tasks));
  for (int t = 0; t < tasks; ++t)
    seeds[static_cast<std::size_t>(t)] = static_cast<std::uint64_t>(t);

  // One after the other, on rank 0.
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> expected;
  for (std::uint64_t s : seeds) expected.push_back(cpu_bound_task(n, s));
  const double single_time = seconds_since(t0);
  std::printf("One rank, %d tasks of %llu steps: %.2fs\n", tasks,
              static_cast<unsigned long long>(n), single_time);

  // The same tasks over the worker ranks: map() keeps the input order.
  spindle::mpi::MPIPoolExecutor pool;
  const std::vector<std::uint64_t> ns(seeds.size(), n);
  t0 = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> got;
  for (std::uint64_t r : pool.map(cpu_bound_task, ns, seeds)) got.push_back(r);
  const double mpi_time = seconds_since(t0);
  std::printf("%d worker ranks, the same tasks with map(): %.2fs\n", workers, mpi_time);
  std::printf("Speedup: %.2fx (at most the number of cores the workers have)\n",
              single_time / mpi_time);
  if (got != expected) {
    std::printf("WRONG: the workers computed different results\n");
    return 1;
  }
  std::printf("every result matches the single-rank run\n");
  return 0;
}
