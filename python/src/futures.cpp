// concurrent.futures over spindle's: Future (a spindle::Future<PyRef>),
// the ThreadPoolExecutor base type, wait() and as_completed().
//
// Workers are spindle's own threads (named "<prefix>_<n>" as in CPython).
// Each gets one Python thread state for its whole life, made by the pool's
// initializer and deleted by a thread_local guard when the thread ends; a
// task takes the GIL only to call the function. The pools are shut down
// and their workers joined from threading's atexit hook, before the
// interpreter finalizes (as concurrent.futures.thread does), so no worker
// touches a finalizing interpreter.
#include "common.hpp"
// Python.h (through common.hpp) first, then the rest.
#include <structmember.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "spindle/condition.hpp"
#include "spindle/futures.hpp"
#include "spindle/lock.hpp"
#include "spindle/queue.hpp"
#include "spindle/thread.hpp"

namespace spindle::python {
namespace {

using PyFuture = spindle::Future<PyRef>;

PyTypeObject* FutureType = nullptr;

// Allocated zeroed by tp_alloc; only `f` is constructed (placement new).
struct FutureObject {  // NOLINT(cppcoreguidelines-pro-type-member-init)
  PyObject_HEAD PyObject* weakrefs;
  PyFuture f;
};

FutureObject* as_future(PyObject* o) noexcept {
  return reinterpret_cast<FutureObject*>(o);
}

PyObject* wrap_future(const PyFuture& f) {
  PyObject* self = FutureType->tp_alloc(FutureType, 0);
  if (self == nullptr) return nullptr;
  new (&as_future(self)->f) PyFuture(f);
  return self;
}

PyObject* Future_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  if (!no_arguments("Future", args, kwds)) return nullptr;
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  try {
    new (&as_future(self)->f) PyFuture();
  }
  SPY_CATCH_ALL {
    // tp_free without the destructor: nothing was constructed.
    type->tp_free(self);
    Py_DECREF(type);
    return translate_exception();
  }
  return self;
}

void Future_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  if (as_future(self)->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  as_future(self)->f.~PyFuture();  // may release the result (GIL held)
  tp->tp_free(self);
  Py_DECREF(tp);
}

// Waits (GIL released, in slices in the main thread) until `f` is done or
// the timeout passes: 1 done, 0 not, -1 error set.
int wait_done(PyFuture& f, const Timeout& t) {
  if (f.done()) return 1;
  if (!t.forever && t.seconds <= 0) return 0;
  register_thread();
  try {
    return block(t, [&](const double* s) {
      try {
        if (s == nullptr) {
          (void)f.exception();
        } else {
          (void)f.exception(std::chrono::duration<double>(*s));
        }
      } catch (const spindle::TimeoutError&) {
        return false;
      }
      SPY_CATCH_ALL {
        // Cancelled: done all the same.
      }
      return true;
    });
  }
  SPY_CATCH_ALL {
    translate_exception();
    return -1;
  }
}

// The exception of a failed future as a Python exception instance (new ref).
PyObject* exception_object(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const PyError& err) {
    return Py_NewRef(err.value());
  }
  SPY_CATCH_ALL {
    translate_exception();  // spindle's own (BrokenThreadPool...) become Python's
    return fetch_exception();
  }
}

// result() and exception(): waits until `f` is done under Future's timeout
// rule. False with an error set (TimeoutError when the timeout passed).
bool await_done(PyFuture& f, PyObject* timeout) {
  if (f.done()) return true;
  Timeout t;
  if (!parse_timeout(timeout, TimeoutRule::future, t)) return false;
  const int r = wait_done(f, t);
  if (r == 0) PyErr_SetNone(PyExc_TimeoutError);
  return r > 0;
}

PyObject* Future_result(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("result", args, nargs, kwnames, {"timeout"}, a)) return nullptr;
  PyFuture& f = as_future(self)->f;
  if (!await_done(f, a[0])) return nullptr;
  try {
    return f.result().new_ref();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Future_exception(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                           PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("exception", args, nargs, kwnames, {"timeout"}, a)) return nullptr;
  PyFuture& f = as_future(self)->f;
  if (!await_done(f, a[0])) return nullptr;
  std::exception_ptr e;
  try {
    e = f.exception();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  if (!e) Py_RETURN_NONE;
  return exception_object(e);
}

PyObject* Future_cancel(PyObject* self, PyObject*) {
  try {
    return PyBool_FromLong(as_future(self)->f.cancel() ? 1 : 0);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Future_cancelled(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_future(self)->f.cancelled() ? 1 : 0);
}

PyObject* Future_running(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_future(self)->f.running() ? 1 : 0);
}

PyObject* Future_done(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_future(self)->f.done() ? 1 : 0);
}

