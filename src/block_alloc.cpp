// The allocator of futures' blocks (detail::block_alloc / block_free).
//
// Every submit() allocates one block and every future's last handle frees
// it, so a burst of tiny tasks is an allocator benchmark in disguise. Two
// costs dominate there, and general-purpose malloc pays both: a lock or an
// atomic per call when one thread allocates and another frees, and fresh
// memory - 100,000 futures alive at once are ~10 MB, and on a virtual
// machine each first touch of a 4 KiB page costs several microseconds.
//
//   * Size classes 16 bytes apart, 32 to 256; bigger blocks go to operator
//     new. No header: a block's size is known when it is freed.
//   * Each thread keeps its own free blocks per class: allocating and freeing
//     are a few plain loads and stores. Blocks move between a thread and the
//     shared arena a batch (kBatch blocks) at a time, so the arena's lock is
//     taken once per kBatch calls at most.
//   * New blocks are carved from spans a thread takes from chunks of address
//     space: 256 KiB for the first (small programs stay small), 2 MiB and
//     aligned for the rest, advised as transparent huge pages (MADV_HUGEPAGE),
//     so that where the kernel grants them one fault maps 2 MiB.
//   * Memory is never returned to the system: a program that once had a
//     million futures alive keeps their blocks for later ones (as glibc's
//     arenas and oneTBB's scalable allocator do).
//
// fork(): the arena's lock is an InternalLock; a forked child frees it. Every
// update under it is a single store that publishes a fully built object, so a
// vanished thread can have left the arena short of what it was taking or
// giving back (a leak in the child), never inconsistent.
//
// Under AddressSanitizer the blocks come from operator new and go back to
// operator delete, so that the sanitizer sees every block's lifetime.
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

#include "internal_lock.hpp"
#include "spindle/detail/future_state.hpp"
#include "thread_internal.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define SPINDLE_BLOCKS_FROM_OPERATOR_NEW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPINDLE_BLOCKS_FROM_OPERATOR_NEW 1
#endif
#endif

namespace spindle::detail {

#ifdef SPINDLE_BLOCKS_FROM_OPERATOR_NEW

void* block_alloc(std::size_t size) {
  return ::operator new(size);
}
void block_free(void* p, std::size_t /*size*/) noexcept {
  ::operator delete(p);
}

#else

namespace {

constexpr std::size_t kGrain = 16;
constexpr std::size_t kClasses = 16;  // 16, 32, ..., 256 bytes (the first two hold 32)
constexpr std::size_t kMaxBlock = kGrain * kClasses;
constexpr std::uint32_t kBatch = 64;  // blocks per move between a thread and the arena
constexpr std::size_t kSpan = std::size_t{64} << 10;
constexpr std::size_t kFirstChunk = std::size_t{256} << 10;
constexpr std::size_t kChunk = std::size_t{2} << 20;

// A free block. A list's first block also carries the list's length and the
// link to the next list of the arena's stack.
struct FreeBlock {
  FreeBlock* next;
  FreeBlock* next_list;
  std::uint32_t count;
};
static_assert(sizeof(FreeBlock) <= 2 * kGrain);
constexpr std::size_t kMinBlock = 2 * kGrain;

struct Span {
  char* cur = nullptr;
  char* end = nullptr;
};

// A leftover span given back by a thread that ended, kept in its own memory.
struct SpareSpan {
  char* end;
  SpareSpan* next;
};

// The newest chunk's uncarved part, kept at the chunk's start.
struct ChunkHead {
  char* cur;
  char* end;
};

struct Arena {
  InternalLock lock;
  FreeBlock* lists[kClasses] = {};  // stacks of free lists, per class
  SpareSpan* spares = nullptr;
  ChunkHead* chunk = nullptr;  // the newest chunk; null before the first
};
constinit Arena g_arena{};

// Maps a new chunk; null if the system refuses.
char* map_chunk(std::size_t size, bool huge) noexcept {
  const std::size_t want = huge ? size + kChunk : size;  // room to align to 2 MiB
  void* p = mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  char* base = static_cast<char*>(p);
  if (huge) {
    // Keep the 2 MiB-aligned part; give back the unaligned head and tail.
    const std::size_t misalign = reinterpret_cast<std::uintptr_t>(base) & (kChunk - 1);
    const std::size_t head = misalign == 0 ? 0 : kChunk - misalign;
    if (head > 0) munmap(base, head);
    const std::size_t tail = want - head - size;
    if (tail > 0) munmap(base + head + size, tail);
    base += head;
    (void)madvise(base, size, MADV_HUGEPAGE);
  }
  return base;
}

// A span for a thread, from a spare or the newest chunk (under the lock).
// False if out of memory.
bool take_span(Span& out) noexcept {
  std::lock_guard<InternalLock> guard(g_arena.lock);
  if (SpareSpan* s = g_arena.spares) {
    g_arena.spares = s->next;
    out.cur = reinterpret_cast<char*>(s);
    out.end = s->end;
    return true;
  }
  ChunkHead* ch = g_arena.chunk;
  if (ch == nullptr || static_cast<std::size_t>(ch->end - ch->cur) < kSpan) {
    const bool huge = ch != nullptr;
    const std::size_t size = huge ? kChunk : kFirstChunk;
    char* c = map_chunk(size, huge);
    if (c == nullptr) return false;
    // The rest of the old chunk (less than a span) is dropped: at most
    // kSpan per chunk. The head is built before it is published.
    auto* head = reinterpret_cast<ChunkHead*>(c);
    head->cur = c + kGrain * ((sizeof(ChunkHead) + kGrain - 1) / kGrain);
    head->end = c + size;
    g_arena.chunk = ch = head;
  }
  out.cur = ch->cur;
  out.end = out.cur + kSpan;
  ch->cur = out.end;
  return true;
}

// Pushes a whole list (first block carries its count) on the arena's stack.
void give_list(std::size_t cls, FreeBlock* list) noexcept {
  std::lock_guard<InternalLock> guard(g_arena.lock);
  list->next_list = g_arena.lists[cls];
  g_arena.lists[cls] = list;
}

// Pops a list from the arena's stack, or null.
FreeBlock* take_list(std::size_t cls) noexcept {
  std::lock_guard<InternalLock> guard(g_arena.lock);
  FreeBlock* list = g_arena.lists[cls];
  if (list != nullptr) g_arena.lists[cls] = list->next_list;
  return list;
}

// A thread's blocks: per class, a current list and at most one full one.
struct Cache {
  FreeBlock* cur[kClasses] = {};
  std::uint32_t cur_len[kClasses] = {};
  FreeBlock* full[kClasses] = {};  // exactly kBatch blocks, or null
  Span span;

