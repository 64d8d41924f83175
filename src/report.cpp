// Writing to stderr, describing exceptions, and the list of hook slots
// (src/report.hpp).
#include "report.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace spindle::detail {
namespace {

// The locks of every HookSlot. Slots are few (one per hook) and never
// destroyed, so a fixed array suffices.
constexpr int kMaxHookSlots = 8;
struct HookLocks {
  Lock lock;
  Lock* slots[kMaxHookSlots] = {};
  int count = 0;
};
constinit HookLocks g_hook_locks{};

}  // namespace

void write_stderr(const char* text, std::size_t size) noexcept {
  // write(2) on fd 2, not stdio: no stdio lock is taken, so it is safe in a
  // forked child whose parent had another thread inside stdio, and in a
  // signal handler. stderr is unbuffered, so the order with stdio output
  // written to it is kept.
  while (size > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    size -= static_cast<std::size_t>(n);
  }
}

void write_stderr(const char* text) noexcept {
  write_stderr(text, std::strlen(text));
}

void write_stderr(const std::string& text) noexcept {
  write_stderr(text.data(), text.size());
}

std::string exception_type_name(const std::exception_ptr& exc) {
  if (!exc) return "<no exception>";
  try {
    std::rethrow_exception(exc);
  } catch (...) {
    const std::type_info* ti = abi::__cxa_current_exception_type();
    if (ti == nullptr) return "<unknown exception>";
    int status = 0;
    const std::unique_ptr<char, decltype(&std::free)> demangled(
        abi::__cxa_demangle(ti->name(), nullptr, nullptr, &status), &std::free);
    return status == 0 && demangled ? demangled.get() : ti->name();  // freed if this throws
  }
}

std::string exception_message(const std::exception_ptr& exc) {
  if (!exc) return {};
  try {
    std::rethrow_exception(exc);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return {};
  }
}

std::string describe_exception(const std::exception_ptr& exc) {
  std::string type = exception_type_name(exc);
  std::string msg = exception_message(exc);
  return msg.empty() ? type : type + ": " + msg;
}

void report_hook_failure(const char* header) noexcept {
  try {
    write_stderr(std::string(header) + ":\n" + describe_exception(std::current_exception()) + "\n");
  } catch (...) {  // out of memory while describing it
    write_stderr(header);
    write_stderr(":\n<could not be described>\n");
  }
}

void link_hook_lock(Lock& lock) noexcept {
  std::scoped_lock guard(g_hook_locks.lock);
  // More slots than kMaxHookSlots would be a spindle bug; such a slot is
  // simply not held across fork().
  if (g_hook_locks.count < kMaxHookSlots) g_hook_locks.slots[g_hook_locks.count++] = &lock;
}

void hook_slots_acquire() noexcept {
  g_hook_locks.lock.acquire();
  for (int i = 0; i < g_hook_locks.count; ++i) g_hook_locks.slots[i]->acquire();
}

void hook_slots_release() noexcept {
  for (int i = 0; i < g_hook_locks.count; ++i) g_hook_locks.slots[i]->release();
  g_hook_locks.lock.release();
}

}  // namespace spindle::detail