// A Python done-callback: called with the same Future object the user holds
// (through a weak reference, so that the callback does not keep it alive;
// a fresh wrapper if it is gone). An exception is logged as CPython does.
struct DoneCallback {
  PyRef fn;
  PyRef weak;
  void operator()(PyFuture& f) noexcept {
    Gil gil;
    PyObject* fut = nullptr;
    if (weak) {
#if PY_VERSION_HEX >= 0x030D0000
      PyObject* o = nullptr;
      if (PyWeakref_GetRef(weak.get(), &o) > 0) fut = o;  // new reference; 0 if dead
#else
      PyObject* o = PyWeakref_GetObject(weak.get());  // borrowed; None if dead
      if (o != nullptr && o != Py_None) fut = Py_NewRef(o);
#endif
      if (PyErr_Occurred() != nullptr) PyErr_Clear();
    }
    if (fut == nullptr) fut = wrap_future(f);
    if (fut != nullptr) {
      PyObject* r = PyObject_CallOneArg(fn.get(), fut);
      if (r == nullptr) {
        PyObject* exc = fetch_exception();
        if (g.report_callback_exception != nullptr && exc != nullptr) {
          PyObject* rr =
              PyObject_CallFunctionObjArgs(g.report_callback_exception, fut, exc, nullptr);
          if (rr == nullptr) PyErr_WriteUnraisable(g.report_callback_exception);
          Py_XDECREF(rr);
        }
        Py_XDECREF(exc);
      }
      Py_XDECREF(r);
      Py_DECREF(fut);
    } else {
      PyErr_WriteUnraisable(fn.get());
    }
    // Drop the references now, while the GIL is held.
    fn.clear();
    weak.clear();
  }
};

