// Compiled (never linked) by tests/process_pool.cmake with -DREJECT_CASE=N:
// each case must fail to compile with the static_assert message that says
// why and what to do. Case 0 must compile.
#include <functional>
#include <string>
#include <vector>

#include "spindle/process.hpp"

namespace {
struct NotSerializable {
  int x = 0;
};
int square(int x) {
  return x * x;
}
int deref(int* p) {
  return *p;
}
int* address_of(int) {
  return nullptr;
}
int count(std::vector<NotSerializable> v) {
  return static_cast<int>(v.size());
}
}  // namespace

void reject_case(spindle::ProcessPoolExecutor& pool) {
#if REJECT_CASE == 0
  (void)pool.submit(square, 1);
  (void)pool.submit([](std::string s) { return s; }, "ok");
#elif REJECT_CASE == 1  // a lambda with captures
  int offset = 1;
  (void)pool.submit([offset](int x) { return x + offset; }, 1);
#elif REJECT_CASE == 2  // a std::function
  std::function<int(int)> f = square;
  (void)pool.submit(f, 1);
#elif REJECT_CASE == 3  // a pointer argument
  int x = 1;
  (void)pool.submit(deref, &x);
#elif REJECT_CASE == 4  // a vector of a type without serialize()
  (void)pool.submit(count, std::vector<NotSerializable>{});
#elif REJECT_CASE == 5  // a pointer result
  (void)pool.submit(address_of, 1);
#elif REJECT_CASE == 6  // an initializer with captures
  int n = 2;
  spindle::ProcessPoolExecutor p2(spindle::ProcessPoolOptions{.initializer = {[n] { (void)n; }}});
#endif
  (void)pool;
}
