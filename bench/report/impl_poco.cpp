// POCO Foundation 1.11 (libpoco-dev): Mutex, Event, Semaphore,
// NotificationQueue, Thread, ThreadPool.
#include <Poco/Event.h>
#include <Poco/Mutex.h>
#include <Poco/Notification.h>
#include <Poco/NotificationQueue.h>
#include <Poco/Runnable.h>
#include <Poco/Semaphore.h>
#include <Poco/Thread.h>
#include <Poco/ThreadPool.h>

#include <functional>
#include <memory>

#include "workloads.hpp"

namespace report {
namespace {

struct PocoEvent {
  Poco::Event ev{Poco::Event::EVENT_AUTORESET};
  std::uint64_t value = 0;
  void send(std::uint64_t v) {
    value = v;
    ev.set();
  }
  std::uint64_t recv() {
    ev.wait();
    return value;
  }
};

struct PocoSemaphore {
  Poco::Semaphore sem{0, 1};
  std::uint64_t value = 0;
  void send(std::uint64_t v) {
    value = v;
    sem.set();
  }
  std::uint64_t recv() {
    sem.wait();
    return value;
  }
};

// NotificationQueue carries reference-counted Notification objects.
struct Item : Poco::Notification {
  explicit Item(std::uint64_t v) : value(v) {}
  std::uint64_t value;
};

struct PocoQueue {
  Poco::NotificationQueue q;
  void put(std::uint64_t v) { q.enqueueNotification(new Item(v)); }
  std::uint64_t get() {
    Poco::AutoPtr<Poco::Notification> n(q.waitDequeueNotification());
    return static_cast<Item*>(n.get())->value;
  }
};

struct PocoThreads {
  using Handle = std::unique_ptr<Poco::Thread>;
  template <class F>
  static Handle spawn(F f) {
    auto t = std::make_unique<Poco::Thread>();
    t->startFunc(std::function<void()>(std::move(f)));
    return t;
  }
  static void join(Handle& h) { h->join(); }
};

// ThreadPool runs Runnables and has no futures: the task signals an Event.
struct PocoPool {
  struct Task : Poco::Runnable {
    std::uint64_t in = 0;
    std::uint64_t out = 0;
    Poco::Event done{Poco::Event::EVENT_AUTORESET};
    void run() override {
      out = in + 1;
      done.set();
    }
  };
  Poco::ThreadPool pool;
  Task task;
  explicit PocoPool(int workers) : pool(workers, workers) {}
  ~PocoPool() { pool.joinAll(); }
  std::uint64_t roundtrip(std::uint64_t v) {
    task.in = v;
    pool.start(task);
    task.done.wait();
    return task.out;
  }
};

REPORT_CASE("lock_uncontended", "poco", lock_uncontended<Poco::FastMutex>);
REPORT_CASE("lock_contended", "poco", lock_contended<Poco::FastMutex>);
REPORT_CASE("event_pingpong", "poco", pingpong<PocoEvent>);
REPORT_CASE("semaphore_handoff", "poco", pingpong<PocoSemaphore>);
REPORT_CASE("thread_start_join", "poco", thread_start_join<PocoThreads>);
REPORT_CASE("queue_mpmc", "poco", queue_mpmc<PocoQueue>);
REPORT_CASE("queue_pingpong", "poco", pingpong<QueueChannel<PocoQueue>>);
REPORT_CASE("pool_latency", "poco", pool_latency<PocoPool>);
REPORT_CASE("seed001_cpu", "poco", (seed001_cpu<PocoThreads>));
REPORT_CASE("seed001_io", "poco", (seed001_io<PocoThreads>));
REPORT_CASE("seed004_counter", "poco", (seed004_counter<PocoThreads, Poco::FastMutex>));

}  // namespace
}  // namespace report