PyObject* Future_add_done_callback(PyObject* self, PyObject* fn) {
  PyObject* weak = PyWeakref_NewRef(self, nullptr);
  if (weak == nullptr) return nullptr;
  try {
    as_future(self)->f.add_done_callback(DoneCallback{PyRef::borrow(fn), PyRef(weak)});
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Future_set_running_or_notify_cancel(PyObject* self, PyObject*) {
  try {
    return PyBool_FromLong(as_future(self)->f.set_running_or_notify_cancel() ? 1 : 0);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

// InvalidStateError with CPython's text: "FINISHED: <Future at 0x... state=...>".
PyObject* invalid_state(PyObject* self, const char* what) {
  std::string state(what);
  const std::size_t colon = state.find(':');
  if (colon != std::string::npos) state.resize(colon);
  PyObject* r = PyObject_Repr(self);
  if (r == nullptr) return nullptr;
  PyErr_Format(g.InvalidStateError, "%s: %U", state.c_str(), r);
  Py_DECREF(r);
  return nullptr;
}

PyObject* Future_set_result(PyObject* self, PyObject* value) {
  try {
    as_future(self)->f.set_result(PyRef::borrow(value));
  } catch (const spindle::InvalidStateError& e) {
    return invalid_state(self, e.what());
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Future_set_exception(PyObject* self, PyObject* exc) {
  if (PyExceptionInstance_Check(exc) == 0) {
    PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
    return nullptr;
  }
  try {
    as_future(self)->f.set_exception(std::make_exception_ptr(PyError::from(exc)));
  } catch (const spindle::InvalidStateError& e) {
    return invalid_state(self, e.what());
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Future_repr(PyObject* self) {
  PyFuture& f = as_future(self)->f;
  const char* name = "Future";
  if (f.cancelled()) return PyUnicode_FromFormat("<%s at %p state=cancelled>", name, self);
  if (!f.done()) {
    return PyUnicode_FromFormat("<%s at %p state=%s>", name, self,
                                f.running() ? "running" : "pending");
  }
  std::exception_ptr e;
  try {
    e = f.exception();  // done: does not wait
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  if (e) {
    PyObject* exc = exception_object(e);
    if (exc == nullptr) return nullptr;
    PyObject* r = PyUnicode_FromFormat("<%s at %p state=finished raised %s>", name, self,
                                       _PyType_Name(Py_TYPE(exc)));
    Py_DECREF(exc);
    return r;
  }
  try {
    PyObject* v = f.result().get();
    return PyUnicode_FromFormat("<%s at %p state=finished returned %s>", name, self,
                                _PyType_Name(Py_TYPE(v)));
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

// CPython's state names, read-only (code and tests that print fut._state).
PyObject* Future_get_state(PyObject* self, void*) {
  const detail::FutureStateBase* st = detail::FutureAccess::state(as_future(self)->f);
  switch (st->word() & detail::FutureStateBase::kStateMask) {
    case detail::FutureStateBase::kPending:
      return PyUnicode_FromString("PENDING");
    case detail::FutureStateBase::kCancelled:
      return PyUnicode_FromString("CANCELLED");
    case detail::FutureStateBase::kCancelledNotified:
      return PyUnicode_FromString("CANCELLED_AND_NOTIFIED");
    case detail::FutureStateBase::kFinished:
      return PyUnicode_FromString("FINISHED");
    default:  // running, or writing its result
      return PyUnicode_FromString("RUNNING");
  }
}

PyGetSetDef Future_getset[] = {
    {"_state", Future_get_state, nullptr, "CPython's state name (read-only).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef Future_methods[] = {
    {"result", SPY_FAST(Future_result), METH_FASTCALL | METH_KEYWORDS,
     "result(timeout=None)\n\nWait (GIL released) and return the result or raise."},
    {"exception", SPY_FAST(Future_exception), METH_FASTCALL | METH_KEYWORDS,
     "exception(timeout=None)"},
    {"cancel", Future_cancel, METH_NOARGS, "Cancel if pending."},
    {"cancelled", Future_cancelled, METH_NOARGS, nullptr},
    {"running", Future_running, METH_NOARGS, nullptr},
    {"done", Future_done, METH_NOARGS, nullptr},
    {"add_done_callback", Future_add_done_callback, METH_O, "add_done_callback(fn)"},
    {"set_running_or_notify_cancel", Future_set_running_or_notify_cancel, METH_NOARGS, nullptr},
    {"set_result", Future_set_result, METH_O, nullptr},
    {"set_exception", Future_set_exception, METH_O, nullptr},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyMemberDef Future_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(FutureObject, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Future_slots[] = {SPY_SLOT(Py_tp_new, Future_new),
                              SPY_SLOT(Py_tp_dealloc, Future_dealloc),
                              SPY_SLOT(Py_tp_methods, Future_methods),
                              SPY_SLOT(Py_tp_members, Future_members),
                              SPY_SLOT(Py_tp_getset, Future_getset),
                              SPY_SLOT(Py_tp_repr, Future_repr),
                              SPY_SLOT(Py_tp_doc, "concurrent.futures.Future on spindle::Future."),
                              {0, nullptr}};

PyType_Spec Future_spec = {"spindle.Future", sizeof(FutureObject), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Future_slots};

// ===========================================================================
// ThreadPoolExecutor
// ===========================================================================

/// What the Python side knows about one pool's workers.
struct PoolState {
  spindle::Lock lock;
  spindle::Condition cond{lock};
  int exited = 0;    // under lock
  int attached = 0;  // workers that have their Python thread state; under lock
  std::atomic<bool> broken{false};

  std::vector<std::shared_ptr<spindle::Thread>> threads;  // the workers; under lock

  void worker_attached(std::shared_ptr<spindle::Thread> self) {
    std::scoped_lock guard(cond);
    ++attached;
    if (self) threads.push_back(std::move(self));
    cond.notify_all();
  }

  void worker_exited() {
    std::scoped_lock guard(cond);
    ++exited;
    cond.notify_all();
  }
  [[nodiscard]] int exited_now() {
    std::scoped_lock guard(cond);
    return exited;
  }
};

/// The calling thread's Python state, when it is a pool worker.
struct WorkerGuard {
  std::shared_ptr<PoolState> pool;
  PyThreadState* saved = nullptr;
  PyGILState_STATE gstate = PyGILState_UNLOCKED;
  bool attached = false;

  WorkerGuard() = default;
  WorkerGuard(const WorkerGuard&) = delete;
  WorkerGuard& operator=(const WorkerGuard&) = delete;
  ~WorkerGuard() {
    if (attached && interpreter_alive()) {
      PyEval_RestoreThread(saved);
      if (helpers.worker_exiting != nullptr) {
        PyObject* r = PyObject_CallNoArgs(helpers.worker_exiting);
        if (r == nullptr) PyErr_Clear();
        Py_XDECREF(r);
      }
      PyGILState_Release(gstate);  // deletes the thread state, releases the GIL
    }
    if (pool) pool->worker_exited();
  }
};

thread_local WorkerGuard tls_worker;

/// A submitted call: fn(*args, **kwargs). Its references are dropped with
/// the GIL as soon as the call returns (GH-60488: the executor must not
/// keep the call's objects alive).
struct PyCall {
  PyRef fn;
  PyRef args;
  PyRef kwargs;
  PyRef operator()() {
    Gil gil;
    PyObject* r = PyObject_Call(fn.get(), args.get(), kwargs.get());
    fn.clear();
    args.clear();
    kwargs.clear();
    if (r == nullptr) throw PyError::fetch();
    return PyRef(r);
  }
};

struct PoolBox {
  std::shared_ptr<PoolState> state = std::make_shared<PoolState>();
  std::unique_ptr<spindle::ThreadPoolExecutor> pool;
};

// Every pool not yet reaped: the live ones (also held by their Python
// object) and the retired ones (their object is gone, workers may still
// run). Touched only with the GIL held.
std::vector<std::shared_ptr<PoolBox>>* registry = nullptr;

struct PoolObject {
  PyObject_HEAD PyObject* weakrefs;
  std::shared_ptr<PoolBox>* box;
};

PoolObject* as_pool(PyObject* o) noexcept {
  return reinterpret_cast<PoolObject*>(o);
}

// Shuts `box` down and, with `wait`, waits (GIL released, in slices in the
// main thread) for its workers: 0 or -1 with an error set.
int shutdown_box(PoolBox& box, bool wait, bool cancel_futures) {
  spindle::ThreadPoolExecutor& pool = *box.pool;
  try {
    without_gil([&] { pool.shutdown(false, cancel_futures); });
    if (!wait) return 0;
    if (tls_worker.pool.get() != box.state.get()) {
      // Not one of its own workers: wait until every worker has ended
      // (each ends by itself now), then reap them.
      PoolState& st = *box.state;
      const int started = pool.num_threads();
      const int r = block(Timeout{}, [&](const double* s) {
        std::scoped_lock guard(st.cond);
        if (s == nullptr) return st.cond.wait_for([&] { return st.exited >= started; });
        return st.cond.wait_for([&] { return st.exited >= started; },
                                std::chrono::duration<double>(*s));
      });
      if (r < 0) return -1;
    }
    // Joins; in one of its workers: RuntimeError, as CPython.
    without_gil([&] { pool.shutdown(true, false); });
  }
  SPY_CATCH_ALL {
    translate_exception();
    return -1;
  }
  return 0;
}

// Destroys the retired pools whose workers have all ended.
void reap_retired() {
  if (registry == nullptr) return;
  std::vector<std::shared_ptr<PoolBox>> done;
  auto& reg = *registry;
  for (auto it = reg.begin(); it != reg.end();) {
    PoolBox& b = **it;
    if (it->use_count() == 1 && b.state->exited_now() >= b.pool->num_threads()) {
      done.push_back(std::move(*it));
      it = reg.erase(it);
    } else {
      ++it;
    }
  }
  if (done.empty()) return;
  without_gil([&] { done.clear(); });  // joins threads that have ended
}

PyObject* Pool_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"max_workers", "thread_name_prefix", "initializer", "initargs",
                                 nullptr};
  PyObject* max_workers = Py_None;
  const char* prefix = "";
  PyObject* initializer = Py_None;
  PyObject* initargs = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OsOO:ThreadPoolExecutor",
                                   const_cast<char**>(kwlist), &max_workers, &prefix, &initializer,
                                   &initargs)) {
    return nullptr;
  }
  if (initializer != Py_None && PyCallable_Check(initializer) == 0) {
    PyErr_SetString(PyExc_TypeError, "initializer must be a callable");
    return nullptr;
  }
  spindle::ThreadPoolOptions opts;
  if (max_workers != Py_None) {
    const long n = PyLong_AsLong(max_workers);
    if (n == -1 && PyErr_Occurred() != nullptr) return nullptr;
    if (n <= 0) {
      PyErr_SetString(PyExc_ValueError, "max_workers must be greater than 0");
      return nullptr;
    }
    opts.max_workers = n > INT32_MAX ? INT32_MAX : static_cast<int>(n);
  }
  opts.thread_name_prefix = prefix;
  PyObject* argtuple = nullptr;
  if (initargs == nullptr) {
    argtuple = PyTuple_New(0);
  } else {
    argtuple = PySequence_Tuple(initargs);
  }
  if (argtuple == nullptr) return nullptr;

  reap_retired();
  auto box = std::make_shared<PoolBox>();
  auto init =
      std::make_shared<PyRef>(initializer != Py_None ? PyRef::borrow(initializer) : PyRef());
  auto init_args = std::make_shared<PyRef>(argtuple);
  std::weak_ptr<PoolState> weak_state = box->state;
  opts.initializer = [weak_state, init, init_args] {
    std::shared_ptr<PoolState> st = weak_state.lock();
    if (!st) throw spindle::RuntimeError("the pool is gone");
    if (!interpreter_alive()) {
      st->worker_attached(nullptr);  // nobody may wait for it forever
      throw spindle::RuntimeError("the interpreter is exiting");
    }
    // This worker's shared handle, for executor._threads.
    std::shared_ptr<spindle::Thread> self;
    for (auto& t : spindle::enumerate()) {
      if (*t == spindle::current_thread()) self = t;
    }
    WorkerGuard& w = tls_worker;
    w.pool = st;
    w.gstate = PyGILState_Ensure();  // this thread's state for its whole life
    w.attached = true;
    st->worker_attached(std::move(self));
    if (helpers.worker_started != nullptr) {
      PyObject* r = PyObject_CallFunction(helpers.worker_started, "s",
                                          spindle::current_thread().name().c_str());
      if (r == nullptr) PyErr_Clear();
      Py_XDECREF(r);
    }
    if (*init) {
      PyObject* r = PyObject_Call(init->get(), init_args->get(), nullptr);
      if (r == nullptr) {
        PyError err = PyError::fetch();
        st->broken.store(true);
        if (g.report_initializer_exception != nullptr) {
          PyObject* rr =
              PyObject_CallFunctionObjArgs(g.report_initializer_exception, err.value(), nullptr);
          if (rr == nullptr) PyErr_Clear();
          Py_XDECREF(rr);
        }
        w.saved = PyEval_SaveThread();
        throw PyError(err);  // breaks the pool (C94)
      }
      Py_DECREF(r);
    }
    w.saved = PyEval_SaveThread();
  };

  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  try {
    box->pool = std::make_unique<spindle::ThreadPoolExecutor>(std::move(opts));
    as_pool(self)->box = new std::shared_ptr<PoolBox>(box);
    registry->push_back(box);
  }
  SPY_CATCH_ALL {
    Py_DECREF(self);
    return translate_exception();
  }
  return self;
}

void Pool_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  PoolObject* o = as_pool(self);
  if (o->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  if (o->box != nullptr) {
    // As CPython's pool when its executor is collected: no more work is
    // accepted, the queued work still runs, and the workers end by
    // themselves. The registry keeps the pool until they have (reaped later,
    // or joined at exit).
    if ((*o->box)->pool) {
      PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
      PyErr_Fetch(&type, &value, &tb);
      if (shutdown_box(**o->box, false, false) < 0) PyErr_Clear();
      PyErr_Restore(type, value, tb);
    }
    delete o->box;
  }
  tp->tp_free(self);
  Py_DECREF(tp);
}

PoolBox* pool_box(PyObject* self) {
  PoolObject* o = as_pool(self);
  if (o->box == nullptr || !(*o->box)->pool) {
    PyErr_SetString(PyExc_RuntimeError, "ThreadPoolExecutor is not initialized");
    return nullptr;
  }
  return o->box->get();
}

PyObject* Pool_submit(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "submit() missing 1 required positional argument: 'fn'");
    return nullptr;
  }
  if (g.exiting.load(std::memory_order_relaxed)) {
    PyErr_SetString(PyExc_RuntimeError, "cannot schedule new futures after interpreter shutdown");
    return nullptr;
  }
  PyCall call;
  call.fn = PyRef::borrow(args[0]);
  call.args = PyRef(PyTuple_New(nargs - 1));
  if (!call.args) return nullptr;
  for (Py_ssize_t i = 1; i < nargs; ++i) {
    PyTuple_SET_ITEM(call.args.get(), i - 1, Py_NewRef(args[i]));
  }
  if (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) != 0) {
    call.kwargs = PyRef(PyDict_New());
    if (!call.kwargs) return nullptr;
    const Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      if (PyDict_SetItem(call.kwargs.get(), PyTuple_GET_ITEM(kwnames, k), args[nargs + k]) < 0) {
        return nullptr;
      }
    }
  }
  try {
    spindle::ThreadPoolExecutor& pool = *box->pool;
    const int before = pool.num_threads();
    PyFuture f = pool.submit(std::move(call));
    const int now = pool.num_threads();
    if (now != before) {
      // As CPython's Thread.start(): let the new worker start (it takes the
      // GIL once to make its thread state) before going on, so that it can
      // take work before this thread, holding the GIL, queues much more.
      PoolState& st = *box->state;
      const int r = block(Timeout{}, [&](const double* s) {
        std::scoped_lock guard(st.cond);
        if (s == nullptr) return st.cond.wait_for([&] { return st.attached >= now; });
        return st.cond.wait_for([&] { return st.attached >= now; },
                                std::chrono::duration<double>(*s));
      });
      if (r < 0) return nullptr;
    }
    return wrap_future(f);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Pool_shutdown(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  PyObject* a[2];
  if (!bind_args("shutdown", args, nargs, kwnames, {"wait", "cancel_futures"}, a, 0, 1)) {
    return nullptr;
  }
  const int wait = truth(a[0], true);
  const int cancel = truth(a[1], false);
  if (wait < 0 || cancel < 0) return nullptr;
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  if (shutdown_box(*box, wait != 0, cancel != 0) < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Pool_get_max_workers(PyObject* self, void*) {
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  return PyLong_FromLong(box->pool->max_workers());
}

PyObject* Pool_get_num_threads(PyObject* self, void*) {
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  return PyLong_FromLong(box->pool->num_threads());
}

PyObject* Pool_get_prefix(PyObject* self, void*) {
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  return PyUnicode_FromString(box->pool->thread_name_prefix().c_str());
}

PyObject* Pool_get_broken(PyObject* self, void*) {
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  if (!box->state->broken.load()) Py_RETURN_FALSE;
  return PyUnicode_FromString("A thread initializer failed, the thread pool is not usable anymore");
}

// ---- executor._threads: the workers as thread objects --------------------------

PyTypeObject* WorkerThreadType = nullptr;

struct WorkerThreadObject {
  PyObject_HEAD std::shared_ptr<spindle::Thread>* thread;
};

spindle::Thread& worker_thread(PyObject* self) {
  return **reinterpret_cast<WorkerThreadObject*>(self)->thread;
}

void WorkerThread_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  delete reinterpret_cast<WorkerThreadObject*>(self)->thread;
  tp->tp_free(self);
  Py_DECREF(tp);
}

PyObject* WorkerThread_join(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("join", args, nargs, kwnames, {"timeout"}, a)) return nullptr;
  Timeout t;
  if (!parse_timeout(a[0], TimeoutRule::future, t)) return nullptr;
  spindle::Thread& th = worker_thread(self);
  register_thread();
  try {
    // The worker's last step (deleting its Python thread state) takes the
    // GIL: the wait releases it.
    if (block(t, [&](const double* s) {
          if (s == nullptr) {
            th.join();
            return true;
          }
          return th.join(std::chrono::duration<double>(*s));
        }) < 0) {
      return nullptr;
    }
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* WorkerThread_is_alive(PyObject* self, PyObject*) {
  return PyBool_FromLong(worker_thread(self).is_alive() ? 1 : 0);
}

PyObject* WorkerThread_get_name(PyObject* self, void*) {
  try {
    return PyUnicode_FromString(worker_thread(self).name().c_str());
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* WorkerThread_get_ident(PyObject* self, void*) {
  const auto id = worker_thread(self).ident();
  if (!id) Py_RETURN_NONE;
  return PyLong_FromUnsignedLongLong(*id);
}

PyObject* WorkerThread_get_daemon(PyObject* self, void*) {
  return PyBool_FromLong(worker_thread(self).daemon() ? 1 : 0);
}

PyObject* WorkerThread_repr(PyObject* self) {
  try {
    const std::string name = worker_thread(self).name();
    return PyUnicode_FromFormat("<%s(%s, %s)>", Py_TYPE(self)->tp_name, name.c_str(),
                                worker_thread(self).is_alive() ? "started" : "stopped");
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyMethodDef WorkerThread_methods[] = {
    {"join", SPY_FAST(WorkerThread_join), METH_FASTCALL | METH_KEYWORDS, "join(timeout=None)"},
    {"is_alive", WorkerThread_is_alive, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef WorkerThread_getset[] = {{"name", WorkerThread_get_name, nullptr, nullptr, nullptr},
                                     {"ident", WorkerThread_get_ident, nullptr, nullptr, nullptr},
                                     {"daemon", WorkerThread_get_daemon, nullptr, nullptr, nullptr},
                                     {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot WorkerThread_slots[] = {
    SPY_SLOT(Py_tp_dealloc, WorkerThread_dealloc),
    SPY_SLOT(Py_tp_methods, WorkerThread_methods),
    SPY_SLOT(Py_tp_getset, WorkerThread_getset),
    SPY_SLOT(Py_tp_repr, WorkerThread_repr),
    SPY_SLOT(Py_tp_doc, "A pool worker (a spindle thread), as executor._threads lists it."),
    {0, nullptr}};

PyType_Spec WorkerThread_spec = {"spindle._WorkerThread", sizeof(WorkerThreadObject), 0,
                                 Py_TPFLAGS_DEFAULT, WorkerThread_slots};

// CPython's executor._threads: the set of the pool's worker threads. Waits
// (briefly) for workers just started to register.
PyObject* Pool_get_threads(PyObject* self, void*) {
  PoolBox* box = pool_box(self);
  if (box == nullptr) return nullptr;
  PoolState& st = *box->state;
  const int started = box->pool->num_threads();
  try {
    if (block(Timeout{}, [&](const double* s) {
          std::scoped_lock guard(st.cond);
          if (s == nullptr) return st.cond.wait_for([&] { return st.attached >= started; });
          return st.cond.wait_for([&] { return st.attached >= started; },
                                  std::chrono::duration<double>(*s));
        }) < 0) {
      return nullptr;
    }
    std::vector<std::shared_ptr<spindle::Thread>> threads;
    {
      std::scoped_lock guard(st.cond);
      threads = st.threads;
    }
    PyObject* set = PySet_New(nullptr);
    if (set == nullptr) return nullptr;
    for (auto& t : threads) {
      auto* o =
          reinterpret_cast<WorkerThreadObject*>(WorkerThreadType->tp_alloc(WorkerThreadType, 0));
      if (o == nullptr) {
        Py_DECREF(set);
        return nullptr;
      }
      o->thread = new std::shared_ptr<spindle::Thread>(t);
      const int r = PySet_Add(set, reinterpret_cast<PyObject*>(o));
      Py_DECREF(o);
      if (r < 0) {
        Py_DECREF(set);
        return nullptr;
      }
    }
    return set;
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyMethodDef Pool_methods[] = {{"submit", SPY_FAST(Pool_submit), METH_FASTCALL | METH_KEYWORDS,
                               "submit(fn, /, *args, **kwargs) -> Future"},
                              {"shutdown", SPY_FAST(Pool_shutdown), METH_FASTCALL | METH_KEYWORDS,
                               "shutdown(wait=True, *, cancel_futures=False)"},
                              {nullptr, nullptr, 0, nullptr}};

PyGetSetDef Pool_getset[] = {
    {"_max_workers", Pool_get_max_workers, nullptr, nullptr, nullptr},
    {"_num_threads", Pool_get_num_threads, nullptr, "Workers started so far.", nullptr},
    {"_thread_name_prefix", Pool_get_prefix, nullptr, nullptr, nullptr},
    {"_broken", Pool_get_broken, nullptr, nullptr, nullptr},
    {"_threads", Pool_get_threads, nullptr, "The worker threads (a set).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMemberDef Pool_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PoolObject, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Pool_slots[] = {
    SPY_SLOT(Py_tp_new, Pool_new),
    SPY_SLOT(Py_tp_dealloc, Pool_dealloc),
    SPY_SLOT(Py_tp_methods, Pool_methods),
    SPY_SLOT(Py_tp_members, Pool_members),
    SPY_SLOT(Py_tp_getset, Pool_getset),
    SPY_SLOT(Py_tp_doc, "The C part of spindle.ThreadPoolExecutor (spindle::ThreadPoolExecutor)."),
    {0, nullptr}};

PyType_Spec Pool_spec = {"spindle._ThreadPoolExecutor", sizeof(PoolObject), 0,
                         Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Pool_slots};

// ===========================================================================
// wait(), as_completed()
// ===========================================================================

// The futures of `fs` (any iterable), each once, in first-seen order; new
// references. TypeError for an object that is not a spindle.Future.
bool collect_futures(PyObject* fs, std::vector<PyObject*>& out) {
  PyObject* it = PyObject_GetIter(fs);
  if (it == nullptr) return false;
  std::unordered_set<PyObject*> seen;
  PyObject* item = nullptr;
  bool ok = true;
  while ((item = PyIter_Next(it)) != nullptr) {
    if (PyObject_TypeCheck(item, FutureType) == 0) {
      PyErr_Format(PyExc_TypeError,
                   "spindle.wait/as_completed take spindle.Future objects, not %.200s",
                   Py_TYPE(item)->tp_name);
      Py_DECREF(item);
      ok = false;
      break;
    }
    if (seen.insert(item).second) {
      out.push_back(item);
    } else {
      Py_DECREF(item);
    }
  }
  Py_DECREF(it);
  if (!ok || PyErr_Occurred() != nullptr) {
    for (PyObject* o : out) Py_DECREF(o);
    out.clear();
    return false;
  }
  return true;
}

PyObject* module_wait(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[3];
  if (!bind_args("wait", args, nargs, kwnames, {"fs", "timeout", "return_when"}, a, 1)) {
    return nullptr;
  }
  Timeout t;
  if (!parse_timeout(a[1], TimeoutRule::future, t)) return nullptr;
  spindle::ReturnWhen mode = spindle::ALL_COMPLETED;
  if (a[2] != nullptr) {
    if (PyUnicode_Check(a[2]) == 0) {
      PyErr_SetString(PyExc_ValueError, "Invalid return condition");
      return nullptr;
    }
    if (PyUnicode_CompareWithASCIIString(a[2], "FIRST_COMPLETED") == 0) {
      mode = spindle::FIRST_COMPLETED;
    } else if (PyUnicode_CompareWithASCIIString(a[2], "FIRST_EXCEPTION") == 0) {
      mode = spindle::FIRST_EXCEPTION;
    } else if (PyUnicode_CompareWithASCIIString(a[2], "ALL_COMPLETED") != 0) {
      PyErr_Format(PyExc_ValueError, "Invalid return condition: %R", a[2]);
      return nullptr;
    }
  }
  std::vector<PyObject*> objs;
  if (!collect_futures(a[0], objs)) return nullptr;
  std::vector<spindle::FutureBase> fs;
  try {
    fs.reserve(objs.size());
    for (PyObject* o : objs) fs.emplace_back(as_future(o)->f);
  }
  SPY_CATCH_ALL {
    for (PyObject* o : objs) Py_DECREF(o);
    return translate_exception();
  }
  // Already satisfied: no waiting (the common ALL_COMPLETED-and-done case).
  const auto satisfied = [&] {
    std::size_t done = 0;
    bool failed = false;
    for (auto& f : fs) {
      if (!f.done()) continue;
      ++done;
      if (!f.cancelled() && detail::FutureAccess::state(f)->failed()) failed = true;
    }
    if (done == fs.size()) return true;
    if (mode == spindle::FIRST_COMPLETED) return done > 0;
    if (mode == spindle::FIRST_EXCEPTION) return failed;
    return false;
  };
  int r = 1;
  if (!satisfied()) {
    register_thread();
    try {
      r = block(t, [&](const double* s) {
        if (s == nullptr) {
          (void)spindle::wait(fs, mode);
          return true;
        }
        (void)spindle::wait(fs, std::chrono::duration<double>(*s), mode);
        return satisfied();
      });
    }
    SPY_CATCH_ALL {
      r = -1;
      translate_exception();
    }
  }
  PyObject* result = nullptr;
  if (r >= 0) {
    PyObject* done = PySet_New(nullptr);
    PyObject* not_done = PySet_New(nullptr);
    bool ok = done != nullptr && not_done != nullptr;
    for (std::size_t i = 0; ok && i < objs.size(); ++i) {
      ok = PySet_Add(fs[i].done() ? done : not_done, objs[i]) == 0;
    }
    if (ok) result = PyObject_CallFunctionObjArgs(g.DoneAndNotDone, done, not_done, nullptr);
    Py_XDECREF(done);
    Py_XDECREF(not_done);
  }
  for (PyObject* o : objs) Py_DECREF(o);
  return result;
}

// as_completed's iterator: the futures done at the call first, then each as
// it completes (a C++ done-callback puts its index into a queue).
struct Completions {
  spindle::SimpleQueue<std::size_t> ready;
};

struct AsCompletedObject {
  PyObject_HEAD std::vector<PyObject*>* futures;  // owned refs; null once yielded
  std::vector<std::size_t>* first;  // done at the call, in order (popped from the back)
  std::shared_ptr<Completions>* completions;
  std::size_t pending;
  std::size_t total;
  bool forever;
  double end;
};

PyTypeObject* AsCompletedType = nullptr;

void AsCompleted_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  auto* o = reinterpret_cast<AsCompletedObject*>(self);
  if (o->futures != nullptr) {
    for (PyObject* f : *o->futures) Py_XDECREF(f);
    delete o->futures;
  }
  delete o->first;
  delete o->completions;
  tp->tp_free(self);
  Py_DECREF(tp);
}

PyObject* take_future(AsCompletedObject* o, std::size_t i) {
  PyObject* f = (*o->futures)[i];
  (*o->futures)[i] = nullptr;  // the iterator keeps no reference to what it yielded
  return f;
}

PyObject* AsCompleted_next(PyObject* self) {
  auto* o = reinterpret_cast<AsCompletedObject*>(self);
  if (!o->first->empty()) {
    const std::size_t i = o->first->back();
    o->first->pop_back();
    return take_future(o, i);
  }
  while (o->pending != 0) {
    Timeout t;
    if (!o->forever) {
      t.forever = false;
      t.seconds = o->end - monotonic();
      if (t.seconds < 0) {
        PyErr_Format(PyExc_TimeoutError, "%zu (of %zu) futures unfinished", o->pending, o->total);
        return nullptr;
      }
    }
    std::shared_ptr<Completions> c = *o->completions;
    std::size_t index = 0;
    register_thread();
    try {
      const int r = block(t, [&](const double* s) {
        if (s == nullptr) {
          index = c->ready.get();
          return true;
        }
        try {
          index = c->ready.get(std::chrono::duration<double>(*s));
          return true;
        } catch (const spindle::Empty&) {
          return false;
        }
      });
      if (r < 0) return nullptr;
      if (r == 0) {
        PyErr_Format(PyExc_TimeoutError, "%zu (of %zu) futures unfinished", o->pending, o->total);
        return nullptr;
      }
    }
    SPY_CATCH_ALL {
      return translate_exception();
    }
    --o->pending;
    if ((*o->futures)[index] != nullptr) return take_future(o, index);
  }
  return nullptr;  // StopIteration
}

PyType_Slot AsCompleted_slots[] = {SPY_SLOT(Py_tp_dealloc, AsCompleted_dealloc),
                                   SPY_SLOT(Py_tp_iter, PyObject_SelfIter),
                                   SPY_SLOT(Py_tp_iternext, AsCompleted_next),
                                   {0, nullptr}};

PyType_Spec AsCompleted_spec = {"spindle._AsCompleted", sizeof(AsCompletedObject), 0,
                                Py_TPFLAGS_DEFAULT, AsCompleted_slots};

PyObject* module_as_completed(PyObject*, PyObject* const* args, Py_ssize_t nargs,
                              PyObject* kwnames) {
  PyObject* a[2];
  if (!bind_args("as_completed", args, nargs, kwnames, {"fs", "timeout"}, a, 1)) return nullptr;
  Timeout t;
  if (!parse_timeout(a[1], TimeoutRule::future, t)) return nullptr;
  std::vector<PyObject*> objs;
  if (!collect_futures(a[0], objs)) return nullptr;
  auto* it = reinterpret_cast<AsCompletedObject*>(AsCompletedType->tp_alloc(AsCompletedType, 0));
  if (it == nullptr) {
    for (PyObject* f : objs) Py_DECREF(f);
    return nullptr;
  }
  try {
    it->futures = new std::vector<PyObject*>(std::move(objs));
    it->first = new std::vector<std::size_t>();
    it->completions = new std::shared_ptr<Completions>(std::make_shared<Completions>());
    it->total = it->futures->size();
    it->forever = t.forever;
    it->end = t.forever ? 0 : monotonic() + t.seconds;
    std::shared_ptr<Completions> c = *it->completions;
    for (std::size_t i = 0; i < it->futures->size(); ++i) {
      PyFuture& f = as_future((*it->futures)[i])->f;
      if (f.done()) {
        it->first->push_back(i);
      } else {
        ++it->pending;
        f.add_done_callback([c, i](PyFuture&) { c->ready.put(i); });
      }
    }
    std::reverse(it->first->begin(), it->first->end());
  }
  SPY_CATCH_ALL {
    Py_DECREF(it);
    return translate_exception();
  }
  return reinterpret_cast<PyObject*>(it);
}

// ---- the unretrieved-exception hook ------------------------------------------

void unretrieved(const std::exception_ptr& e) {
  if (!interpreter_alive()) return;
  Gil gil;
  if (g.unretrieved_hook == nullptr) return;
  PyObject* exc = exception_object(e);
  if (exc == nullptr) {
    PyErr_Clear();
    return;
  }
  PyObject* r = PyObject_CallOneArg(g.unretrieved_hook, exc);
  if (r == nullptr) PyErr_WriteUnraisable(g.unretrieved_hook);
  Py_XDECREF(r);
  Py_DECREF(exc);
}

}  // namespace

// ---- module-level functions (module.cpp lists them) ------------------------------

PyObject* futures_wait(PyObject* m, PyObject* const* a, Py_ssize_t n, PyObject* k) {
  return module_wait(m, a, n, k);
}
PyObject* futures_as_completed(PyObject* m, PyObject* const* a, Py_ssize_t n, PyObject* k) {
  return module_as_completed(m, a, n, k);
}

/// threading's atexit hook: no new work; every pool shut down and its
/// workers joined, before the interpreter finalizes.
PyObject* futures_atexit(PyObject*, PyObject*) {
  g.exiting.store(true);
  if (registry != nullptr) {
    std::vector<std::shared_ptr<PoolBox>> all = *registry;
    for (auto& box : all) {
      if (shutdown_box(*box, true, false) < 0) {
        PyErr_WriteUnraisable(nullptr);
      }
    }
    reap_retired();
  }
  Py_RETURN_NONE;
}

int add_future_types(PyObject* module) {
  registry = new std::vector<std::shared_ptr<PoolBox>>();
  FutureType = add_type(module, &Future_spec);
  if (FutureType == nullptr) return -1;
  if (add_type(module, &Pool_spec) == nullptr) return -1;
  WorkerThreadType = add_type(module, &WorkerThread_spec);
  if (WorkerThreadType == nullptr) return -1;
  AsCompletedType = add_type(module, &AsCompleted_spec);
  if (AsCompletedType == nullptr) return -1;
  (void)spindle::set_unretrieved_exception_hook(unretrieved);
  return 0;
}

}  // namespace spindle::python
