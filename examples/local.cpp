// threading.local: each thread has its own instance, built on first use.
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "spindle/local.hpp"
#include "spindle/lock.hpp"
#include "spindle/thread.hpp"

struct Session {
  std::string user = "anonymous";
  int requests = 0;
};

spindle::local<Session> session;
spindle::Lock print_lock;

void handle(const std::string& user, int n) {
  session->user = user;  // this thread's Session only
  for (int i = 0; i < n; ++i) ++session->requests;
  std::scoped_lock guard(print_lock);
  std::printf("%s made %d requests\n", session->user.c_str(), session->requests);
}

int main() {
  std::vector<spindle::Thread> threads;
  threads.emplace_back(handle, "alice", 3);
  threads.emplace_back(handle, "bob", 5);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  std::printf("main's session: %s, %d requests\n", session->user.c_str(), session->requests);
  return 0;
}
