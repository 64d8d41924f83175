// local<T>: per-thread slot tables and the bookkeeping that lets either the
// thread's end or the local's destruction free an instance, whichever comes
// first. Slow paths only (first use in a thread, thread exit, destruction)
// take the one global lock; the fast path in local.hpp takes none.
#include "spindle/local.hpp"

#include <mutex>
#include <vector>

#include "spindle/lock.hpp"
#include "thread_internal.hpp"

namespace spindle::detail {

struct LocalRegistry {
  Lock lock;                          // guards every table's contents and every entry list
  std::vector<std::size_t> free_slots;
  std::size_t next_slot = 0;

  static LocalRegistry& get() {
    static LocalRegistry* r = new LocalRegistry;  // immortal: locals may die during exit
    return *r;
  }

  static void set_slot(LocalTable* t, std::size_t slot, LocalEntry* e) {
    if (slot >= t->size) {
      // Only the owning thread grows its table (under the lock), so its
      // lock-free reads never see a table being replaced.
      std::size_t n = t->size == 0 ? 8 : t->size * 2;
      while (n <= slot) n *= 2;
      auto* fresh = new std::atomic<LocalEntry*>[n];
      for (std::size_t i = 0; i < n; ++i)
        fresh[i].store(i < t->size ? t->slots[i].load(std::memory_order_relaxed) : nullptr,
                       std::memory_order_relaxed);
      delete[] t->slots;
      t->slots = fresh;
      t->size = n;
    }
    t->slots[slot].store(e, std::memory_order_release);
  }

  static void unlink_from_owner(LocalEntry* e) noexcept {
    if (e->owner_prev != nullptr) e->owner_prev->owner_next = e->owner_next;
    else e->owner->entries_ = e->owner_next;
    if (e->owner_next != nullptr) e->owner_next->owner_prev = e->owner_prev;
  }

  static void unlink_from_table(LocalEntry* e) noexcept {
    if (e->table_prev != nullptr) e->table_prev->table_next = e->table_next;
    else e->table->entries = e->table_next;
    if (e->table_next != nullptr) e->table_next->table_prev = e->table_prev;
  }

  static void destroy(std::vector<std::pair<LocalEntry*, LocalBase::Destroy>>& doomed) noexcept {
    for (auto& [e, destroy] : doomed) {
      destroy(e->obj);
      delete e;
    }
    doomed.clear();
  }

  // Destroys the calling thread's instances (again while destructors create
  // new ones).
  static void thread_exit() noexcept {
    LocalTable* t = tls_local_table;
    if (t == nullptr) return;
    LocalRegistry& r = get();
    std::vector<std::pair<LocalEntry*, LocalBase::Destroy>> doomed;
    for (;;) {
      {
        std::scoped_lock guard(r.lock);
        for (LocalEntry* e = t->entries; e != nullptr; e = e->table_next) {
          t->slots[e->owner->slot_].store(nullptr, std::memory_order_relaxed);
          unlink_from_owner(e);
          doomed.emplace_back(e, e->owner->destroy_);
        }
        t->entries = nullptr;
      }
      if (doomed.empty()) return;
      destroy(doomed);
    }
  }
};

namespace {
thread_local bool tls_table_gone = false;

// Frees the calling thread's table when the thread ends (foreign threads, and
// spindle threads after their early cleanup).
struct TableHolder {
  LocalTable* table = nullptr;
  ~TableHolder() {
    LocalRegistry::thread_exit();
    LocalRegistry& r = LocalRegistry::get();
    std::scoped_lock guard(r.lock);
    delete[] table->slots;
    delete table;
    tls_local_table = nullptr;
    tls_table_gone = true;
  }
};

LocalTable* this_thread_table() {
  if (LocalTable* t = tls_local_table) return t;
  auto* t = new LocalTable;
  tls_local_table = t;
  if (!tls_table_gone) {  // else: used from a later thread_local destructor; leaked (rare)
    static thread_local TableHolder holder;
    holder.table = t;
  }
  return t;
}
}  // namespace

LocalBase::LocalBase(Destroy destroy) : destroy_(destroy) {
  LocalRegistry& r = LocalRegistry::get();
  std::scoped_lock guard(r.lock);
  if (!r.free_slots.empty()) {
    slot_ = r.free_slots.back();
    r.free_slots.pop_back();
  } else {
    slot_ = r.next_slot++;
  }
}

LocalBase::~LocalBase() {
  LocalRegistry& r = LocalRegistry::get();
  std::vector<std::pair<LocalEntry*, Destroy>> doomed;
  {
    std::scoped_lock guard(r.lock);
    for (LocalEntry* e = entries_; e != nullptr; e = e->owner_next) {
      e->table->slots[slot_].store(nullptr, std::memory_order_relaxed);
      LocalRegistry::unlink_from_table(e);
      doomed.emplace_back(e, destroy_);
    }
    entries_ = nullptr;
    r.free_slots.push_back(slot_);
  }
  LocalRegistry::destroy(doomed);
}

void LocalBase::adopt(void* obj) {
  LocalTable* t = this_thread_table();
  auto* e = new LocalEntry{obj, this, t};
  LocalRegistry& r = LocalRegistry::get();
  std::scoped_lock guard(r.lock);
  LocalRegistry::set_slot(t, slot_, e);
  e->owner_next = entries_;
  if (entries_ != nullptr) entries_->owner_prev = e;
  entries_ = e;
  e->table_next = t->entries;
  if (t->entries != nullptr) t->entries->table_prev = e;
  t->entries = e;
}

void local_thread_exit() noexcept { LocalRegistry::thread_exit(); }

}  // namespace spindle::detail
