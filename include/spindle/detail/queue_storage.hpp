// spindle/detail/queue_storage.hpp - the containers behind the queues.
//
// CPython's queue.Queue keeps its items behind four hooks (_init, _qsize,
// _put, _get) that LifoQueue and PriorityQueue override. Here the hooks are a
// storage policy: FifoStorage (a ring buffer), LifoStorage (a vector) and
// HeapStorage (a binary min-heap). The queue calls them with its lock held.
//
// Every storage gives the strong exception guarantee (C81):
//   push(args...)  constructs the item; if that, a growth or a comparison
//                  throws, the storage is as it was.
//   plan_pop()     does every comparison a pop needs (only the heap has any)
//                  and may throw; it changes nothing.
//   top()          the item the next pop removes; the queue copies or moves
//                  it out before calling pop(), so a throwing copy/move
//                  leaves the item where it was.
//   pop(plan)      removes top(); never throws.
//   clear()        destroys every item; never throws; returns how many.
//
// To make growth and sifting unable to throw, items whose move constructor or
// move assignment may throw are kept in a box (a unique_ptr); moving a box
// never throws. Items with noexcept moves (ints, pointers, strings,
// unique_ptrs, most user types) are stored inline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace spindle::detail {

/// True if T is stored inline; otherwise it is boxed.
template <class T>
inline constexpr bool kInlineItem =
    std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>;

/// What a storage holds for one item.
template <class T>
using Slot = std::conditional_t<kInlineItem<T>, T, std::unique_ptr<T>>;

template <class T>
inline T& item_of(Slot<T>& s) noexcept {
  if constexpr (kInlineItem<T>) {
    return s;
  } else {
    return *s;
  }
}

/// Builds a slot in raw memory at `p` from constructor arguments of T.
template <class T, class... Args>
inline void construct_slot(Slot<T>* p, Args&&... args) {
  if constexpr (kInlineItem<T>) {
    ::new (static_cast<void*>(p)) T(std::forward<Args>(args)...);
  } else {
    auto box = std::make_unique<T>(std::forward<Args>(args)...);
    ::new (static_cast<void*>(p)) std::unique_ptr<T>(std::move(box));
  }
}

/// A slot as a value (for vectors), built from constructor arguments of T.
template <class T, class... Args>
inline Slot<T> make_slot(Args&&... args) {
  if constexpr (kInlineItem<T>) {
    return T(std::forward<Args>(args)...);
  } else {
    return std::make_unique<T>(std::forward<Args>(args)...);
  }
}

/// The plan of a pop that needs no comparison.
struct NoPlan {};

/// First in, first out: a ring buffer whose capacity is a power of two,
/// doubled when full (never shrunk).
template <class T>
class FifoStorage {
  using S = Slot<T>;

 public:
  using Plan = NoPlan;

  FifoStorage() noexcept = default;
  FifoStorage(const FifoStorage&) = delete;
  FifoStorage& operator=(const FifoStorage&) = delete;
  ~FifoStorage() {
    clear();
    if (buf_ != nullptr) std::allocator<S>().deallocate(buf_, cap_);
  }

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  template <class... Args>
  void push(Args&&... args) {
    if (size_ == cap_) grow();
    construct_slot<T>(buf_ + ((head_ + size_) & (cap_ - 1)), std::forward<Args>(args)...);
    ++size_;
  }
  Plan plan_pop() const noexcept { return {}; }
  T& top() noexcept { return item_of<T>(buf_[head_]); }
  void pop(Plan) noexcept {
    std::destroy_at(buf_ + head_);
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }
  std::size_t clear() noexcept {
    const std::size_t n = size_;
    while (size_ != 0) pop({});
    head_ = 0;
    return n;
  }

 private:
  void grow() {
    const std::size_t cap = cap_ == 0 ? 16 : cap_ * 2;
    S* buf = std::allocator<S>().allocate(cap);  // the only step that may throw
    for (std::size_t i = 0; i < size_; ++i) {
      S* from = buf_ + ((head_ + i) & (cap_ - 1));
      ::new (static_cast<void*>(buf + i)) S(std::move(*from));  // noexcept: S is inline or a box
      std::destroy_at(from);
    }
    if (buf_ != nullptr) std::allocator<S>().deallocate(buf_, cap_);
    buf_ = buf;
    cap_ = cap;
    head_ = 0;
  }

