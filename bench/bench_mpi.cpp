// MPIPoolExecutor against the floor of MPI itself and against the process
// pool, in one run of one MPI job (run it with mpirun; N ranks = 1 client +
// N-1 workers):
//
//   mpirun -n 3 build/release/bench/bench_mpi            # a table
//   mpirun -n 3 build/release/bench/bench_mpi --json     # one JSON line
//
// As root add --allow-run-as-root; with more ranks than cores,
// --oversubscribe. bench/python/mpi_tiny_tasks.py runs this program and
// mpi4py.futures on the same work and prints them side by side.
//
//   Ping-pong   the floor: rank 0 and rank 1 exchange a 16-byte message with
//               MPI_Send/MPI_Recv, before spindle starts (the other ranks
//               wait without polling, as idle spindle workers do).
//   Latency     submit(nothing) and wait for its result, one at a time.
//               Both round trips are measured as 50 samples of 200: the
//               median sample and the best (the least disturbed by other
//               programs on a shared machine) are reported.
//   Throughput  10,000 tiny tasks (each returns its index) submitted, then
//               every result collected and summed (checked); also map() with
//               chunksize 1 and 100.
//   Large       a 50 MB std::vector<unsigned char> to a worker and back.
//   The process pool does the same on this machine with as many workers as
//   there are worker ranks (spawned processes of this program).
// Each other figure is the median of several rounds.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "spindle/mpi.hpp"
#include "spindle/process.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void nothing() {}
long identity(long i) {
  return i;
}
std::vector<unsigned char> echo(std::vector<unsigned char> v) {
  return v;
}

