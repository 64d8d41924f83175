// Internal interface between src/process_channel.cpp, src/process_codec.cpp,
// src/process_worker.cpp and src/process_pool.cpp. Not installed.
//
// The parent and each worker talk over one AF_UNIX stream socket pair in
// frames: a 24-byte header, then the payload inline, or no inline bytes and a
// memfd sent with SCM_RIGHTS on the header's first bytes (the receiver keeps
// received descriptors in a FIFO; a header flagged kInFd takes the oldest).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "spindle/detail/process_codec.hpp"

namespace spindle::detail::process {

// ---- frames ------------------------------------------------------------

enum Kind : std::uint32_t {
  kInit = 1,        // parent -> worker: run the initializer (an encoded call)
  kCall = 2,        // parent -> worker: run a task (an encoded call); aux = 1: expected tiny
  kResult = 3,      // worker -> parent: the task's result; aux = its run time in ns
  kError = 4,       // worker -> parent: the task's exception; aux = run time
  kInitFailed = 5,  // worker -> parent: the initializer's exception; the worker exits
};
inline constexpr std::uint32_t kInFd = 1;  // the payload is in a memfd

struct FrameHeader {
  std::uint32_t kind = 0;
  std::uint32_t flags = 0;
  std::uint64_t size = 0;  // payload bytes
  std::uint64_t aux = 0;
};
static_assert(sizeof(FrameHeader) == 24);

/// A received frame, valid until the next Reader::fill.
struct FrameView {
  FrameHeader header;
  const char* data = nullptr;  // inline payload
  int fd = -1;                 // memfd payload (owned by the view's taker)
};

/// Turns a FrameView into a Payload-backed Source: inline bytes are read in
/// place; a memfd is mapped (and closed when the Source is gone).
class FrameSource {
 public:
  explicit FrameSource(FrameView& f);
  Source& get() noexcept { return *src_; }

 private:
  Payload payload_;
  std::optional<Source> src_;
};

/// The receiving half of a channel: bytes and descriptors off the socket.
class Reader {
 public:
  enum class Fill { data, again, eof };
  Reader();
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  /// Reads what the socket has (blocks if the socket is blocking). eof on
  /// end of stream or a reset connection; throws RuntimeError on other errors.
  Fill fill(int sock);
  /// The next complete frame in the buffer; false if none. Throws
  /// RuntimeError on a malformed frame.
  bool next(FrameView& out);

 private:
  std::vector<char> buf_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  std::deque<int> fds_;
};

/// The sending half: a queue of segments written with sendmsg. Small frames
/// are copied into one contiguous segment (the kernel then copies from a
/// few pages instead of one per frame: 13% of the manager's time went there
/// with a scattered iovec per frame); a large inline payload stays where it
/// is, and a memfd frame is a segment of its own.
class Writer {
 public:
  Writer() = default;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  void push(std::uint32_t kind, std::uint64_t aux, Payload payload);
  /// Writes as much as the socket takes. Returns 0 (check pending()) or
  /// the errno of a failed write (EPIPE when the peer is gone).
  int flush(int sock);
  [[nodiscard]] bool pending() const noexcept { return !q_.empty(); }
  [[nodiscard]] std::size_t queued_bytes() const noexcept { return bytes_; }

 private:
  struct Segment {
    std::string bytes;     // headers and small payloads, back to back
    Payload big;           // a large inline payload after `bytes`, or a memfd
    std::size_t done = 0;  // bytes of `bytes` + inline `big` written
    bool fd_sent = false;
    bool open = false;  // small frames may still be appended
    [[nodiscard]] std::size_t total() const noexcept {
      return bytes.size() + (big.in_fd() ? 0 : big.bytes().size());
    }
  };
  std::deque<Segment> q_;
  std::size_t bytes_ = 0;
};

// ---- workers -----------------------------------------------------------

/// The descriptor a spawned worker finds its socket on.
inline constexpr int kWorkerFd = 3;
/// The environment variable that makes a spawned process a worker:
/// "1:<parent pid>:<max tasks, 0 = no limit>".
inline constexpr const char* kWorkerEnv = "SPINDLE_PROCESS_WORKER";

struct WorkerConfig {
  long max_tasks = 0;  // 0: no limit
  bool forked = false;
};

/// Serves tasks on `sock` until end of stream (or the task quota); never
/// returns.
[[noreturn]] void worker_main(int sock, WorkerConfig cfg);
/// In a forked child: die with the parent, keep only `sock` (as kWorkerFd)
/// and 0-2, reset signals, then worker_main.
[[noreturn]] void run_forked_worker(int sock, pid_t parent, WorkerConfig cfg);
/// Called from a static initializer: if this process was spawned as a
/// worker, serves tasks and never returns; else returns false.
bool run_spawned_worker_if_asked();

/// Holds the code tables' lock across fork() so that the child never
/// inherits it held by another thread.
void lock_code_tables() noexcept;
void unlock_code_tables() noexcept;
/// The same for the kept shared-memory buffers.
void lock_shm_buffers() noexcept;
void unlock_shm_buffers() noexcept;

/// "TYPE: MESSAGE" of an encoded exception (for an initializer's failure).
std::string describe_encoded_exception(Source& s);

}  // namespace spindle::detail::process
