// ProcessPoolExecutor against the limits a process pool cannot beat:
//
//   Latency     submit an empty task to a 1-worker pool and wait for its
//               result, one at a time; the floor is a raw pipe ping-pong
//               between two processes (one byte each way, both sides block
//               in read), the least a cross-process round trip costs.
//   Throughput  100,000 tiny tasks (each returns its index) submitted, then
//               every result collected and summed; workers = hardware
//               threads. Also through map() with chunksize 1,000.
//   Large       a 50 MB std::vector<unsigned char> to a worker and back (the
//               task returns its argument); against memcpy of 50 MB into a
//               new vector (fresh pages, what copying a vector costs) and
//               into a buffer already written once (warm pages).
//   Start       create a pool, run one task, destroy it: what starting a
//               worker costs with each start method.
//
// bench/python/process_tiny_tasks.py runs the throughput workload with
// Python's ProcessPoolExecutor.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "spindle/process.hpp"

namespace {

constexpr long kTasks = 100'000;
constexpr std::size_t kLarge = 50u << 20;

int workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

void nothing() {}
long identity(long i) {
  return i;
}
std::vector<unsigned char> echo(std::vector<unsigned char> v) {
  return v;
}

// ---- latency ----------------------------------------------------------------

void BM_Latency_PipePingPongFloor(benchmark::State& state) {
  int to_child[2];
  int to_parent[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(to_parent, O_CLOEXEC) != 0) {
    state.SkipWithError("pipe");
    return;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_child[1]);  // or the read below never sees end of file
    ::close(to_parent[0]);
    char c;
    while (::read(to_child[0], &c, 1) == 1)
      if (::write(to_parent[1], &c, 1) != 1) break;
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  char c = 'x';
  for (auto _ : state) {
    if (::write(to_child[1], &c, 1) != 1 || ::read(to_parent[0], &c, 1) != 1) {
      state.SkipWithError("ping-pong");
      break;
    }
  }
  ::close(to_child[1]);
  ::close(to_parent[0]);
  int status;
  ::waitpid(pid, &status, 0);
}

void BM_Latency_Spindle(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool(1);
  pool.submit(nothing).result();  // the worker is up
  for (auto _ : state) pool.submit(nothing).result();
}

void BM_Latency_SpindleFork(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool({.max_workers = 1, .start_method = spindle::StartMethod::fork});
  pool.submit(nothing).result();
  for (auto _ : state) pool.submit(nothing).result();
}

// ---- throughput -------------------------------------------------------------

void BM_Throughput_Submit(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool(workers());
  std::vector<spindle::Future<long>> fs;
  fs.reserve(kTasks);
  for (long i = 0; i < 2 * workers(); ++i) pool.submit(identity, i).result();
  for (auto _ : state) {
    fs.clear();
    for (long i = 0; i < kTasks; ++i) fs.push_back(pool.submit(identity, i));
    long sum = 0;
    for (auto& f : fs) sum += f.result();
    if (sum != kTasks * (kTasks - 1) / 2) state.SkipWithError("wrong sum");
    state.SetItemsProcessed(state.items_processed() + kTasks);
  }
}

void BM_Throughput_MapChunks1000(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool(workers());
  std::vector<long> in(kTasks);
  for (long i = 0; i < kTasks; ++i) in[static_cast<std::size_t>(i)] = i;
  pool.submit(identity, 0L).result();
  for (auto _ : state) {
    long sum = 0;
    for (long r : pool.map(identity, in, spindle::ProcessMapOptions{.chunksize = 1000})) sum += r;
    if (sum != kTasks * (kTasks - 1) / 2) state.SkipWithError("wrong sum");
    state.SetItemsProcessed(state.items_processed() + kTasks);
  }
}

// ---- large payloads ---------------------------------------------------------

void BM_Large50MB_RoundTrip(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool(1);
  std::vector<unsigned char> big(kLarge, 7);
  pool.submit(echo, std::vector<unsigned char>(16)).result();
  for (auto _ : state) {
    auto f = pool.submit(echo, big);
    if (f.result().size() != kLarge) state.SkipWithError("wrong size");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * kLarge);
}

void BM_Large50MB_MemcpyFresh(benchmark::State& state) {
  std::vector<unsigned char> big(kLarge, 7);
  for (auto _ : state) {
    std::vector<unsigned char> copy(big);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * kLarge);
}

void BM_Large50MB_MemcpyWarm(benchmark::State& state) {
  std::vector<unsigned char> big(kLarge, 7);
  std::vector<unsigned char> copy(kLarge, 1);
  for (auto _ : state) {
    std::memcpy(copy.data(), big.data(), kLarge);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * kLarge);
}

// ---- starting workers -------------------------------------------------------

void BM_Start_Spawn(benchmark::State& state) {
  for (auto _ : state) {
    spindle::ProcessPoolExecutor pool(1);
    pool.submit(nothing).result();
  }
}

void BM_Start_Fork(benchmark::State& state) {
  for (auto _ : state) {
    spindle::ProcessPoolExecutor pool(
        {.max_workers = 1, .start_method = spindle::StartMethod::fork});
    pool.submit(nothing).result();
  }
}

}  // namespace

BENCHMARK(BM_Latency_PipePingPongFloor)->UseRealTime();
BENCHMARK(BM_Latency_Spindle)->UseRealTime();
BENCHMARK(BM_Latency_SpindleFork)->UseRealTime();
BENCHMARK(BM_Throughput_Submit)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Throughput_MapChunks1000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Large50MB_RoundTrip)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Large50MB_MemcpyFresh)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Large50MB_MemcpyWarm)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Start_Spawn)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Start_Fork)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
