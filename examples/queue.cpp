// Producer/consumer with spindle::Queue, as in Python's queue module:
// workers take jobs until the queue is shut down; join() waits for every
// job's task_done(); a PriorityQueue serves (priority, data) pairs lowest first.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/queue.hpp"

struct Job {
  int id;
  std::string url;
};

int main() {
  spindle::Queue<std::unique_ptr<Job>> jobs(4);  // bounded: put blocks while 4 are waiting
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&jobs, w] {
      for (;;) {
        std::unique_ptr<Job> job;
        try {
          job = jobs.get();
        } catch (const spindle::ShutDown&) {
          return;  // shut down and empty
        }
        std::printf("worker %d: job %d %s\n", w, job->id, job->url.c_str());
        jobs.task_done();
      }
    });
  }
  for (int i = 0; i < 10; ++i)
    jobs.put(std::make_unique<Job>(Job{i, "https://example.com/" + std::to_string(i)}));
  jobs.join();      // every job has had its task_done()
  jobs.shutdown();  // workers' get() now throws ShutDown
  for (auto& t : workers) t.join();

  spindle::PriorityQueue<std::pair<int, std::string>> pq;
  pq.put({3, "low"});
  pq.put({1, "urgent"});
  pq.put({2, "normal"});
  while (!pq.empty()) std::printf("%s\n", pq.get_nowait().second.c_str());

  try {
    (void)pq.get_nowait();
  } catch (const spindle::Empty&) {
    std::printf("empty, as expected\n");
  }
  return 0;
}