  S* buf_ = nullptr;
  std::size_t cap_ = 0;  // 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

/// Last in, first out: a vector.
template <class T>
class LifoStorage {
 public:
  using Plan = NoPlan;

  [[nodiscard]] bool empty() const noexcept { return v_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return v_.size(); }

  template <class... Args>
  void push(Args&&... args) {
    v_.push_back(make_slot<T>(std::forward<Args>(args)...));  // strong: slot moves are noexcept
  }
  Plan plan_pop() const noexcept { return {}; }
  T& top() noexcept { return item_of<T>(v_.back()); }
  void pop(Plan) noexcept { v_.pop_back(); }
  std::size_t clear() noexcept {
    const std::size_t n = v_.size();
    v_.clear();
    return n;
  }

 private:
  std::vector<Slot<T>> v_;
};

/// Lowest first: a binary min-heap under Compare (std::less by default, so
/// the top is an item no other item compares less than; Python's heapq).
///
/// Both sifts first find where the moving item lands using comparisons only,
/// and then move items along that path with noexcept moves. A comparison
/// that throws therefore leaves the heap exactly as it was (C81), which
/// std::push_heap / std::pop_heap do not promise.
template <class T, class Compare>
class HeapStorage {
  using S = Slot<T>;

 public:
  /// The path of a pop's sift-down: at each level, left (0) or right (1).
  struct Plan {
    std::uint64_t turns = 0;
    int depth = 0;
  };

  explicit HeapStorage(Compare comp = Compare()) : comp_(std::move(comp)) {}

  [[nodiscard]] bool empty() const noexcept { return v_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return v_.size(); }

  template <class... Args>
  void push(Args&&... args) {
    v_.push_back(make_slot<T>(std::forward<Args>(args)...));
    const std::size_t last = v_.size() - 1;
    std::size_t at = last;
    try {
      T& x = item_of<T>(v_[last]);
      while (at > 0 && less(x, item_of<T>(v_[(at - 1) / 2]))) at = (at - 1) / 2;
    } catch (...) {
      v_.pop_back();
      throw;
    }
    if (at == last) return;
    S moving(std::move(v_[last]));
    for (std::size_t i = last; i != at;) {
      const std::size_t parent = (i - 1) / 2;
      v_[i] = std::move(v_[parent]);
      i = parent;
    }
    v_[at] = std::move(moving);
  }

  Plan plan_pop() {
    Plan plan;
    const std::size_t n = v_.size() - 1;  // size after the pop; v_[n] refills the root
    if (n == 0) return plan;
    T& x = item_of<T>(v_[n]);
    std::size_t hole = 0;
    for (;;) {
      std::size_t child = 2 * hole + 1;
      if (child >= n) break;
      std::uint64_t turn = 0;
      if (child + 1 < n && less(item_of<T>(v_[child + 1]), item_of<T>(v_[child]))) {
        ++child;
        turn = 1;
      }
      if (!less(item_of<T>(v_[child]), x)) break;
      plan.turns |= turn << plan.depth;
      ++plan.depth;
      hole = child;
    }
    return plan;
  }
  T& top() noexcept { return item_of<T>(v_.front()); }
  void pop(Plan plan) noexcept {
    const std::size_t n = v_.size() - 1;
    if (n != 0) {
      std::size_t hole = 0;
      for (int level = 0; level < plan.depth; ++level) {
        const std::size_t child = 2 * hole + 1 + ((plan.turns >> level) & 1U);
        v_[hole] = std::move(v_[child]);
        hole = child;
      }
      v_[hole] = std::move(v_[n]);
    }
    v_.pop_back();
  }
  std::size_t clear() noexcept {
    const std::size_t n = v_.size();
    v_.clear();
    return n;
  }

 private:
  bool less(const T& a, const T& b) { return static_cast<bool>(comp_(a, b)); }

  std::vector<S> v_;
  Compare comp_;
};

}  // namespace spindle::detail
