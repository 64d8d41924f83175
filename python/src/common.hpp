// python/src/common.hpp - what every part of the spindle Python module shares:
// references to Python objects held by C++ code, Python exceptions carried
// through C++, releasing the GIL, timeouts, and the blocking loop that lets
// Ctrl-C interrupt a wait in the main thread.
//
// Written against the CPython C API (3.11 to 3.13, GIL builds); see
// docs/design/python.md for why not pybind11.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
// Python.h first (it must precede the standard headers), then the rest.
#include <cxxabi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace spindle::python {

// ---------------------------------------------------------------------------
// Module-wide state (single-phase init: one interpreter per process).
// ---------------------------------------------------------------------------

struct Globals {
  // Exception classes: Python's own where the stdlib has them.
  PyObject* Empty = nullptr;               // queue.Empty
  PyObject* Full = nullptr;                // queue.Full
  PyObject* ShutDown = nullptr;            // queue.ShutDown (3.13), else spindle.ShutDown
  PyObject* BrokenBarrierError = nullptr;  // threading.BrokenBarrierError
  PyObject* CancelledError = nullptr;      // concurrent.futures.CancelledError
  PyObject* InvalidStateError = nullptr;   // concurrent.futures.InvalidStateError
  PyObject* BrokenThreadPool = nullptr;    // concurrent.futures.thread.BrokenThreadPool
  PyObject* DoneAndNotDone = nullptr;      // concurrent.futures._base.DoneAndNotDoneFutures
  PyObject* DeadlockError = nullptr;       // spindle.DeadlockError, a RuntimeError
  // Python-side reporters (spindle/__init__.py installs them).
  PyObject* report_callback_exception = nullptr;     // (future, exc)
  PyObject* report_initializer_exception = nullptr;  // (exc)
  PyObject* unretrieved_hook = nullptr;              // (exc)
  PyObject* foreign_condition_type = nullptr;        // Condition over a non-spindle lock
  // The main thread's ident (signals run there); changed in a forked child.
  std::atomic<unsigned long> main_ident{0};
  // Set by the threading atexit hook: no new pool work from then on.
  std::atomic<bool> exiting{false};
  // Set by Py_AtExit: the interpreter is gone; C++ threads must not touch it.
  std::atomic<bool> dead{false};
};
extern Globals g;

/// True while C++ threads may still take the GIL.
bool interpreter_alive() noexcept;