struct Options {
  long tasks = 10'000;
  long latency_rounds = 200;
  int rounds = 5;
  std::size_t large = 50u << 20;
  bool json = false;
  bool process_pool = true;
  /// Latency: this many samples of latency_rounds round trips.
  [[nodiscard]] int samples() const { return 10 * rounds; }
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The median over `rounds` of body()'s seconds.
double timed(int rounds, const std::function<double()>& body) {
  std::vector<double> s;
  for (int r = 0; r < rounds; ++r) s.push_back(body());
  return median(s);
}

// A round trip in microseconds over many short samples: the median sample,
// and the best one (the least disturbed by other programs on a shared
// machine).
struct RoundTrip {
  double median_us = 0;
  double best_us = 0;
};
RoundTrip round_trip(std::vector<double> us) {
  if (us.empty()) return {};
  return RoundTrip{median(us), *std::min_element(us.begin(), us.end())};
}

// ---- the MPI floor ------------------------------------------------------------

// Round trip of a 16-byte message between ranks 0 and 1 (rank 0's result;
// nothing elsewhere): `samples` samples of `per_sample` round trips. Ranks
// >= 2 wait in a barrier they poll once a millisecond, so that they take no
// CPU from the two that measure.
RoundTrip ping_pong(long per_sample, int samples) {
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char buf[16] = {};
  std::vector<double> us;
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank <= 1 && size > 1) {
    for (int k = 0; k < samples; ++k) {
      const auto t0 = Clock::now();
      for (long i = 0; i < per_sample; ++i) {
        if (rank == 0) {
          MPI_Send(buf, sizeof buf, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
          MPI_Recv(buf, sizeof buf, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
          MPI_Recv(buf, sizeof buf, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
          MPI_Send(buf, sizeof buf, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
      }
      us.push_back(seconds_since(t0) * 1e6 / static_cast<double>(per_sample));
    }
  }
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  for (int done = 0; !done;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done && rank >= 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return rank == 0 ? round_trip(std::move(us)) : RoundTrip{};
}

// ---- one executor ------------------------------------------------------------

struct Figures {
  RoundTrip latency;
  double submit_tps = 0;
  double map1_tps = 0;
  double map100_tps = 0;
  double large_ms = 0;
};

template <class Pool, class MapOptions>
Figures measure(Pool& pool, const Options& o, bool large) {
  Figures out;
  for (int i = 0; i < 64; ++i) pool.submit(nothing).result();  // every worker is up
  std::vector<double> us;
  for (int k = 0; k < o.samples(); ++k) {
    const auto t0 = Clock::now();
    for (long i = 0; i < o.latency_rounds; ++i) pool.submit(nothing).result();
    us.push_back(seconds_since(t0) * 1e6 / static_cast<double>(o.latency_rounds));
  }
  out.latency = round_trip(std::move(us));
  const long n = o.tasks;
  const long want = n * (n - 1) / 2;
  std::vector<spindle::Future<long>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  out.submit_tps = static_cast<double>(n) / timed(o.rounds, [&] {
                     const auto t0 = Clock::now();
                     fs.clear();
                     for (long i = 0; i < n; ++i) fs.push_back(pool.submit(identity, i));
                     long sum = 0;
                     for (auto& f : fs) sum += f.result();
                     const double s = seconds_since(t0);
                     if (sum != want) {
                       std::fprintf(stderr, "bench_mpi: wrong sum\n");
                       std::exit(1);
                     }
                     return s;
                   });
  std::vector<long> in(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) in[static_cast<std::size_t>(i)] = i;
  const auto map_tps = [&](long chunksize) {
    return static_cast<double>(n) / timed(o.rounds, [&] {
             const auto t0 = Clock::now();
             long sum = 0;
             for (long r : pool.map(identity, in, MapOptions{.chunksize = chunksize})) sum += r;
             const double s = seconds_since(t0);
             if (sum != want) {
               std::fprintf(stderr, "bench_mpi: wrong sum\n");
               std::exit(1);
             }
             return s;
           });
  };
  out.map1_tps = map_tps(1);
  out.map100_tps = map_tps(100);
  if (large) {
    const std::vector<unsigned char> big(o.large, 7);
    out.large_ms = timed(std::min(o.rounds, 3),
                         [&] {
                           const auto t0 = Clock::now();
                           auto f = pool.submit(echo, big);
                           if (f.result().size() != big.size()) std::exit(1);
                           return seconds_since(t0);
                         }) *
                   1e3;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_mpi: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") {
      o.json = true;
    } else if (a == "--quick") {  // checks that everything runs
      o.tasks = 2'000;
      o.latency_rounds = 100;
      o.rounds = 1;
      o.large = 4u << 20;
    } else if (a == "--tasks") {
      o.tasks = std::atol(next());
    } else if (a == "--latency-rounds") {
      o.latency_rounds = std::atol(next());
    } else if (a == "--rounds") {
      o.rounds = std::max(1, std::atoi(next()));
    } else if (a == "--no-process-pool") {
      o.process_pool = false;
    } else {
      std::fprintf(stderr,
                   "usage: mpirun -n N bench_mpi [--json] [--quick] [--tasks N] "
                   "[--latency-rounds N] [--rounds N] [--no-process-pool]\n");
      std::exit(2);
    }
  }
  return o;
}

void print(const Options& o, int ranks, RoundTrip pingpong, const Figures& m, const Figures* p) {
  if (o.json) {
    std::printf(
        "{\"workload\": \"mpi\", \"ranks\": %d, \"tasks\": %ld, \"pingpong_us\": %.2f, "
        "\"pingpong_best_us\": %.2f, \"mpi\": {\"latency_us\": %.2f, \"latency_best_us\": %.2f, "
        "\"submit_tps\": %.0f, \"map1_tps\": %.0f, \"map100_tps\": %.0f, \"large_ms\": %.1f}",
        ranks, o.tasks, pingpong.median_us, pingpong.best_us, m.latency.median_us,
        m.latency.best_us, m.submit_tps, m.map1_tps, m.map100_tps, m.large_ms);
    if (p != nullptr) {
      std::printf(
          ", \"process\": {\"latency_us\": %.2f, \"latency_best_us\": %.2f, \"submit_tps\": "
          "%.0f, \"map1_tps\": %.0f, \"map100_tps\": %.0f}",
          p->latency.median_us, p->latency.best_us, p->submit_tps, p->map1_tps, p->map100_tps);
    }
    std::printf("}\n");
    return;
  }
  std::printf(
      "bench_mpi: %d ranks (1 client + %d workers), %ld tasks; medians of %d rounds, "
      "latencies over %d samples of %ld round trips (median, best)\n",
      ranks, ranks - 1, o.tasks, o.rounds, o.samples(), o.latency_rounds);
  std::printf("  raw MPI_Send/MPI_Recv ping-pong, rank 0 <-> 1   %8.2f us %8.2f us\n",
              pingpong.median_us, pingpong.best_us);
  std::printf("  %-44s %22s %22s\n", "", "MPIPoolExecutor", p != nullptr ? "ProcessPool" : "");
  const auto lat = [](const RoundTrip& r) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%8.2f us %8.2f us", r.median_us, r.best_us);
    return std::string(buf);
  };
  std::printf("  %-44s %22s %22s\n", "latency: submit(nothing).result()", lat(m.latency).c_str(),
              p != nullptr ? lat(p->latency).c_str() : "");
  const auto row = [&](const char* what, double a, double b, const char* unit) {
    if (p != nullptr) {
      std::printf("  %-44s %19.0f %s %19.0f %s\n", what, a, unit, b, unit);
    } else {
      std::printf("  %-44s %19.0f %s\n", what, a, unit);
    }
  };
  row("throughput: submit all, then collect", m.submit_tps, p ? p->submit_tps : 0, "/s");
  row("throughput: map, chunksize 1", m.map1_tps, p ? p->map1_tps : 0, "/s");
  row("throughput: map, chunksize 100", m.map100_tps, p ? p->map100_tps : 0, "/s");
  std::printf("  %-44s %19.1f ms\n", "50 MB vector to a worker and back", m.large_ms);
  std::printf("  latency / ping-pong: %.2fx (medians), %.2fx (best samples)\n",
              m.latency.median_us / pingpong.median_us, m.latency.best_us / pingpong.best_us);
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  const Options o = parse(argc, argv);
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks < 2) {
    std::fprintf(stderr, "bench_mpi: run it with mpirun -n N, N >= 2\n");
    MPI_Finalize();
    return 2;
  }
  const RoundTrip pingpong = ping_pong(o.latency_rounds, o.samples());
  spindle::mpi::init(argc, argv);  // from here on, ranks 1..N-1 are workers
  Figures m;
  {
    spindle::mpi::MPIPoolExecutor pool;
    m = measure<spindle::mpi::MPIPoolExecutor, spindle::mpi::MPIMapOptions>(pool, o, true);
  }
  Figures p;
  if (o.process_pool) {
    spindle::ProcessPoolExecutor pool(ranks - 1);
    p = measure<spindle::ProcessPoolExecutor, spindle::ProcessMapOptions>(pool, o, false);
  }
  print(o, ranks, pingpong, m, o.process_pool ? &p : nullptr);
  MPI_Finalize();  // spindle releases the workers first
  return 0;
}
