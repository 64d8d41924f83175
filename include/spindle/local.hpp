// spindle/local.hpp - threading.local: one instance per thread per object.
//
//     spindle::local<Session> session;             // or local<Session> s(ctor args...)
//     session->user = "x";                          // this thread's Session
//
// Each thread that touches a local<T> sees its own T, built on first use in
// that thread - from a copy of the constructor arguments given to the
// local, or by T() - and destroyed when that thread ends or when the local
// is destroyed, whichever comes first (C63). Works for every thread,
// spindle's or not (a thread_local destructor cleans up foreign threads; a
// spindle thread cleans up before join() returns, so a joiner sees the
// destructors' effects).
//
// Unlike C++ `thread_local`, a local<T> is an object: it can be a member,
// there can be many, and destroying it frees every thread's instance.
//
// Cost: get() on an instance that exists is a few loads (a per-thread slot
// table indexed by the local's slot number); first use in a thread and
// destruction take a global lock.
//
// Invalid use: destroying a local while another thread is using its
// instance (the same rule as for any C++ object). A T constructor that
// throws propagates out of get(), and the next get() tries again.
//
// Out of memory: constructing a local and a get() that builds an instance
// may throw std::bad_alloc; then nothing was created (no instance, no slot
// taken). A thread's end and a local's destruction allocate nothing, so
// they cannot fail.
//
// fork(): in the child, the instances of the threads that do not exist there
// are not destroyed by fork() itself (a destructor run inside fork() could
// wait forever on a lock a vanished thread held); each is destroyed with its
// local. The forking thread keeps its own instances.
//
// Not promised: on which thread an instance is destroyed when the local is
// destroyed first (the destroying thread); the order among a thread's
// instances at thread end.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace spindle {
namespace detail {

class LocalBase;
struct LocalTable;
struct LocalRegistry;

using LocalDestroy = void (*)(void*) noexcept;

struct LocalEntry {
  void* obj;
  LocalBase* owner;
  LocalTable* table;
  LocalDestroy destroy;              // the owner's, copied: usable once unlinked
  LocalEntry* owner_prev = nullptr;  // the local's instances (global lock)
  LocalEntry* owner_next = nullptr;
  LocalEntry* table_prev = nullptr;  // the thread's instances (global lock)
  LocalEntry* table_next = nullptr;
};

// One per thread: slot number -> instance. Read by its thread without a
// lock; written under the global local lock.
struct LocalTable {
  std::atomic<LocalEntry*>* slots = nullptr;
  std::size_t size = 0;
  LocalEntry* entries = nullptr;
  LocalTable* prev = nullptr;  // every thread's table (global lock), for fork()
  LocalTable* next = nullptr;
  bool orphan = false;  // its thread vanished in fork(): freed with its last entry
};

inline thread_local LocalTable* tls_local_table = nullptr;

class LocalBase {
 public:
  LocalBase(const LocalBase&) = delete;
  LocalBase& operator=(const LocalBase&) = delete;

 protected:
  using Destroy = LocalDestroy;
  explicit LocalBase(Destroy destroy);
  ~LocalBase();

  void* find() const noexcept {
    const LocalTable* t = tls_local_table;
    if (t != nullptr && slot_ < t->size) {
      if (const LocalEntry* e = t->slots[slot_].load(std::memory_order_acquire)) return e->obj;
    }
    return nullptr;
  }
  /// Registers `obj` (owned from now on) as the calling thread's instance.
  void adopt(void* obj);

 private:
  friend struct LocalRegistry;
  std::size_t slot_;
  Destroy destroy_;
  LocalEntry* entries_ = nullptr;
};

}  // namespace detail

/// threading.local for one type: a T per thread.
template <class T>
class local : private detail::LocalBase {
 public:
  /// Each thread's instance is built by T().
  local() : LocalBase(&destroy), make_([] { return new T(); }) {}
  /// Each thread's instance is built by T(args...) from copies of `args`.
  template <class... Args>
    requires(sizeof...(Args) > 0 && std::is_constructible_v<T, const std::decay_t<Args>&...>)
  explicit local(Args&&... args)
      : LocalBase(&destroy),
        make_([tup = std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)] {
          return std::apply([](const auto&... a) { return new T(a...); }, tup);
        }) {}
  /// Destroys every thread's instance.
  ~local() = default;

  /// The calling thread's instance, built on first use (may throw what T's
  /// constructor throws).
  T& get() {
    if (void* p = find()) return *static_cast<T*>(p);
    return get_slow();
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }
  T& get_slow() {
    std::unique_ptr<T> obj(make_());
    T& ref = *obj;
    adopt(obj.get());
    obj.release();
    return ref;
  }

  std::function<T*()> make_;
};

}  // namespace spindle
