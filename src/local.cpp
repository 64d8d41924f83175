// local<T>: per-thread slot tables and the bookkeeping that lets either the
// thread's end or the local's destruction free an instance, whichever comes
// first. Slow paths only (first use in a thread, thread exit, destruction)
// take the one global lock; the fast path in local.hpp takes none.
//
// Allocation happens only where an exception can propagate (first use in a
// thread, constructing a local); a thread's exit and a local's destruction
// allocate nothing, so they cannot fail.
#include "spindle/local.hpp"

#include <memory>
#include <mutex>
#include <vector>

#include "spindle/lock.hpp"
#include "thread_internal.hpp"

namespace spindle::detail {

struct LocalRegistry {
  Lock lock;                            // guards every table's contents and every entry list
  std::vector<std::size_t> free_slots;  // capacity >= next_slot: pushing back never allocates
  std::size_t next_slot = 0;
  LocalTable* tables = nullptr;  // every thread's table

  static LocalRegistry& get() noexcept;

  static void unlink_from_owner(LocalEntry* e) noexcept {
    if (e->owner_prev != nullptr) {
      e->owner_prev->owner_next = e->owner_next;
    } else {
      e->owner->entries_ = e->owner_next;
    }
    if (e->owner_next != nullptr) e->owner_next->owner_prev = e->owner_prev;
  }

  static void unlink_from_table(LocalEntry* e) noexcept {
    if (e->table_prev != nullptr) {
      e->table_prev->table_next = e->table_next;
    } else {
      e->table->entries = e->table_next;
    }
    if (e->table_next != nullptr) e->table_next->table_prev = e->table_prev;
  }

  void link_table(LocalTable* t) noexcept {
    t->next = tables;
    if (tables != nullptr) tables->prev = t;
    tables = t;
  }

  // Unlinks and frees a table (under the lock).
  void free_table(LocalTable* t) noexcept {
    if (t->prev != nullptr) {
      t->prev->next = t->next;
    } else {
      tables = t->next;
    }
    if (t->next != nullptr) t->next->prev = t->prev;
    delete[] t->slots;
    delete t;
  }

  // Destroys the calling thread's instances (again while destructors create
  // new ones). Each round detaches the table's whole list under the lock and
  // destroys it after the unlock (a destructor may use other locals).
  static void thread_exit() noexcept {
    LocalTable* t = tls_local_table;
    if (t == nullptr) return;
    LocalRegistry& r = get();
    for (;;) {
      LocalEntry* doomed;
      {
        std::scoped_lock guard(r.lock);
        doomed = t->entries;
        for (LocalEntry* e = doomed; e != nullptr; e = e->table_next) {
          t->slots[e->owner->slot_].store(nullptr, std::memory_order_relaxed);
          unlink_from_owner(e);
        }
        t->entries = nullptr;
      }
      if (doomed == nullptr) return;
      while (doomed != nullptr) {
        LocalEntry* next = doomed->table_next;
        doomed->destroy(doomed->obj);
        delete doomed;
        doomed = next;
      }
    }
  }
};

namespace {
// Constant-initialised and never destroyed: locals may die during exit, and
// the fork handler must not allocate it.
union RegistryStorage {
  LocalRegistry value;
  constexpr RegistryStorage() : value() {}
  // Never destroyed on purpose ("= default" would be deleted: the member
  // has a non-trivial destructor).
  ~RegistryStorage() {}  // NOLINT(modernize-use-equals-default)
};
constinit RegistryStorage g_local_registry;
}  // namespace

LocalRegistry& LocalRegistry::get() noexcept {
  return g_local_registry.value;
}

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
    r.free_table(table);
    tls_local_table = nullptr;
    tls_table_gone = true;
  }
};

LocalTable* this_thread_table() {
  if (LocalTable* t = tls_local_table) return t;
  auto* t = new LocalTable;  // the only allocation; nothing is changed if it fails
  {
    LocalRegistry& r = LocalRegistry::get();
    std::scoped_lock guard(r.lock);
    r.link_table(t);
  }
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
    // Room for every slot number to come back, reserved while throwing is
    // still allowed (the destructor pushes it back).
    if (r.free_slots.capacity() < r.next_slot + 1)
      r.free_slots.reserve(r.next_slot < 8 ? 16 : 2 * r.next_slot);
    slot_ = r.next_slot++;
  }
}

LocalBase::~LocalBase() {
  LocalRegistry& r = LocalRegistry::get();
  LocalEntry* doomed;
  {
    std::scoped_lock guard(r.lock);
    doomed = entries_;
    for (LocalEntry* e = doomed; e != nullptr; e = e->owner_next) {
      LocalTable* t = e->table;
      t->slots[slot_].store(nullptr, std::memory_order_relaxed);
      LocalRegistry::unlink_from_table(e);
      if (t->orphan && t->entries == nullptr) r.free_table(t);
    }
    entries_ = nullptr;
    r.free_slots.push_back(slot_);  // within the reserved capacity
  }
  while (doomed != nullptr) {
    LocalEntry* next = doomed->owner_next;
    doomed->destroy(doomed->obj);
    delete doomed;
    doomed = next;
  }
}

void LocalBase::adopt(void* obj) {
  LocalTable* t = this_thread_table();
  auto e = std::make_unique<LocalEntry>(LocalEntry{obj, this, t, destroy_});
  // Only this thread grows its table, so its size can be read unlocked and a
  // bigger one allocated before the lock; the copy happens under the lock
  // (others clear slots in it).
  std::unique_ptr<std::atomic<LocalEntry*>[]> fresh;
  std::size_t n = t->size;
  if (slot_ >= n) {
    n = n == 0 ? 8 : n * 2;
    while (n <= slot_) n *= 2;
    fresh = std::make_unique<std::atomic<LocalEntry*>[]>(n);
  }
  LocalRegistry& r = LocalRegistry::get();
  std::atomic<LocalEntry*>* old = nullptr;
  {
    std::scoped_lock guard(r.lock);
    if (fresh) {
      for (std::size_t i = 0; i < n; ++i) {
        fresh[i].store(i < t->size ? t->slots[i].load(std::memory_order_relaxed) : nullptr,
                       std::memory_order_relaxed);
      }
      old = t->slots;
      t->slots = fresh.release();
      t->size = n;
    }
    LocalEntry* entry = e.release();
    t->slots[slot_].store(entry, std::memory_order_release);
    entry->owner_next = entries_;
    if (entries_ != nullptr) entries_->owner_prev = entry;
    entries_ = entry;
    entry->table_next = t->entries;
    if (t->entries != nullptr) t->entries->table_prev = entry;
    t->entries = entry;
  }
  delete[] old;
}

void local_thread_exit() noexcept {
  LocalRegistry::thread_exit();
}

void local_fork_prepare() noexcept {
  LocalRegistry::get().lock.acquire();
}

void local_fork_parent() noexcept {
  LocalRegistry::get().lock.release();
}

// In the child, every table but the forking thread's belongs to a thread that
// does not exist there. Its instances are not destroyed here (a destructor
// run inside fork() could wait forever on a lock a vanished thread held):
// they stay with their local<T> and are destroyed with it; the table is
// freed with its last instance.
void local_fork_child() noexcept {
  LocalRegistry& r = LocalRegistry::get();
  LocalTable* mine = tls_local_table;
  for (LocalTable* t = r.tables; t != nullptr;) {
    LocalTable* next = t->next;
    if (t != mine) {
      t->orphan = true;
      if (t->entries == nullptr) r.free_table(t);
    }
    t = next;
  }
  r.lock.release();
}

}  // namespace spindle::detail
