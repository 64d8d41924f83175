// Test support: watchdogs for tests that could hang, and stress sizes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace spindle_test {

/// True when the soak run asked for full-size stress (SPINDLE_SOAK=1).
inline bool soak() {
  const char* v = std::getenv("SPINDLE_SOAK");
  return v != nullptr && v[0] == '1';
}

/// Scales a stress count: full size in release, a tenth under sanitizers
/// (which slow threads 5-20x), `soak_n` in the soak run.
inline long scaled(long n, long soak_n = 0) {
  if (soak()) return soak_n > 0 ? soak_n : n;
#if defined(SPINDLE_TEST_SANITIZED)
  return n / 10 > 0 ? n / 10 : 1;
#else
  return n;
#endif
}

/// Fails the process with a message if not destroyed within `limit`: any test
/// that could hang holds one, so a hang is a failure with a name, not a CI
/// timeout. Built on std primitives on purpose: it must not depend on the
/// code under test.
class Watchdog {
 public:
  explicit Watchdog(std::string what, std::chrono::seconds limit = std::chrono::seconds(120))
      : what_(std::move(what)), thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "WATCHDOG: '%s' did not finish within %lld s - a hang\n",
                         what_.c_str(), static_cast<long long>(limit.count()));
            std::fflush(stderr);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::string what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace spindle_test
