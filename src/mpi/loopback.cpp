// The test hook of spindle::mpi: a client whose workers are threads of this
// process, linked by in-memory queues instead of MPI. The client, its
// communication thread and the worker loop are the real ones; only the wire
// differs. It lets the tests run the client's threading under LeakSanitizer
// and ThreadSanitizer with no MPI library in the process (docs/design/mpi.md).
#include <unistd.h>

#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "spindle/lock.hpp"
#include "spindle/mpi.hpp"
#include "spindle/thread.hpp"

namespace spindle::detail::mpi {

namespace {

struct Inbox {
  Lock lock;
  std::deque<Message> q;

  void put(int peer, int tag, const char* data, std::size_t n) {
    Message m;
    m.peer = peer;
    m.tag = tag;
    char* p = m.reserve(n);
    if (n > 0) std::memcpy(p, data, n);
    std::scoped_lock guard(lock);
    q.push_back(std::move(m));
  }
  bool take(Message& m) {
    std::scoped_lock guard(lock);
    if (q.empty()) return false;
    m = std::move(q.front());
    q.pop_front();
    return true;
  }
};

struct Loop {
  Inbox to_client;
  std::vector<std::unique_ptr<Inbox>> to_worker;  // [i] for rank i + 1
  std::vector<std::shared_ptr<Thread>> threads;
};

class LoopClientWire final : public ClientWire {
 public:
  explicit LoopClientWire(std::shared_ptr<Loop> loop) noexcept : loop_(std::move(loop)) {}
  void send(int worker, int tag, Outgoing out) override {
    loop_->to_worker[static_cast<std::size_t>(worker) - 1]->put(0, tag, out.data(), out.size());
  }
  bool progress() override { return false; }
  [[nodiscard]] bool sending() const noexcept override { return false; }
  bool receive(Message& m) override { return loop_->to_client.take(m); }

 private:
  std::shared_ptr<Loop> loop_;
};

class LoopWorkerWire final : public WorkerWire {
 public:
  LoopWorkerWire(std::shared_ptr<Loop> loop, int rank) noexcept
      : loop_(std::move(loop)), rank_(rank) {}
  bool receive(Message& m) override {
    return loop_->to_worker[static_cast<std::size_t>(rank_) - 1]->take(m);
  }
  void send(int tag, const char* data, std::size_t n) override {
    loop_->to_client.put(rank_, tag, data, n);
  }

 private:
  std::shared_ptr<Loop> loop_;
  int rank_;
};

struct Hook {
  Lock lock;
  std::shared_ptr<Loop> loop;
};
Hook& hook() {
  static auto* h = new Hook;
  return *h;
}

}  // namespace

void start_loopback(int workers) {
  if (workers < 1) throw ValueError("start_loopback: workers must be >= 1");
  Hook& h = hook();
  std::scoped_lock guard(h.lock);
  if (h.loop) throw RuntimeError("start_loopback: already running");
  auto loop = std::make_shared<Loop>();
  std::vector<long> pids;
  for (int r = 1; r <= workers; ++r) {
    loop->to_worker.push_back(std::make_unique<Inbox>());
    pids.push_back(static_cast<long>(::getpid()));
  }
  for (int r = 1; r <= workers; ++r) {
    auto t = std::make_shared<Thread>(
        ThreadOptions{.name = "mpi-loopback-rank-" + std::to_string(r), .daemon = false},
        [loop, r] {
          LoopWorkerWire wire(loop, r);
          serve(wire);
        });
    t->start();
    loop->threads.push_back(std::move(t));
  }
  start_client(std::make_unique<LoopClientWire>(loop), std::move(pids));
  h.loop = std::move(loop);
}

void stop_loopback() {
  Hook& h = hook();
  std::scoped_lock guard(h.lock);
  if (!h.loop) return;
  stop_client();
  for (auto& t : h.loop->threads) t->join();
  h.loop.reset();
  set_world(World::never_started);
}

}  // namespace spindle::detail::mpi
