// spindle/detail/process_codec.hpp - how a call crosses to a worker process.
//
// Not for users: see spindle/process.hpp. A task travels as one payload:
//
//   [entry: CodeRef][function: CodeRef or none][arguments: cereal binary]
//
// The entry is a trampoline instantiated per (function type, argument wire
// types); the worker runs the same executable, so the trampoline exists there
// at the same offset inside the same module (executable or shared library).
// A CodeRef names the module (the dynamic loader's name; "" for the
// executable) and the offset of the code from the module's load address, so
// ASLR and PIE do not matter. A captureless lambda needs no second CodeRef
// (its type is default-constructible, so the trampoline makes one); a
// function pointer is sent as a second CodeRef.
//
// The result (or the exception) comes back as a second payload. Payloads up
// to kInlineLimit bytes travel inside the frame on the socket; larger ones are
// written into a memfd whose descriptor crosses with SCM_RIGHTS, so a 50 MB
// argument costs one copy in (serialising into shared memory) and one copy
// out (deserialising from the mapping).
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/bitset.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/common.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/memory.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <istream>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <streambuf>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "spindle/errors.hpp"

namespace spindle::detail::process {

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

/// Payloads larger than this go through a memfd instead of the socket. Chosen,
/// not tuned: a frame this size fits a Unix socket's default send buffer
/// (about 208 KiB) in one write; above it, a memfd saves the two copies
/// through the kernel and the waits for the socket to drain.
inline constexpr std::size_t kInlineLimit = std::size_t{128} * 1024;

/// A memfd and its read-write shared mapping. A process keeps a few of them
/// (the memfds it received, once read) and writes its next large payloads
/// into them: pages that are already allocated cost a fraction of fresh ones
/// (docs/design/processes.md has the numbers).
struct ShmBuffer {
  int fd = -1;
  char* map = nullptr;
  std::size_t cap = 0;
  std::uint64_t ino = 0;  // identifies the memfd across processes
};
/// A buffer of at least `need` bytes: a kept one if one fits (or can grow),
/// else a new one. Throws std::system_error if the OS refuses.
ShmBuffer take_shm_buffer(std::size_t need);
/// Keeps `b` for later payloads, or unmaps and closes it if enough are kept.
void keep_shm_buffer(ShmBuffer b) noexcept;
/// After sending `b`'s descriptor: keeps only its mapping, for when the
/// buffer comes back (a mapping that is new to a process costs a trap per
/// page on first touch on some virtual machines, see processes.md).
void lend_shm_buffer(ShmBuffer b) noexcept;
/// The mapping kept by lend_shm_buffer for the memfd `ino` of `cap` bytes,
/// or null (a kept mapping of another size is dropped).
char* reclaim_shm_mapping(std::uint64_t ino, std::size_t cap) noexcept;
/// In a forked child: forgets the kept buffers (their descriptors are closed).
void forget_shm_buffers() noexcept;
/// Unmaps and closes every kept buffer (when the last pool is gone).
void release_shm_buffers() noexcept;

/// Bytes on their way to another process: inline bytes, or a memfd holding
/// `size` bytes. Move-only; closes its descriptor.
class Payload {
 public:
  Payload() = default;
  explicit Payload(std::string bytes) noexcept : bytes_(std::move(bytes)) {}
  Payload(int fd, std::uint64_t size) noexcept : fd_(fd), size_(size) {}
  Payload(Payload&& o) noexcept
      : bytes_(std::move(o.bytes_)), fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}
  Payload& operator=(Payload&& o) noexcept;
  ~Payload();

  [[nodiscard]] bool in_fd() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return in_fd() ? size_ : bytes_.size(); }
  [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }
  /// Gives up the descriptor (the caller closes it).
  int release_fd() noexcept { return std::exchange(fd_, -1); }

 private:
  std::string bytes_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// A streambuf that collects a payload: in memory up to kInlineLimit, then
/// (if allowed) in a memfd mapping that grows by doubling.
class Sink final : public std::streambuf {
 public:
  explicit Sink(bool allow_memfd = true) noexcept : allow_memfd_(allow_memfd) {}
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  ~Sink() override;

