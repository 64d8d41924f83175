// A worker rank's loop: receive encoded calls from the client, run them in
// order, send back their results (batched while tasks are short). The calls
// are the process pool's encoding (spindle/detail/process_codec.hpp):
// [entry CodeRef][function CodeRef or none][cereal arguments].
#include <sched.h>
#include <sys/prctl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "internal.hpp"
#include "report.hpp"
#include "spindle/detail/park.hpp"
#include "spindle/detail/spin.hpp"
#include "spindle/detail/time.hpp"
#include "spindle/errors.hpp"

namespace spindle::detail::mpi {

using process::Payload;
using process::Sink;
using process::Source;

namespace {

// Results of short tasks wait in the worker's batch while more tasks of the
// same message remain, but never longer than this.
constexpr std::int64_t kMaxResultDelayNs = 100'000;
// An idle worker polls for kMpiPollNs after its last message, the first
// kMpiWorkerTightPollNs without yielding (the next task of a caller that
// waits for each result comes sooner than that), then yielding the core at
// each poll (the client's next task usually comes within that time), then
// sleeps for growing spells: an idle rank costs almost no CPU (spin.hpp).
constexpr unsigned long kTimerSlackNs = 5'000;

[[noreturn]] void protocol_error(const char* what) noexcept {
  write_stderr("spindle::mpi worker: ");  // three writes: nothing to allocate
  write_stderr(what);
  write_stderr("\n");
  std::abort();
}

// Reads a CodeRef written by write_code_ref / write_no_code_ref; false for
// "none".
bool read_code_ref(Source& src, std::string& module, std::uint64_t& offset) {
  std::uint32_t n;
  src.read(&n, sizeof n);
  if (n == UINT32_MAX) return false;
  if (n > src.left()) throw RuntimeError("MPIPoolExecutor: malformed call from the client");
  module.assign(n, '\0');
  src.read(module.data(), n);
  src.read(&offset, sizeof offset);
  return true;
}

// Runs the encoded call in `src`, writing its encoded result into `out`;
// throws what the task throws.
void run_call(Source& src, Sink& out) {
  std::string module;
  std::uint64_t offset = 0;
  if (!read_code_ref(src, module, offset))
    throw RuntimeError("MPIPoolExecutor: malformed call from the client");
  const auto entry =
      reinterpret_cast<process::Entry>(const_cast<void*>(process::resolve_code(module, offset)));
  const void* fn = nullptr;
  if (read_code_ref(src, module, offset)) fn = process::resolve_code(module, offset);
  process::InStream is(src);
  process::OutStream os(out);
  entry(fn, is.get(), os.get());
}

Payload encode_exception() {
  Sink sink(false);
  process::encode_current_exception(sink);
  return sink.take();
}

template <class T>
void append_pod(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Sleeps while idle (a park on a word nobody wakes): polls for kMpiPollNs
// after the last message, then sleeps for growing spells.
class Idle {
 public:
  void active() noexcept {
    last_ = Deadline::now_ns();
    sleep_ns_ = 0;
  }
  void wait() noexcept {
    const std::int64_t quiet = Deadline::now_ns() - last_;
    if (quiet < kMpiWorkerTightPollNs) {
      cpu_relax();
      return;
    }
    if (quiet < kMpiPollNs) {
      sched_yield();  // the client's threads may need this core
      return;
    }
    sleep_ns_ = mpi_next_sleep_ns(sleep_ns_);
    park(word_, 0, Deadline::after(std::chrono::nanoseconds(sleep_ns_)),
         WaitSite{"MPIPoolExecutor.worker", this});
  }

 private:
  std::atomic<std::uint32_t> word_{0};
  std::int64_t last_ = Deadline::now_ns();
  std::int64_t sleep_ns_ = 0;
};

class Server {
 public:
  explicit Server(WorkerWire& wire) : wire_(wire) {}

  // Runs every call of a message.
  void run_message(const Message& m) {
    if (m.tag == kTask) {
      run_one(m.data.get(), m.size);
    } else if (m.tag == kTasks) {
      const char* p = m.data.get();
      const char* const end = p + m.size;
      while (p != end) {
        std::uint32_t n;
        if (static_cast<std::size_t>(end - p) < sizeof n) protocol_error("a truncated message");
        std::memcpy(&n, p, sizeof n);
        p += sizeof n;
        if (static_cast<std::size_t>(end - p) < n) protocol_error("a truncated message");
        run_one(p, n);
        p += n;
        if (p != end &&
            (batch_.size() >= kBatchBytes || Deadline::now_ns() - oldest_ >= kMaxResultDelayNs)) {
          flush();
        }
      }
    } else {
      protocol_error("a message with an unknown tag");
    }
    flush();
  }

  // Sends the batched results. A task's output reaches mpirun before its
  // future completes.
  void flush() {
    if (batch_.empty()) return;
    flush_stdio();
    wire_.send(kResults, batch_.data(), batch_.size());
    batch_.clear();
  }

 private:
  void run_one(const char* data, std::size_t n) {
    const std::int64_t start = Deadline::now_ns();
    Payload result;
    ResultKind kind = kOk;
    try {
      Sink sink(false);
      Source src(data, n);
      run_call(src, sink);
      result = sink.take();
      if (result.size() > kMaxPayload) {
        throw OverflowError("MPIPoolExecutor: the task's result takes " +
                            std::to_string(result.size()) +
                            " bytes; an MPI message carries at most 2 GiB - 1");
      }
    } catch (...) {
      kind = kError;
      result = encode_exception();
    }
    const std::int64_t end = Deadline::now_ns();
    const std::string& bytes = result.bytes();
    if (kind == kOk && bytes.size() > kAloneAbove) {
      flush();
      flush_stdio();
      wire_.send(kResult, bytes.data(), bytes.size());
      return;
    }
    if (batch_.empty()) oldest_ = end;
    append_pod(batch_, static_cast<std::uint8_t>(kind));
    append_pod(batch_, static_cast<std::uint64_t>(end - start));
    append_pod(batch_, static_cast<std::uint32_t>(bytes.size()));
    batch_.append(bytes);
  }

  static void flush_stdio() noexcept {
    try {
      std::cout.flush();
    } catch (...) {
    }
    std::fflush(nullptr);
  }

  WorkerWire& wire_;
  std::string batch_;
  std::int64_t oldest_ = 0;
};

}  // namespace

void serve(WorkerWire& wire) {
  ::prctl(PR_SET_TIMERSLACK, kTimerSlackNs);  // sleeps end on time
  Server server(wire);
  Idle idle;
  Message m;
  for (;;) {
    if (!wire.receive(m)) {
      idle.wait();
      continue;
    }
    idle.active();
    if (m.tag == kExit) return;
    server.run_message(m);
  }
}

}  // namespace spindle::detail::mpi
