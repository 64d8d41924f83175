// moodycamel::BlockingConcurrentQueue (libconcurrentqueue-dev).
#include <concurrentqueue/blockingconcurrentqueue.h>

#include "workloads.hpp"

namespace report {
namespace {

struct MoodyQueue {
  moodycamel::BlockingConcurrentQueue<std::uint64_t> q;
  void put(std::uint64_t v) { q.enqueue(v); }
  std::uint64_t get() {
    std::uint64_t v = 0;
    q.wait_dequeue(v);
    return v;
  }
};

REPORT_CASE("queue_mpmc", "moodycamel", queue_mpmc<MoodyQueue>);
REPORT_CASE("queue_pingpong", "moodycamel", pingpong<QueueChannel<MoodyQueue>>);

}  // namespace
}  // namespace report