inline bool in_main_thread() noexcept {
  return PyThread_get_thread_ident() == g.main_ident.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------

/// Drops one reference to `o` from any thread: at once if this thread holds
/// the GIL, else after taking it; into the thread's deferred list inside a
/// DeferDrops scope. Leaks instead once the interpreter is finalizing.
void drop(PyObject* o) noexcept;

/// An owned reference, movable without the GIL (moves touch no count).
class PyRef {
 public:
  PyRef() noexcept = default;
  explicit PyRef(PyObject* owned) noexcept : p_(owned) {}
  /// A new reference to `o` (GIL held).
  static PyRef borrow(PyObject* o) noexcept {
    Py_XINCREF(o);
    return PyRef(o);
  }
  PyRef(PyRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  PyRef& operator=(PyRef&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() { reset(); }

  [[nodiscard]] PyObject* get() const noexcept { return p_; }
  /// Gives the reference to the caller.
  [[nodiscard]] PyObject* release() noexcept { return std::exchange(p_, nullptr); }
  /// A new reference for the caller (GIL held).
  [[nodiscard]] PyObject* new_ref() const noexcept {
    Py_XINCREF(p_);
    return p_;
  }
  void reset() noexcept {
    if (p_ != nullptr) drop(std::exchange(p_, nullptr));
  }
  /// reset() for a caller that holds the GIL.
  void clear() noexcept { Py_CLEAR(p_); }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  PyObject* p_ = nullptr;
};

/// Within its scope, drop() on this thread only records the object; the
/// destructor (GIL held) releases them all. For calls that destroy items
/// while holding a spindle lock (shutdown(immediate=True)): a __del__ run
/// there could re-enter the same queue.
class DeferDrops {
 public:
  DeferDrops() noexcept;
  ~DeferDrops();
  DeferDrops(const DeferDrops&) = delete;
  DeferDrops& operator=(const DeferDrops&) = delete;

 private:
  std::vector<PyObject*> list_;
  std::vector<PyObject*>* prev_;
};

// ---------------------------------------------------------------------------
// The GIL
// ---------------------------------------------------------------------------

/// For a thread other than the finalizing one that would take the GIL once
/// the interpreter finalizes: it waits until the process exits (what
/// CPython 3.14 does with such threads) instead of taking the GIL. Returns at
/// once while the interpreter lives.
void hang_if_finalizing() noexcept;

/// `catch (...)` that lets a thread's forced unwind (pthread_exit) pass.
#define SPY_CATCH_ALL             \
  catch (abi::__forced_unwind&) { \
    throw;                        \
  }                               \
  catch (...)

/// Calls f() with the GIL released and returns what it returns (or throws
/// what it throws) with the GIL held again.
///
/// Not an RAII guard, on purpose: CPython 3.11-3.13 end a non-main thread
/// that takes the GIL while the interpreter finalizes (a daemon thread whose
/// wait ends then) with pthread_exit(), which unwinds the thread's stack
/// with a "forced unwind" exception. Re-taking the GIL in a destructor would
/// turn that into std::terminate (a destructor is noexcept, and it may run
/// while another exception is in flight). Here the GIL is re-taken in plain
/// code, after f's own exception has been set aside, and every catch-all of
/// the module lets the forced unwind through (SPY_CATCH_ALL).
template <class F>
auto without_gil(F&& f) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  std::exception_ptr error;
  PyThreadState* saved = PyEval_SaveThread();
  if constexpr (std::is_void_v<R>) {
    try {
      f();
    }
    SPY_CATCH_ALL {
      error = std::current_exception();
    }
    hang_if_finalizing();
    PyEval_RestoreThread(saved);
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<R> result;
    try {
      result.emplace(f());
    }
    SPY_CATCH_ALL {
      error = std::current_exception();
    }
    hang_if_finalizing();
    PyEval_RestoreThread(saved);
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

/// Takes the GIL for its scope from any thread that has or may get a thread
/// state (re-entrant).
class Gil {
 public:
  Gil() noexcept : s_((hang_if_finalizing(), PyGILState_Ensure())) {}
  ~Gil() { PyGILState_Release(s_); }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  PyGILState_STATE s_;
};

// ---------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------

/// A Python exception carried through C++ (a task's exception stored in a
/// spindle::Future, an exception raised by a barrier's action or a priority
/// queue's comparison). Copies share the exception object.
class PyError : public std::exception {
 public:
  /// Takes the current Python error (GIL held; one must be set).
  static PyError fetch();
  /// Wraps the exception instance `exc` (GIL held).
  static PyError from(PyObject* exc);
  /// Raises it as the current Python error (GIL held).
  void restore() const;
  /// The exception instance (borrowed).
  [[nodiscard]] PyObject* value() const noexcept { return exc_->get(); }
  [[nodiscard]] const char* what() const noexcept override { return what_->c_str(); }

 private:
  PyError(std::shared_ptr<PyRef> exc, std::shared_ptr<std::string> what) noexcept
      : exc_(std::move(exc)), what_(std::move(what)) {}
  std::shared_ptr<PyRef> exc_;
  std::shared_ptr<std::string> what_;
};

/// In a catch block: sets the Python error matching the C++ exception being
/// handled (spindle's exceptions become Python's) and returns nullptr.
PyObject* translate_exception() noexcept;

/// Takes the current Python exception (GIL held) as a new reference.
PyObject* fetch_exception() noexcept;
/// Raises the exception instance `exc` (borrowed; GIL held).
void raise_exception(PyObject* exc) noexcept;

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

/// Binds vectorcall arguments to the named parameters `names`: out[i] is the
/// argument (borrowed) or nullptr if not given. The first `required`
/// parameters must be given; parameters from `kwonly` on are keyword-only.
/// Sets TypeError and returns false on a bad call.
bool bind_args(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
               std::initializer_list<const char*> names, PyObject** out, int required = 0,
               int kwonly = 1000);

/// tp_new's check for a type that takes no arguments: false, with
/// "NAME() takes no arguments" (TypeError) set, if any were given.
bool no_arguments(const char* type_name, PyObject* args, PyObject* kwds);

/// Truth value of an optional argument (nullptr: `dflt`); -1 on error.
int truth(PyObject* o, bool dflt) noexcept;

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

/// A validated timeout: forever, or a length in seconds (>= 0, <= TIMEOUT_MAX).
struct Timeout {
  bool forever = true;
  double seconds = 0;
  [[nodiscard]] std::chrono::duration<double> duration() const noexcept {
    return std::chrono::duration<double>(seconds);
  }
};

/// The rules Python applies to a timeout argument, per call family.
enum class TimeoutRule {
  lock,    // Lock/RLock.acquire: -1 = forever, other negative -> ValueError
  queue,   // Queue.get/put/join: None = forever, negative -> ValueError
  wait,    // Condition/Event/Semaphore: None = forever, negative -> poll
  future,  // futures: None = forever, negative -> poll
};

/// Converts `o` (nullptr or None: forever, unless the lock rule's -1) under
/// `rule`. Above TIMEOUT_MAX: OverflowError; NaN: ValueError. Returns false
/// with an error set.
bool parse_timeout(PyObject* o, TimeoutRule rule, Timeout& out);

/// Waits with the GIL released until `attempt(const double* seconds)` -
/// which blocks at most *seconds (forever if null) and returns true when
/// done - succeeds or the timeout passes. In the main thread it waits in
/// slices and runs the signal handlers between them (Ctrl-C raises
/// KeyboardInterrupt there, as CPython's waits do). Returns 1 done, 0 timed
/// out, -1 a handler raised (error set). C++ exceptions from `attempt`
/// propagate with the GIL held again.
template <class F>
int block(const Timeout& t, F&& attempt);

double monotonic() noexcept;
inline constexpr double kSliceSeconds = 0.05;

template <class F>
int block(const Timeout& t, F&& attempt) {
  if (!in_main_thread()) {
    const bool done = without_gil([&] {
      return t.forever ? attempt(static_cast<const double*>(nullptr)) : attempt(&t.seconds);
    });
    return done ? 1 : 0;
  }
  const double end = t.forever ? 0 : monotonic() + t.seconds;
  for (;;) {
    double slice = kSliceSeconds;
    bool last = false;
    if (!t.forever) {
      const double left = end - monotonic();
      if (left <= slice) {
        slice = left > 0 ? left : 0;
        last = true;
      }
    }
    if (without_gil([&] { return attempt(&slice); })) return 1;
    if (PyErr_CheckSignals() < 0) return -1;
    if (last) return 0;
  }
}

/// Registers the calling Python thread with spindle's thread registry (once
/// per thread, under its threading name), so that dump_threads() and the
/// thread-state queries show what it waits on. GIL held.
void register_thread() noexcept;

// ---------------------------------------------------------------------------
// Types (one function per source file adds its types to the module)
// ---------------------------------------------------------------------------

int add_sync_types(PyObject* module);
int add_queue_types(PyObject* module);
int add_future_types(PyObject* module);
/// Adds `spec`'s type to `module` under its short name; returns it (new ref).
PyTypeObject* add_type(PyObject* module, PyType_Spec* spec, PyObject* base = nullptr);

/// "<0x...>" formatting helper: the object's address.
std::string address_of(const void* p);

/// A PyType_Slot's pointer from a function, table or doc string.
template <class T>
void* slot_ptr(T* p) noexcept {
  if constexpr (std::is_function_v<T>) {
    return reinterpret_cast<void*>(p);
  } else {
    return const_cast<void*>(static_cast<const void*>(p));
  }
}
#define SPY_SLOT(id, p)                \
  PyType_Slot {                        \
    id, ::spindle::python::slot_ptr(p) \
  }
#define SPY_FAST(fn) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn))

// Python-side helpers (spindle/__init__.py registers them; may be null).
struct Helpers {
  PyObject* worker_started = nullptr;  // (name) -> None: names the worker's dummy thread
  PyObject* worker_exiting = nullptr;  // () -> None: forgets it
};
extern Helpers helpers;

}  // namespace spindle::python
