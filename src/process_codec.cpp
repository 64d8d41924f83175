// The task codec: payload buffers (heap, then memfd), function identity
// (module + offset), and exceptions by identity.
#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <typeinfo>
#include <variant>

#include "process_internal.hpp"
#include "spindle/lock.hpp"
#include "spindle/process.hpp"

namespace spindle {

RemoteError::RemoteError(std::string type_name, std::string message, long pid)
    : RuntimeError(message.empty() ? type_name : type_name + ": " + message),
      type_(std::move(type_name)),
      message_(std::move(message)),
      pid_(pid) {}

const char* to_string(StartMethod m) noexcept {
  switch (m) {
    case StartMethod::spawn:
      return "spawn";
    case StartMethod::fork:
      return "fork";
  }
  return "?";
}

namespace detail::process {

namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::size_t page_round(std::size_t n) {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

}  // namespace

// ---------------------------------------------------------------------------
// Payload, Sink, Source
// ---------------------------------------------------------------------------

Payload& Payload::operator=(Payload&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    bytes_ = std::move(o.bytes_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
  }
  return *this;
}

Payload::~Payload() {
  if (fd_ >= 0) ::close(fd_);
}

// ---- kept shared-memory buffers -------------------------------------------

namespace {

constexpr std::size_t kKeptBuffers = 4;
constexpr std::size_t kKeptBytes = 256u << 20;

struct ShmCache {
  Lock lock;
  std::vector<ShmBuffer> kept;  // descriptor and mapping: ready to write into
  std::size_t bytes = 0;
  std::vector<ShmBuffer> lent;  // mapping only (fd -1): sent away, may come back
  std::size_t lent_bytes = 0;
};
ShmCache& shm_cache() {
  static auto* c = new ShmCache;  // never destroyed: used by workers until _exit
  return *c;
}

void drop(ShmBuffer& b) noexcept {
  if (b.map != nullptr) ::munmap(b.map, b.cap);
  if (b.fd >= 0) ::close(b.fd);
  b = ShmBuffer{};
}

// Grows `b` (a mapped memfd) to `cap` bytes.
void grow_shm(ShmBuffer& b, std::size_t cap) {
  if (::ftruncate(b.fd, static_cast<off_t>(cap)) != 0) throw_errno("ftruncate");
  void* m = ::mremap(b.map, b.cap, cap, MREMAP_MAYMOVE);
  if (m == MAP_FAILED) throw_errno("mremap");
  b.map = static_cast<char*>(m);
#ifdef MADV_POPULATE_WRITE
  ::madvise(b.map + b.cap, cap - b.cap, MADV_POPULATE_WRITE);
#endif
  b.cap = cap;
}

}  // namespace

ShmBuffer take_shm_buffer(std::size_t need) {
  ShmBuffer b;
  {
    ShmCache& c = shm_cache();
    std::scoped_lock guard(c.lock);
    // The smallest that fits, else the largest (grown below).
    const std::size_t none = c.kept.size();
    std::size_t pick = none;
    for (std::size_t i = 0; i < c.kept.size(); ++i) {
      if (c.kept[i].cap >= need && (pick == none || c.kept[i].cap < c.kept[pick].cap)) pick = i;
    }
    if (pick == none) {
      for (std::size_t i = 0; i < c.kept.size(); ++i) {
        if (pick == none || c.kept[i].cap > c.kept[pick].cap) pick = i;
      }
    }
    if (pick < c.kept.size()) {
      b = c.kept[pick];
      c.kept.erase(c.kept.begin() + static_cast<std::ptrdiff_t>(pick));
      c.bytes -= b.cap;
    }
  }
  if (b.fd >= 0) {
    if (b.cap < need) {
      try {
        grow_shm(b, page_round(need));
      } catch (...) {
        drop(b);
        throw;
      }
    }
    return b;
  }
  const std::size_t cap = page_round(need);
  b.fd = ::memfd_create("spindle-payload", MFD_CLOEXEC);
  if (b.fd < 0) throw_errno("memfd_create");
  if (::ftruncate(b.fd, static_cast<off_t>(cap)) != 0) {
    drop(b);
    throw_errno("ftruncate");
  }
  void* m = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, b.fd, 0);
  if (m == MAP_FAILED) {
    drop(b);
    throw_errno("mmap");
  }
  b.map = static_cast<char*>(m);
  b.cap = cap;
  struct stat st {};
  if (::fstat(b.fd, &st) == 0) b.ino = static_cast<std::uint64_t>(st.st_ino);
  return b;
}

void lend_shm_buffer(ShmBuffer b) noexcept {
  if (b.map == nullptr) return;
  std::vector<ShmBuffer> evicted;
  {
    ShmCache& c = shm_cache();
    std::scoped_lock guard(c.lock);
    c.lent.push_back(ShmBuffer{-1, b.map, b.cap, b.ino});
    c.lent_bytes += b.cap;
    while (c.lent.size() > kKeptBuffers || c.lent_bytes > kKeptBytes) {
      evicted.push_back(c.lent.front());
      c.lent_bytes -= c.lent.front().cap;
      c.lent.erase(c.lent.begin());
    }
  }
  for (ShmBuffer& e : evicted) ::munmap(e.map, e.cap);
}

char* reclaim_shm_mapping(std::uint64_t ino, std::size_t cap) noexcept {
  ShmBuffer found;
  {
    ShmCache& c = shm_cache();
    std::scoped_lock guard(c.lock);
    for (std::size_t i = 0; i < c.lent.size(); ++i) {
      if (c.lent[i].ino != ino) continue;
      found = c.lent[i];
      c.lent_bytes -= found.cap;
      c.lent.erase(c.lent.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  if (found.map == nullptr) return nullptr;
  if (found.cap == cap) return found.map;
  ::munmap(found.map, found.cap);  // the other side grew it
  return nullptr;
}

void keep_shm_buffer(ShmBuffer b) noexcept {
  if (b.fd < 0) return;
  ShmCache& c = shm_cache();
  {
    std::scoped_lock guard(c.lock);
    if (c.kept.size() < kKeptBuffers && c.bytes + b.cap <= kKeptBytes) {
      c.bytes += b.cap;
      c.kept.push_back(b);
      return;
    }
  }
  drop(b);
}

void forget_shm_buffers() noexcept {
  ShmCache& c = shm_cache();
  for (ShmBuffer& b : c.kept) ::munmap(b.map, b.cap);  // the descriptors are already closed
  for (ShmBuffer& b : c.lent) ::munmap(b.map, b.cap);
  c.kept.clear();
  c.lent.clear();
  c.bytes = 0;
  c.lent_bytes = 0;
}

void release_shm_buffers() noexcept {
  std::vector<ShmBuffer> all;
  {
    ShmCache& c = shm_cache();
    std::scoped_lock guard(c.lock);
    all = std::move(c.kept);
    all.insert(all.end(), c.lent.begin(), c.lent.end());
    c.kept.clear();
    c.lent.clear();
    c.bytes = 0;
    c.lent_bytes = 0;
  }
  for (ShmBuffer& b : all) drop(b);
}

void lock_shm_buffers() noexcept {
  shm_cache().lock.acquire();
}
void unlock_shm_buffers() noexcept {
  shm_cache().lock.release();
}

// ---- Sink ----------------------------------------------------------------

Sink::~Sink() {
  release();
}

void Sink::release() noexcept {
  if (shm_.fd >= 0) keep_shm_buffer(shm_);
  shm_ = ShmBuffer{};
}

// pbump takes an int; payloads may exceed 2 GiB.
void Sink::reset_put(char* base, std::size_t cap, std::size_t used) {
  setp(base, base + cap);
  while (used > 0) {
    const std::size_t step = std::min<std::size_t>(used, INT_MAX);
    pbump(static_cast<int>(step));
    used -= step;
  }
}

void Sink::grow(std::size_t need) {
  const std::size_t used = size();
  const std::size_t cap = static_cast<std::size_t>(epptr() - pbase());
  if (allow_memfd_ && need > kInlineLimit) {
    const std::size_t want = std::max(need, cap * 2);
    if (shm_.fd < 0) {
      shm_ = take_shm_buffer(want);
      if (used > 0) std::memcpy(shm_.map, pbase(), used);
      std::string().swap(heap_);
    } else {
      grow_shm(shm_, page_round(want));
    }
    reset_put(shm_.map, shm_.cap, used);
    return;
  }
  const std::size_t new_cap = std::max({need, cap * 2, std::size_t{64}});
  heap_.resize(new_cap);
  reset_put(heap_.data(), new_cap, used);
}

void Sink::write_slow(const void* data, std::size_t n) {
  grow(size() + n);
  std::memcpy(pptr(), data, n);
  std::size_t left = n;
  while (left > 0) {
    const std::size_t step = std::min<std::size_t>(left, INT_MAX);
    pbump(static_cast<int>(step));
    left -= step;
  }
}

Sink::int_type Sink::overflow(int_type ch) {
  if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
  const char c = traits_type::to_char_type(ch);
  write(&c, 1);
  return ch;
}

Payload Sink::take() {
  const std::size_t used = size();
  setp(nullptr, nullptr);
  if (shm_.fd >= 0) {
    // The receiver maps it and keeps it afterwards; this side keeps only the
    // mapping, in case the buffer comes back.
    Payload p(shm_.fd, used);
    lend_shm_buffer(shm_);
    shm_ = ShmBuffer{};
    return p;
  }
  heap_.resize(used);
  Payload p(std::move(heap_));
  heap_ = std::string();
  return p;
}

void Sink::clear() noexcept {
  release();
  std::string().swap(heap_);
  setp(nullptr, nullptr);
}

Source::Source(Payload& p) {
  if (!p.in_fd()) {
    set(p.bytes().data(), p.bytes().size());
    return;
  }
  const std::uint64_t size = p.size();
  shm_.fd = p.release_fd();
  // A size beyond the file would fault (SIGBUS) on reading: check it first.
  struct stat st {};
  if (::fstat(shm_.fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < size) {
    ::close(shm_.fd);
    shm_ = ShmBuffer{};
    throw RuntimeError(
        "ProcessPoolExecutor: a message from another process is shorter than it says");
  }
  shm_.cap = static_cast<std::size_t>(st.st_size);
  shm_.ino = static_cast<std::uint64_t>(st.st_ino);
  if (shm_.cap == 0) {
    set(nullptr, 0);
    return;
  }
  shm_.map = reclaim_shm_mapping(shm_.ino, shm_.cap);
  if (shm_.map == nullptr) {
    void* m =
        ::mmap(nullptr, shm_.cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, shm_.fd, 0);
    if (m == MAP_FAILED) {
      ::close(shm_.fd);
      shm_ = ShmBuffer{};
      throw_errno("mmap");
    }
    shm_.map = static_cast<char*>(m);
  }
  set(shm_.map, static_cast<std::size_t>(size));
}

Source::~Source() {
  done();
}

void Source::done() noexcept {
  if (shm_.fd >= 0) keep_shm_buffer(shm_);
  shm_ = ShmBuffer{};
  setg(nullptr, nullptr, nullptr);
}

void Source::read(void* out, std::size_t n) {
  if (left() < n) throw RuntimeError("ProcessPoolExecutor: truncated message from another process");
  if (n == 0) return;
  std::memcpy(out, gptr(), n);
  std::size_t left_to_bump = n;
  while (left_to_bump > 0) {
    const std::size_t step = std::min<std::size_t>(left_to_bump, INT_MAX);
    gbump(static_cast<int>(step));
    left_to_bump -= step;
  }
}

std::streamsize Source::xsgetn(char* s, std::streamsize n) {
  const std::size_t take = std::min(left(), static_cast<std::size_t>(n));
  read(s, take);
  return static_cast<std::streamsize>(take);
}

// ---- per-thread streams ------------------------------------------------

namespace {
thread_local bool tls_out_busy = false;
thread_local bool tls_in_busy = false;
std::ostream& tls_ostream() {
  thread_local std::ostream os(nullptr);
  return os;
}
std::istream& tls_istream() {
  thread_local std::istream is(nullptr);
  return is;
}
}  // namespace

OutStream::OutStream(Sink& s) : os_(nullptr), saved_(nullptr), owned_(tls_out_busy) {
  if (owned_) {
    os_ = new std::ostream(&s);
  } else {
    tls_out_busy = true;
    os_ = &tls_ostream();
    os_->rdbuf(&s);
  }
}
OutStream::~OutStream() {
  if (owned_) {
    delete os_;
  } else {
    os_->rdbuf(nullptr);
    tls_out_busy = false;
  }
}
InStream::InStream(Source& s) : is_(nullptr), saved_(nullptr), owned_(tls_in_busy) {
  if (owned_) {
    is_ = new std::istream(&s);
  } else {
    tls_in_busy = true;
    is_ = &tls_istream();
    is_->rdbuf(&s);
  }
}
InStream::~InStream() {
  if (owned_) {
    delete is_;
  } else {
    is_->rdbuf(nullptr);
    tls_in_busy = false;
  }
}

// ---------------------------------------------------------------------------
// Function identity
// ---------------------------------------------------------------------------

namespace {

struct Module {
  std::string name;  // "" for the executable
  std::uintptr_t bias = 0;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> code;  // executable segments
};

struct CodeTables {
  Lock lock;
  std::vector<Module> modules;
};
CodeTables& tables() {
  static auto* t = new CodeTables;  // never destroyed: used by workers until _exit
  return *t;
}

int collect_module(dl_phdr_info* info, std::size_t, void* data) {
  auto& out = *static_cast<std::vector<Module>*>(data);
  Module m;
  // The first object is the executable, whatever name the loader gives it.
  m.name = out.empty() ? std::string() : std::string(info->dlpi_name ? info->dlpi_name : "");
  if (!out.empty() && m.name.empty()) return 0;  // unnamed extra objects cannot be found again
  m.bias = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) != 0) {
      m.code.emplace_back(m.bias + ph.p_vaddr, m.bias + ph.p_vaddr + ph.p_memsz);
    }
  }
  out.push_back(std::move(m));
  return 0;
}

void refresh_locked(CodeTables& t) {
  std::vector<Module> fresh;
  ::dl_iterate_phdr(&collect_module, &fresh);
  t.modules = std::move(fresh);
}

const Module* find_by_address(const CodeTables& t, std::uintptr_t a) {
  for (const Module& m : t.modules) {
    for (const auto& [lo, hi] : m.code) {
      if (a >= lo && a < hi) return &m;
    }
  }
  return nullptr;
}

const Module* find_by_name(const CodeTables& t, std::string_view name) {
  for (const Module& m : t.modules)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace

void lock_code_tables() noexcept {
  tables().lock.acquire();
}
void unlock_code_tables() noexcept {
  tables().lock.release();
}

CodeRef code_ref(const void* address) {
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  CodeTables& t = tables();
  std::scoped_lock guard(t.lock);
  const Module* m = find_by_address(t, a);
  if (m == nullptr) {
    refresh_locked(t);
    m = find_by_address(t, a);
  }
  if (m == nullptr) {
    char buf[96];
    std::snprintf(buf, sizeof buf,
                  "ProcessPoolExecutor: the function at %p is not in a loaded module", address);
    throw ValueError(buf);
  }
  return CodeRef{m->name, a - m->bias};
}

const void* resolve_code(std::string_view module, std::uint64_t offset) {
  CodeTables& t = tables();
  std::scoped_lock guard(t.lock);
  const Module* m = find_by_name(t, module);
  if (m == nullptr) {
    refresh_locked(t);
    m = find_by_name(t, module);
  }
  if (m == nullptr && !module.empty()) {
    // Loaded with dlopen in the parent after the worker started: load it here too.
    const std::string name(module);
    if (::dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) {
      refresh_locked(t);
      m = find_by_name(t, module);
    }
  }
  if (m == nullptr) {
    throw RuntimeError("ProcessPoolExecutor: module '" + std::string(module) +
                       "' of the submitted function is not loaded in the worker process");
  }
  const std::uintptr_t a = m->bias + offset;
  for (const auto& [lo, hi] : m->code) {
    // dl_iterate_phdr gives a module's addresses as integers: there is no
    // pointer to offset from.
    if (a >= lo && a < hi) {
      return reinterpret_cast<const void*>(a);  // NOLINT(performance-no-int-to-ptr)
    }
  }
  throw RuntimeError(
      "ProcessPoolExecutor: the submitted function's offset is outside the code of "
      "its module in the worker process (a different executable?)");
}

void write_code_ref(Sink& s, const CodeRef& r) {
  const auto n = static_cast<std::uint32_t>(r.module.size());
  s.write(&n, sizeof n);
  s.write(r.module.data(), r.module.size());
  s.write(&r.offset, sizeof r.offset);
}

void write_no_code_ref(Sink& s) {
  const std::uint32_t none = UINT32_MAX;
  s.write(&none, sizeof none);
}

// ---------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------

namespace {

enum class Exc : std::uint8_t {
  remote = 0,
  // the standard library
  exception,
  bad_exception,
  bad_alloc,
  bad_array_new_length,
  bad_cast,
  bad_typeid,
  bad_function_call,
  bad_optional_access,
  bad_variant_access,
  bad_weak_ptr,
  logic_error,
  invalid_argument,
  domain_error,
  length_error,
  out_of_range,
  runtime_error,
  range_error,
  overflow_error,
  underflow_error,
  system_error_generic,
  system_error_system,
  // spindle
  sp_runtime_error,
  sp_value_error,
  sp_overflow_error,
  sp_broken_barrier,
  sp_timeout,
  sp_empty,
  sp_full,
  sp_shut_down,
  sp_cancelled,
  sp_invalid_state,
  sp_broken_executor,
  sp_broken_thread_pool,
  sp_broken_process_pool,
  sp_remote_error,
};

struct Known {
  const std::type_info& type;
  Exc code;
};

const Known kKnown[] = {
    {typeid(std::exception), Exc::exception},
    {typeid(std::bad_exception), Exc::bad_exception},
    {typeid(std::bad_alloc), Exc::bad_alloc},
    {typeid(std::bad_array_new_length), Exc::bad_array_new_length},
    {typeid(std::bad_cast), Exc::bad_cast},
    {typeid(std::bad_typeid), Exc::bad_typeid},
    {typeid(std::bad_function_call), Exc::bad_function_call},
    {typeid(std::bad_optional_access), Exc::bad_optional_access},
    {typeid(std::bad_variant_access), Exc::bad_variant_access},
    {typeid(std::bad_weak_ptr), Exc::bad_weak_ptr},
    {typeid(std::logic_error), Exc::logic_error},
    {typeid(std::invalid_argument), Exc::invalid_argument},
    {typeid(std::domain_error), Exc::domain_error},
    {typeid(std::length_error), Exc::length_error},
    {typeid(std::out_of_range), Exc::out_of_range},
    {typeid(std::runtime_error), Exc::runtime_error},
    {typeid(std::range_error), Exc::range_error},
    {typeid(std::overflow_error), Exc::overflow_error},
    {typeid(std::underflow_error), Exc::underflow_error},
    {typeid(spindle::RuntimeError), Exc::sp_runtime_error},
    {typeid(spindle::ValueError), Exc::sp_value_error},
    {typeid(spindle::OverflowError), Exc::sp_overflow_error},
    {typeid(spindle::BrokenBarrierError), Exc::sp_broken_barrier},
    {typeid(spindle::TimeoutError), Exc::sp_timeout},
    {typeid(spindle::Empty), Exc::sp_empty},
    {typeid(spindle::Full), Exc::sp_full},
    {typeid(spindle::ShutDown), Exc::sp_shut_down},
    {typeid(spindle::CancelledError), Exc::sp_cancelled},
    {typeid(spindle::InvalidStateError), Exc::sp_invalid_state},
    {typeid(spindle::BrokenExecutor), Exc::sp_broken_executor},
    {typeid(spindle::BrokenThreadPool), Exc::sp_broken_thread_pool},
    {typeid(spindle::BrokenProcessPool), Exc::sp_broken_process_pool},
};

std::string demangle(const std::type_info* ti) {
  if (ti == nullptr) return "<unknown exception>";
  int status = 0;
  char* d = abi::__cxa_demangle(ti->name(), nullptr, nullptr, &status);
  std::string out = status == 0 && d != nullptr ? d : ti->name();
  std::free(d);
  return out;
}

void write_u32(Sink& s, std::uint32_t v) {
  s.write(&v, sizeof v);
}
void write_str(Sink& s, const std::string& v) {
  write_u32(s, static_cast<std::uint32_t>(v.size()));
  s.write(v.data(), v.size());
}
std::uint32_t read_u32(Source& s) {
  std::uint32_t v;
  s.read(&v, sizeof v);
  return v;
}
std::string read_str(Source& s) {
  const std::uint32_t n = read_u32(s);
  if (n > s.left())
    throw RuntimeError("ProcessPoolExecutor: truncated message from another process");
  std::string v(n, '\0');
  s.read(v.data(), n);
  return v;
}

// what_arg of a system_error: its what() without the ": " + message suffix.
std::string system_error_arg(const std::system_error& e) {
  std::string w = e.what();
  const std::string tail = e.code().message();
  if (w == tail) return {};
  if (w.size() >= tail.size() + 2 &&
      w.compare(w.size() - tail.size() - 2, std::string::npos, ": " + tail) == 0)
    return w.substr(0, w.size() - tail.size() - 2);
  return w;
}

}  // namespace

void encode_current_exception(Sink& s) {
  const std::type_info* ti = abi::__cxa_current_exception_type();
  Exc code = Exc::remote;
  std::string type = demangle(ti);
  std::string what;
  std::int32_t extra = 0;
  try {
    throw;
  } catch (const RemoteError& e) {
    code = Exc::sp_remote_error;
    type = e.type_name();
    what = e.message();
    extra = static_cast<std::int32_t>(e.pid());
  } catch (const std::system_error& e) {
    what = e.what();
    if (ti != nullptr && *ti == typeid(std::system_error)) {
      if (e.code().category() == std::generic_category()) code = Exc::system_error_generic;
      if (e.code().category() == std::system_category()) code = Exc::system_error_system;
      if (code != Exc::remote) {
        what = system_error_arg(e);
        extra = e.code().value();
      }
    }
  } catch (const std::exception& e) {
    what = e.what();
    if (ti != nullptr) {
      for (const Known& k : kKnown) {
        if (*ti == k.type) {
          code = k.code;
          break;
        }
      }
    }
  } catch (...) {
  }
  const auto c = static_cast<std::uint8_t>(code);
  s.write(&c, 1);
  write_str(s, type);
  write_str(s, what);
  s.write(&extra, sizeof extra);
}

namespace {

template <class E>
std::exception_ptr make(const std::string& what) {
  return std::make_exception_ptr(E(what));
}
template <class E>
std::exception_ptr make_default() {
  return std::make_exception_ptr(E());
}

}  // namespace

std::exception_ptr decode_exception(Source& s, long pid) {
  std::uint8_t c;
  s.read(&c, 1);
  std::string type = read_str(s);
  std::string what = read_str(s);
  std::int32_t extra;
  s.read(&extra, sizeof extra);
  switch (static_cast<Exc>(c)) {
    case Exc::remote:
      return std::make_exception_ptr(RemoteError(std::move(type), std::move(what), pid));
    case Exc::exception:
      return make_default<std::exception>();
    case Exc::bad_exception:
      return make_default<std::bad_exception>();
    case Exc::bad_alloc:
      return make_default<std::bad_alloc>();
    case Exc::bad_array_new_length:
      return make_default<std::bad_array_new_length>();
    case Exc::bad_cast:
      return make_default<std::bad_cast>();
    case Exc::bad_typeid:
      return make_default<std::bad_typeid>();
    case Exc::bad_function_call:
      return make_default<std::bad_function_call>();
    case Exc::bad_optional_access:
      return make_default<std::bad_optional_access>();
    case Exc::bad_variant_access:
      return make_default<std::bad_variant_access>();
    case Exc::bad_weak_ptr:
      return make_default<std::bad_weak_ptr>();
    case Exc::logic_error:
      return make<std::logic_error>(what);
    case Exc::invalid_argument:
      return make<std::invalid_argument>(what);
    case Exc::domain_error:
      return make<std::domain_error>(what);
    case Exc::length_error:
      return make<std::length_error>(what);
    case Exc::out_of_range:
      return make<std::out_of_range>(what);
    case Exc::runtime_error:
      return make<std::runtime_error>(what);
    case Exc::range_error:
      return make<std::range_error>(what);
    case Exc::overflow_error:
      return make<std::overflow_error>(what);
    case Exc::underflow_error:
      return make<std::underflow_error>(what);
    case Exc::system_error_generic:
    case Exc::system_error_system: {
      const std::error_category& cat = static_cast<Exc>(c) == Exc::system_error_generic
                                           ? std::generic_category()
                                           : std::system_category();
      const std::error_code ec(extra, cat);
      return what.empty() ? std::make_exception_ptr(std::system_error(ec))
                          : std::make_exception_ptr(std::system_error(ec, what));
    }
    case Exc::sp_runtime_error:
      return make<spindle::RuntimeError>(what);
    case Exc::sp_value_error:
      return make<spindle::ValueError>(what);
    case Exc::sp_overflow_error:
      return make<spindle::OverflowError>(what);
    case Exc::sp_broken_barrier:
      return make<spindle::BrokenBarrierError>(what);
    case Exc::sp_timeout:
      return make<spindle::TimeoutError>(what);
    case Exc::sp_empty:
      return make<spindle::Empty>(what);
    case Exc::sp_full:
      return make<spindle::Full>(what);
    case Exc::sp_shut_down:
      return make<spindle::ShutDown>(what);
    case Exc::sp_cancelled:
      return make<spindle::CancelledError>(what);
    case Exc::sp_invalid_state:
      return make<spindle::InvalidStateError>(what);
    case Exc::sp_broken_executor:
      return make<spindle::BrokenExecutor>(what);
    case Exc::sp_broken_thread_pool:
      return make<spindle::BrokenThreadPool>(what);
    case Exc::sp_broken_process_pool:
      return make<spindle::BrokenProcessPool>(what);
    case Exc::sp_remote_error:
      return std::make_exception_ptr(RemoteError(std::move(type), std::move(what), extra));
  }
  return std::make_exception_ptr(RemoteError(std::move(type), std::move(what), pid));
}

std::string describe_encoded_exception(Source& s) {
  std::uint8_t c;
  s.read(&c, 1);
  std::string type = read_str(s);
  std::string what = read_str(s);
  return what.empty() ? type : type + ": " + what;
}

}  // namespace detail::process
}  // namespace spindle
