// Internal interface of spindle::mpi (src/mpi/*.cpp). Not installed.
//
// The client (rank 0) and each worker rank exchange messages of bytes,
// each with a tag:
//
//   client -> worker   kTasks   encoded calls, each framed as [u32 size][call]
//                      kTask    one encoded call, the whole message (a large
//                               one travels alone, without a copy)
//                      kExit    empty: the worker leaves
//   worker -> client   kResults results in the order of the calls, each
//                               [u8 kind][u64 run time ns][u32 size][bytes],
//                               kind kOk (the encoded value) or kError (an
//                               encoded exception)
//                      kResult  one successful result, the whole message
//
// MPI keeps the messages between two ranks in order, so a worker answers
// its tasks in the order they were sent and the client needs no task ids.
//
// Client and worker talk through a Wire: MPI's in mpi_wire.cpp, and an
// in-process one in loopback.cpp where the workers are threads (the test
// hook that runs the client's threads under the sanitizers with no MPI
// library in the process; see docs/design/mpi.md).
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spindle/detail/process_codec.hpp"

namespace spindle::detail::mpi {

enum Tag : int { kTasks = 1, kTask = 2, kExit = 3, kResults = 4, kResult = 5 };
enum ResultKind : std::uint8_t { kOk = 0, kError = 1 };

/// An MPI message's count is an int: no payload may be larger.
inline constexpr std::size_t kMaxPayload = INT_MAX - 64;
/// Calls and results this large travel in a message of their own (no copy
/// into a batch).
inline constexpr std::size_t kAloneAbove = std::size_t{64} << 10;
/// A batch of small calls or results is sent once it holds this much.
inline constexpr std::size_t kBatchBytes = std::size_t{256} << 10;

/// A received message: `data` holds `size` bytes. A wire may receive the
/// next message into the same buffer when it is large enough (`cap`): fresh
/// memory costs more than the copy into it on a virtual machine
/// (docs/design/processes.md measured it).
struct Message {
  int peer = 0;  // the sender's rank
  int tag = 0;
  std::unique_ptr<char[]> data;
  std::size_t size = 0;
  std::size_t cap = 0;

  /// Makes room for n bytes, keeping the buffer if it is large enough.
  char* reserve(std::size_t n) {
    if (n > cap || !data) {
      cap = n > 4096 ? n : 4096;
      data = std::make_unique_for_overwrite<char[]>(cap);
    }
    size = n;
    return data.get();
  }
};

/// Bytes on their way out, kept alive by the wire until sent: a batch built
/// here, or a task's own encoded call.
struct Outgoing {
  std::string batch;
  process::Payload call;
  [[nodiscard]] const char* data() const noexcept {
    return batch.empty() ? call.bytes().data() : batch.data();
  }
  [[nodiscard]] std::size_t size() const noexcept {
    return batch.empty() ? call.bytes().size() : batch.size();
  }
};

/// The client's end: rank 0 to the worker ranks 1..workers. Used by the
/// communication thread only.
class ClientWire {
 public:
  virtual ~ClientWire() = default;
  /// Starts sending `out` to `worker` (a rank >= 1); never blocks.
  virtual void send(int worker, int tag, Outgoing out) = 0;
  /// Advances the sends; true if one completed.
  virtual bool progress() = 0;
  /// True while a send has not completed.
  [[nodiscard]] virtual bool sending() const noexcept = 0;
  /// A message that has arrived from any worker, if there is one; never
  /// blocks.
  virtual bool receive(Message& out) = 0;
};

/// A worker's end: to and from rank 0.
class WorkerWire {
 public:
  virtual ~WorkerWire() = default;
  /// A message from the client, if one has arrived; never blocks.
  virtual bool receive(Message& out) = 0;
  /// Sends n bytes to the client; returns once the buffer may be reused.
  virtual void send(int tag, const char* data, std::size_t n) = 0;
};

/// Serves tasks from the client until kExit; returns then.
void serve(WorkerWire& wire);

/// The client: the queue shared by every executor and the communication
/// thread that owns the wire. Defined in client.cpp.
class Client;

/// Starts the process's client over `wire` (the world of `pids.size()`
/// workers; pids[i] is rank i+1's process id). Throws RuntimeError if a
/// client is already running.
void start_client(std::unique_ptr<ClientWire> wire, std::vector<long> pids);
/// Completes every queued task, releases the workers (kExit) and stops the
/// communication thread; the wire is destroyed. Blocks until then. Does
/// nothing if no client runs.
void stop_client();
/// The number of workers of the running client (0 if none).
int client_workers() noexcept;

/// What MPIPoolExecutor's constructor says when no client runs; set by
/// init() (mpi_wire.cpp) to describe the state of MPI.
enum class World { never_started, one_rank, worker_rank, finished };
void set_world(World w) noexcept;

}  // namespace spindle::detail::mpi
