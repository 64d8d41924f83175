// The _spindle extension module: types from sync.cpp, queues.cpp and
// futures.cpp, spindle's thread diagnostics, and the hooks the Python
// package (python/spindle/__init__.py) installs.
#include "common.hpp"
// Python.h (through common.hpp) first, then the rest.
#include <string>
#include <vector>

#include "spindle/deadlock.hpp"
#include "spindle/thread.hpp"

namespace spindle::python {

Helpers helpers;

PyObject* futures_wait(PyObject* m, PyObject* const* a, Py_ssize_t n, PyObject* k);
PyObject* futures_as_completed(PyObject* m, PyObject* const* a, Py_ssize_t n, PyObject* k);
PyObject* futures_atexit(PyObject* m, PyObject* unused);

namespace {

PyObject* str_of(const std::string& text) {
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}

PyObject* dump_threads(PyObject*, PyObject*) {
  try {
    return str_of(spindle::dump_threads());
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

// spindle::find_deadlocks(): one str per wait-for cycle present now (its
// describe() text: a line per thread, what it holds and waits for).
PyObject* find_deadlocks(PyObject*, PyObject*) {
  std::vector<std::string> texts;
  try {
    for (const auto& cycle : spindle::find_deadlocks()) texts.push_back(cycle.describe());
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  PyRef list(PyList_New(static_cast<Py_ssize_t>(texts.size())));
  if (!list) return nullptr;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    PyObject* item = str_of(texts[i]);
    if (item == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), item);
  }
  return list.release();
}

// One tuple per thread spindle knows: (name, ident, native_id, daemon,
// state, wait kind or None, wait object address or None, seconds waited or
// None).
PyObject* thread_states(PyObject*, PyObject*) {
  try {
    const auto threads = spindle::enumerate();
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    PyRef list(PyList_New(0));
    if (!list) return nullptr;
    for (const auto& t : threads) {
      const auto ident = t->ident();
      const auto native = t->native_id();
      const auto wait = t->waiting_on();
      const std::string name = t->name();
      // "N" hands each new reference to the tuple (and drops them all if
      // one is null).
      PyRef item(Py_BuildValue(
          "(sNNOszNN)", name.c_str(),
          ident ? PyLong_FromUnsignedLongLong(*ident) : Py_NewRef(Py_None),
          native ? PyLong_FromLong(*native) : Py_NewRef(Py_None), t->daemon() ? Py_True : Py_False,
          spindle::to_string(t->state()), wait ? wait->kind : nullptr,
          wait ? PyLong_FromSsize_t(reinterpret_cast<Py_ssize_t>(wait->object))
               : Py_NewRef(Py_None),
          wait ? PyFloat_FromDouble(static_cast<double>(now - wait->since_ns) / 1e9)
               : Py_NewRef(Py_None)));
      if (!item || PyList_Append(list.get(), item.get()) < 0) return nullptr;
    }
    return list.release();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

void set_slot(PyObject*& slot, PyObject* value) {
  PyObject* old = slot;
  slot = value == Py_None ? nullptr : Py_XNewRef(value);
  Py_XDECREF(old);
}

// _configure(name=object, ...): the Python package's hooks and classes.
PyObject* configure(PyObject*, PyObject* args, PyObject* kwds) {
  if (args != nullptr && PyTuple_GET_SIZE(args) != 0) {
    PyErr_SetString(PyExc_TypeError, "_configure takes keyword arguments only");
    return nullptr;
  }
  if (kwds == nullptr) Py_RETURN_NONE;
  PyObject* key = nullptr;
  PyObject* value = nullptr;
  Py_ssize_t pos = 0;
  while (PyDict_Next(kwds, &pos, &key, &value) != 0) {
    const char* k = PyUnicode_AsUTF8(key);
    if (k == nullptr) return nullptr;
    const std::string name(k);
    if (name == "report_callback_exception") {
      set_slot(g.report_callback_exception, value);
    } else if (name == "report_initializer_exception") {
      set_slot(g.report_initializer_exception, value);
    } else if (name == "unretrieved_hook") {
      set_slot(g.unretrieved_hook, value);
    } else if (name == "foreign_condition_type") {
      set_slot(g.foreign_condition_type, value);
    } else if (name == "worker_started") {
      set_slot(helpers.worker_started, value);
    } else if (name == "worker_exiting") {
      set_slot(helpers.worker_exiting, value);
    } else if (name == "ShutDown") {
      set_slot(g.ShutDown, value);
    } else {
      PyErr_Format(PyExc_TypeError, "_configure: unknown hook %U", key);
      return nullptr;
    }
  }
  Py_RETURN_NONE;
}

// In a forked child: the forking thread is the main thread now.
PyObject* after_fork(PyObject*, PyObject*) {
  g.main_ident.store(PyThread_get_thread_ident());
  Py_RETURN_NONE;
}

PyObject* is_main_thread(PyObject*, PyObject*) {
  return PyBool_FromLong(in_main_thread() ? 1 : 0);
}

PyMethodDef module_methods[] = {
    {"dump_threads", dump_threads, METH_NOARGS,
     "dump_threads() -> str\n\nOne line per thread spindle knows: name, ident, state, what it "
     "waits on and for how long."},
    {"_thread_states", thread_states, METH_NOARGS, nullptr},
    {"find_deadlocks", find_deadlocks, METH_NOARGS,
     "find_deadlocks() -> list[str]\n\nThe wait-for cycles present now among threads blocked in "
     "spindle's locks and joins, one description each."},
    {"wait", SPY_FAST(futures_wait), METH_FASTCALL | METH_KEYWORDS,
     "wait(fs, timeout=None, return_when=ALL_COMPLETED) -> DoneAndNotDoneFutures"},
    {"as_completed", SPY_FAST(futures_as_completed), METH_FASTCALL | METH_KEYWORDS,
     "as_completed(fs, timeout=None) -> iterator"},
    {"_atexit", futures_atexit, METH_NOARGS, nullptr},
    {"_configure", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(configure)),
     METH_VARARGS | METH_KEYWORDS, nullptr},
    {"_after_fork", after_fork, METH_NOARGS, nullptr},
    {"_in_main_thread", is_main_thread, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                          "spindle._spindle",
                          "spindle's primitives, queues and thread pool for Python (C++).",
                          -1,
                          module_methods,
                          nullptr,
                          nullptr,
                          nullptr,
                          nullptr};

PyObject* get_attr(const char* module, const char* name) {
  PyObject* m = PyImport_ImportModule(module);
  if (m == nullptr) return nullptr;
  PyObject* a = PyObject_GetAttrString(m, name);
  Py_DECREF(m);
  return a;
}

void on_exit() {
  g.dead.store(true, std::memory_order_release);
}

}  // namespace
}  // namespace spindle::python

// CPython finds the module's init function by this name.
PyMODINIT_FUNC PyInit__spindle() {  // NOLINT(bugprone-reserved-identifier)
  using namespace spindle::python;
  PyObject* m = PyModule_Create(&module_def);
  if (m == nullptr) return nullptr;
  struct {
    PyObject** slot;
    const char* module;
    const char* name;
  } classes[] = {
      {&g.Empty, "queue", "Empty"},
      {&g.Full, "queue", "Full"},
      {&g.BrokenBarrierError, "threading", "BrokenBarrierError"},
      {&g.CancelledError, "concurrent.futures", "CancelledError"},
      {&g.InvalidStateError, "concurrent.futures", "InvalidStateError"},
      {&g.BrokenThreadPool, "concurrent.futures.thread", "BrokenThreadPool"},
      {&g.DoneAndNotDone, "concurrent.futures._base", "DoneAndNotDoneFutures"},
  };
  for (auto& c : classes) {
    *c.slot = get_attr(c.module, c.name);
    if (*c.slot == nullptr) {
      Py_DECREF(m);
      return nullptr;
    }
  }
  g.DeadlockError = PyErr_NewExceptionWithDoc(
      "spindle.DeadlockError",
      "Raised by a blocking call without a timeout that would close a wait-for cycle "
      "(threads each waiting on a lock held by the next); a RuntimeError.",
      PyExc_RuntimeError, nullptr);
  if (g.DeadlockError == nullptr ||
      PyModule_AddObject(m, "DeadlockError", Py_NewRef(g.DeadlockError)) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  g.ShutDown = get_attr("queue", "ShutDown");  // Python 3.13
  if (g.ShutDown == nullptr) {
    PyErr_Clear();
    g.ShutDown = PyErr_NewExceptionWithDoc("spindle.ShutDown",
                                           "Raised by put/get on a queue that was shut down "
                                           "(queue.ShutDown from Python 3.13 on).",
                                           PyExc_Exception, nullptr);
    if (g.ShutDown == nullptr) {
      Py_DECREF(m);
      return nullptr;
    }
  }
  PyObject* main = get_attr("threading", "main_thread");
  PyObject* main_thread = main != nullptr ? PyObject_CallNoArgs(main) : nullptr;
  Py_XDECREF(main);
  PyObject* ident = main_thread != nullptr ? PyObject_GetAttrString(main_thread, "ident") : nullptr;
  Py_XDECREF(main_thread);
  if (ident == nullptr) {
    Py_DECREF(m);
    return nullptr;
  }
  g.main_ident.store(PyLong_AsUnsignedLong(ident));
  Py_DECREF(ident);
  if (add_sync_types(m) < 0 || add_queue_types(m) < 0 || add_future_types(m) < 0 ||
      PyModule_AddObject(m, "ShutDown", Py_NewRef(g.ShutDown)) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  if (Py_AtExit(on_exit) < 0) {
    // No slot left: C++ threads then only rely on Py_IsFinalizing().
  }
  return m;
}