  void write(const void* data, std::size_t n) {
    if (n == 0) return;
    if (n <= static_cast<std::size_t>(epptr() - pptr())) {
      std::memcpy(pptr(), data, n);
      pbump(static_cast<int>(n));
      return;
    }
    write_slow(data, n);
  }
  /// The bytes written so far, as a payload; the sink is empty afterwards.
  Payload take();
  /// Drops what was written (the sink can be reused).
  void clear() noexcept;
  [[nodiscard]] std::size_t size() const noexcept {
    return static_cast<std::size_t>(pptr() - pbase());
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    write(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type ch) override;

 private:
  void write_slow(const void* data, std::size_t n);
  void grow(std::size_t need);
  void reset_put(char* base, std::size_t cap, std::size_t used);
  void release() noexcept;

  const bool allow_memfd_;
  std::string heap_;  // heap mode: the storage behind the put area
  ShmBuffer shm_;     // memfd mode
};

/// A streambuf that reads a payload: inline bytes, or a memfd (whose
/// descriptor it takes from `p`, and keeps for later payloads once read).
/// Reading past the end makes cereal throw.
class Source final : public std::streambuf {
 public:
  explicit Source(Payload& p);
  Source(const char* data, std::size_t n) noexcept { set(data, n); }
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  ~Source() override;

  /// Reads exactly n bytes; throws RuntimeError if fewer are left.
  void read(void* out, std::size_t n);
  /// Ends reading: a memfd goes back to the kept buffers at once (so that a
  /// result written next can reuse its pages).
  void done() noexcept;
  [[nodiscard]] std::size_t left() const noexcept {
    return static_cast<std::size_t>(egptr() - gptr());
  }

 protected:
  std::streamsize xsgetn(char* s, std::streamsize n) override;

 private:
  void set(const char* data, std::size_t n) noexcept {
    char* p = const_cast<char*>(data);
    setg(p, p, p + n);
  }
  ShmBuffer shm_;
};

/// A std::ostream / std::istream bound to a Sink / Source for the life of
/// the object (cereal's binary archives only use the stream's rdbuf()). The
/// stream objects are per-thread and reused: constructing a std::ostream
/// costs a locale lookup, more than encoding a small task.
class OutStream {
 public:
  /// Throws std::bad_alloc only when the thread's stream is already in use
  /// (a nested encoding, e.g. from a user's serialize()) and a new one
  /// cannot be allocated.
  explicit OutStream(Sink& s);
  ~OutStream();
  OutStream(const OutStream&) = delete;
  OutStream& operator=(const OutStream&) = delete;
  std::ostream& get() noexcept { return *os_; }

 private:
  std::ostream* os_;
  std::streambuf* saved_;
  bool owned_;
};
class InStream {
 public:
  /// As OutStream's.
  explicit InStream(Source& s);
  ~InStream();
  InStream(const InStream&) = delete;
  InStream& operator=(const InStream&) = delete;
  std::istream& get() noexcept { return *is_; }

