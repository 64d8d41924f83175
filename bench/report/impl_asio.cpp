// Asio (libasio-dev, standalone): asio::thread_pool with asio::post; a
// result comes back through asio::use_future.
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>

#include <future>

#include "workloads.hpp"

namespace report {
namespace {

struct AsioPool {
  asio::thread_pool pool;
  explicit AsioPool(int workers) : pool(static_cast<std::size_t>(workers)) {}
  ~AsioPool() { pool.join(); }
  std::uint64_t roundtrip(std::uint64_t v) {
    std::future<std::uint64_t> f = asio::post(pool, asio::use_future([v] { return v + 1; }));
    return f.get();
  }
  void tiny(std::int64_t n, std::atomic<std::int64_t>& counter) {
    std::vector<std::future<void>> fs;
    fs.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      fs.push_back(asio::post(pool, asio::use_future([&counter] { counter.fetch_add(1); })));
    for (auto& f : fs) f.get();
  }
};

REPORT_CASE("pool_latency", "asio", pool_latency<AsioPool>);
REPORT_CASE("tiny_tasks", "asio", tiny_tasks<AsioPool>);

}  // namespace
}  // namespace report