  constexpr Cache() noexcept = default;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  ~Cache();

  void* alloc(std::size_t cls) noexcept {
    if (FreeBlock* b = cur[cls]) {
      cur[cls] = b->next;
      --cur_len[cls];
      return b;
    }
    if (FreeBlock* f = full[cls]) {
      full[cls] = nullptr;
      cur[cls] = f->next;
      cur_len[cls] = f->count - 1;
      return f;
    }
    if (FreeBlock* l = take_list(cls)) {
      cur[cls] = l->next;
      cur_len[cls] = l->count - 1;
      return l;
    }
    const std::size_t size = (cls + 1) * kGrain;
    if (static_cast<std::size_t>(span.end - span.cur) < size) {
      if (span.cur != span.end) spare(span);
      if (!take_span(span)) return nullptr;
    }
    void* p = span.cur;
    span.cur += size;
    return p;
  }

  void free(void* p, std::size_t cls) noexcept {
    auto* b = static_cast<FreeBlock*>(p);
    if (cur_len[cls] == kBatch) {
      // The current list is a full batch: it becomes the full one, and the
      // full one (if any) goes to the arena.
      FreeBlock* f = cur[cls];
      f->count = kBatch;
      if (full[cls] != nullptr) give_list(cls, full[cls]);
      full[cls] = f;
      cur[cls] = nullptr;
      cur_len[cls] = 0;
    }
    b->next = cur[cls];
    cur[cls] = b;
    ++cur_len[cls];
  }

  static void spare(Span& s) noexcept {
    if (static_cast<std::size_t>(s.end - s.cur) >= kMaxBlock) {  // smaller rests are dropped
      auto* sp = reinterpret_cast<SpareSpan*>(s.cur);
      sp->end = s.end;
      std::lock_guard<InternalLock> guard(g_arena.lock);
      sp->next = g_arena.spares;
      g_arena.spares = sp;
    }
    s = Span{};
  }
};

thread_local Cache tls_cache;
// Set once the thread's cache is destroyed (thread exit): later calls on
// this thread go to the arena directly. Trivial, so valid to the end.
thread_local bool tls_cache_gone = false;

Cache::~Cache() {
  for (std::size_t cls = 0; cls < kClasses; ++cls) {
    if (full[cls] != nullptr) give_list(cls, full[cls]);
    if (FreeBlock* c = cur[cls]) {
      c->count = cur_len[cls];
      give_list(cls, c);
    }
    full[cls] = cur[cls] = nullptr;
    cur_len[cls] = 0;
  }
  if (span.cur != span.end) spare(span);
  tls_cache_gone = true;
}

// A thread whose cache is gone: one block at a time, through the arena.
void* alloc_uncached(std::size_t cls) noexcept {
  if (FreeBlock* l = take_list(cls)) {
    if (l->count > 1) {
      FreeBlock* rest = l->next;
      rest->count = l->count - 1;
      give_list(cls, rest);
    }
    return l;
  }
  Span s;
  if (!take_span(s)) return nullptr;
  void* p = s.cur;
  s.cur += (cls + 1) * kGrain;
  Cache::spare(s);
  return p;
}
void free_uncached(void* p, std::size_t cls) noexcept {
  auto* b = static_cast<FreeBlock*>(p);
  b->next = nullptr;
  b->count = 1;
  give_list(cls, b);
}

void arena_after_fork_in_child() noexcept {
  (void)g_arena.lock.reset_in_child();
}
[[maybe_unused]] const bool g_fork_registered =
    (register_at_fork_child(arena_after_fork_in_child), true);

}  // namespace

void* block_alloc(std::size_t size) {
  if (size > kMaxBlock) return ::operator new(size);
  const std::size_t cls = (std::max(size, kMinBlock) - 1) / kGrain;
  void* p = tls_cache_gone ? alloc_uncached(cls) : tls_cache.alloc(cls);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void block_free(void* p, std::size_t size) noexcept {
  if (size > kMaxBlock) {
    ::operator delete(p);  // the unsized form: sized deallocation is optional in C++ compilers
    return;
  }
  const std::size_t cls = (std::max(size, kMinBlock) - 1) / kGrain;
  if (tls_cache_gone) {
    free_uncached(p, cls);
  } else {
    tls_cache.free(p, cls);
  }
}

#endif

}  // namespace spindle::detail