 private:
  std::istream* is_;
  std::streambuf* saved_;
  bool owned_;
};

// ---------------------------------------------------------------------------
// Function identity
// ---------------------------------------------------------------------------

/// Code at `offset` from the load address of the module named `module`
/// ("" is the executable). The same in every process running the program.
struct CodeRef {
  std::string module;
  std::uint64_t offset = 0;
};

/// The CodeRef of an address inside loaded code. Throws ValueError if the
/// address is not inside an executable segment of a loaded module.
CodeRef code_ref(const void* address);
/// The address a CodeRef denotes in this process (loading the module with
/// dlopen if it is not loaded yet). Throws RuntimeError if it cannot be
/// found or does not point into executable code.
const void* resolve_code(std::string_view module, std::uint64_t offset);

void write_code_ref(Sink& s, const CodeRef& r);
void write_no_code_ref(Sink& s);

template <class T>
inline const void* code_address(T* fn) noexcept {
  return reinterpret_cast<const void*>(fn);
}

/// A trampoline: decodes the arguments from `in`, calls the function (`fn`
/// is the resolved function pointer, or null for a captureless lambda) and
/// encodes the result into `out`. Exceptions propagate to the worker loop.
using Entry = void (*)(const void* fn, std::istream& in, std::ostream& out);

/// The CodeRef of a trampoline, computed once per instantiation.
template <Entry E>
const CodeRef& entry_ref() {
  static const CodeRef ref = code_ref(code_address(E));
  return ref;
}

// ---------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------

/// Encodes the exception being handled (call inside a catch block): spindle's
/// and the standard library's exception types by identity, anything else by
/// its demangled type name and what().
void encode_current_exception(Sink& s);
/// Rebuilds an exception encoded by encode_current_exception: the same type
/// for known types, RemoteError otherwise. `pid` names the worker.
std::exception_ptr decode_exception(Source& s, long pid);

// ---------------------------------------------------------------------------
// What can cross: the compile-time checks
// ---------------------------------------------------------------------------

/// The type an argument travels as: its decayed type, except that C strings
/// and std::string_view travel as std::string (they point into the parent).
template <class A>
struct wire {
  using type = std::decay_t<A>;
};
template <class A>
  requires(std::is_same_v<std::decay_t<A>, const char*> || std::is_same_v<std::decay_t<A>, char*> ||
           std::is_same_v<std::decay_t<A>, std::string_view>)
struct wire<A> {
  using type = std::string;
};
template <class A>
using wire_t = typename wire<A>::type;

template <class T>
constexpr bool cereal_io =
    cereal::traits::is_output_serializable<T, cereal::BinaryOutputArchive>::value &&
    cereal::traits::is_input_serializable<T, cereal::BinaryInputArchive>::value;

/// True if T can be written and read back with cereal's binary archives,
/// looking inside the standard containers (cereal's own trait accepts a
/// std::vector<T> whatever T is) and requiring what loading needs: a default
/// constructor.
template <class T>
struct deep_serializable : std::bool_constant<!std::is_pointer_v<T> && !std::is_reference_v<T> &&
                                              std::is_default_constructible_v<T> && cereal_io<T>> {
};
template <class... T>
constexpr bool all_deep = (deep_serializable<std::remove_cv_t<T>>::value && ...);

template <class T, class A>
struct deep_serializable<std::vector<T, A>> : std::bool_constant<all_deep<T>> {};
template <class T, class A>
struct deep_serializable<std::deque<T, A>> : std::bool_constant<all_deep<T>> {};
template <class T, class A>
struct deep_serializable<std::list<T, A>> : std::bool_constant<all_deep<T>> {};
template <class T, std::size_t N>
struct deep_serializable<std::array<T, N>> : std::bool_constant<all_deep<T>> {};
template <class K, class V, class C, class A>
struct deep_serializable<std::map<K, V, C, A>> : std::bool_constant<all_deep<K, V>> {};
template <class K, class V, class C, class A>
struct deep_serializable<std::multimap<K, V, C, A>> : std::bool_constant<all_deep<K, V>> {};
template <class K, class V, class H, class E, class A>
struct deep_serializable<std::unordered_map<K, V, H, E, A>> : std::bool_constant<all_deep<K, V>> {};
template <class K, class C, class A>
struct deep_serializable<std::set<K, C, A>> : std::bool_constant<all_deep<K>> {};
template <class K, class C, class A>
struct deep_serializable<std::multiset<K, C, A>> : std::bool_constant<all_deep<K>> {};
template <class K, class H, class E, class A>
struct deep_serializable<std::unordered_set<K, H, E, A>> : std::bool_constant<all_deep<K>> {};
template <class A, class B>
struct deep_serializable<std::pair<A, B>> : std::bool_constant<all_deep<A, B>> {};
template <class... T>
struct deep_serializable<std::tuple<T...>> : std::bool_constant<all_deep<T...>> {};
template <class T>
struct deep_serializable<std::optional<T>> : std::bool_constant<all_deep<T>> {};
template <class... T>
struct deep_serializable<std::variant<T...>> : std::bool_constant<all_deep<T...>> {};
template <class T>
struct deep_serializable<std::unique_ptr<T>>
    : std::bool_constant<!std::is_array_v<T> && !std::is_polymorphic_v<T> && all_deep<T>> {};
template <class T>
struct deep_serializable<std::shared_ptr<T>>
    : std::bool_constant<!std::is_array_v<T> && !std::is_polymorphic_v<T> && all_deep<T>> {};

/// A callable a worker process can run: a function (pointer or reference),
/// or a class with no state that can be default-constructed there (a
/// lambda without captures, a stateless function object).
template <class F>
concept process_callable = (std::is_pointer_v<std::decay_t<F>> &&
                            std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>) ||
                           (std::is_class_v<std::decay_t<F>> && std::is_empty_v<std::decay_t<F>> &&
                            std::is_default_constructible_v<std::decay_t<F>>);

template <class F>
constexpr bool is_function_pointer_v = std::is_pointer_v<std::decay_t<F>>;

/// The result type of calling F with the wire types, as it comes back.
template <class F, class... W>
using call_result_t = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, W&&...>>;

template <class F, class... W>
decltype(auto) invoke_wire(const void* fn, W&... w) {
  using Fn = std::decay_t<F>;
  if constexpr (std::is_pointer_v<Fn>) {
    return std::invoke(reinterpret_cast<Fn>(const_cast<void*>(fn)), std::move(w)...);
  } else {
    return std::invoke(Fn{}, std::move(w)...);
  }
}

// ---------------------------------------------------------------------------
// The trampolines
// ---------------------------------------------------------------------------

/// Decodes the arguments, then lets the payload go (see Source::done).
template <class... W>
void load_args(std::istream& in, std::tuple<W...>& args) {
  if constexpr (sizeof...(W) > 0) {
    cereal::BinaryInputArchive ar(in);
    std::apply([&](auto&... a) { ar(a...); }, args);
  }
  static_cast<Source*>(in.rdbuf())->done();
}

/// One call: fn(args...) -> R.
template <class F, class... W>
void call_entry(const void* fn, std::istream& in, std::ostream& out) {
  std::tuple<W...> args;
  load_args(in, args);
  using R = call_result_t<F, W...>;
  if constexpr (std::is_void_v<R>) {
    std::apply([&](W&... a) { invoke_wire<F>(fn, a...); }, args);
  } else {
    const R r = std::apply([&](W&... a) -> R { return invoke_wire<F>(fn, a...); }, args);
    cereal::BinaryOutputArchive ar(out);
    ar(r);
  }
}

/// An initializer: as call_entry, the result dropped.
template <class F, class... W>
void init_entry(const void* fn, std::istream& in, std::ostream&) {
  std::tuple<W...> args;
  load_args(in, args);
  std::apply([&](W&... a) { (void)invoke_wire<F>(fn, a...); }, args);
}

/// A chunk of map(): a vector of argument tuples -> a vector of results. The
/// first exception ends the chunk (Python's _process_chunk).
template <class F, class... W>
void chunk_entry(const void* fn, std::istream& in, std::ostream& out) {
  using R = call_result_t<F, W...>;
  std::vector<std::tuple<W...>> items;
  {
    cereal::BinaryInputArchive ar(in);
    ar(items);
  }
  static_cast<Source*>(in.rdbuf())->done();
  std::vector<R> results;
  results.reserve(items.size());
  for (auto& t : items) {
    results.push_back(std::apply([&](W&... a) -> R { return invoke_wire<F>(fn, a...); }, t));
  }
  cereal::BinaryOutputArchive ar(out);
  ar(results);
}

/// Writes the entry and function identity of a call of F.
template <Entry E, class F>
void write_call_head(Sink& s, const F& fn) {
  write_code_ref(s, entry_ref<E>());
  if constexpr (is_function_pointer_v<F>) {
    std::decay_t<F> p = fn;
    if (p == nullptr) throw ValueError("cannot submit a null function pointer");
    write_code_ref(s, code_ref(code_address(p)));
  } else {
    write_no_code_ref(s);
  }
}

/// Serialises one argument as its wire type W.
template <class W, class A>
void save_arg(cereal::BinaryOutputArchive& ar, A&& a) {
  if constexpr (std::is_same_v<W, std::remove_cvref_t<A>>) {
    ar(a);
  } else {
    const W w(std::forward<A>(a));
    ar(w);
  }
}

/// The payload of fn(args...) run by trampoline E.
template <Entry E, class F, class... A>
Payload encode_call(Sink& sink, const F& fn, A&&... args) {
  write_call_head<E>(sink, fn);
  if constexpr (sizeof...(A) > 0) {
    OutStream os(sink);
    cereal::BinaryOutputArchive ar(os.get());
    (save_arg<wire_t<A>>(ar, std::forward<A>(args)), ...);
  }
  return sink.take();
}

/// Decodes a result payload into R.
template <class R>
R decode_value(Source& src) {
  InStream is(src);
  R value{};
  cereal::BinaryInputArchive ar(is.get());
  ar(value);
  return value;
}

}  // namespace spindle::detail::process
