// Shared machinery of the Python module: references, exceptions, arguments,
// timeouts, thread registration.
#include "common.hpp"
// Python.h (through common.hpp) first, then the rest.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

#include <unistd.h>

#include "spindle/errors.hpp"
#include "spindle/thread.hpp"

namespace spindle::python {

Globals g;

namespace {
thread_local std::vector<PyObject*>* tls_deferred = nullptr;

bool finalizing() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}
}  // namespace

bool interpreter_alive() noexcept {
  return !g.dead.load(std::memory_order_acquire) && !finalizing();
}

void hang_if_finalizing() noexcept {
  if (interpreter_alive() || in_main_thread()) return;
  for (;;) pause();  // the process is exiting; a daemon thread ends with it
}

double monotonic() noexcept {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void drop(PyObject* o) noexcept {
  if (tls_deferred != nullptr) {
    try {
      tls_deferred->push_back(o);
      return;
    } catch (...) {
      // Out of memory: fall through and release it now.
    }
  }
  if (PyGILState_Check() != 0) {
    Py_DECREF(o);
    return;
  }
  if (!interpreter_alive()) return;  // the interpreter is going: leak, never touch it
  const PyGILState_STATE s = PyGILState_Ensure();
  Py_DECREF(o);
  PyGILState_Release(s);
}

DeferDrops::DeferDrops() noexcept : prev_(tls_deferred) {
  tls_deferred = &list_;
}

DeferDrops::~DeferDrops() {
  tls_deferred = prev_;
  for (PyObject* o : list_) Py_DECREF(o);
}

// ---- exceptions -------------------------------------------------------------

PyObject* fetch_exception() noexcept {
#if PY_VERSION_HEX >= 0x030C0000
  return PyErr_GetRaisedException();
#else
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) return nullptr;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
#endif
}

void raise_exception(PyObject* exc) noexcept {
#if PY_VERSION_HEX >= 0x030C0000
  PyErr_SetRaisedException(Py_NewRef(exc));
#else
  PyObject* tb = PyException_GetTraceback(exc);  // new reference or null
  PyErr_Restore(Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(exc))), Py_NewRef(exc), tb);
#endif
}

namespace {
std::string describe(PyObject* exc) {
  std::string text = Py_TYPE(exc)->tp_name;
  PyObject* s = PyObject_Str(exc);
  if (s != nullptr) {
    const char* c = PyUnicode_AsUTF8(s);
    if (c != nullptr && *c != '\0') {
      text += ": ";
      text += c;
    }
    Py_DECREF(s);
  }
  if (PyErr_Occurred() != nullptr) PyErr_Clear();
  return text;
}
}  // namespace

PyError PyError::from(PyObject* exc) {
  return PyError(std::make_shared<PyRef>(PyRef::borrow(exc)),
                 std::make_shared<std::string>(describe(exc)));
}

PyError PyError::fetch() {
  PyRef exc(fetch_exception());
  if (!exc) {
    exc = PyRef(PyObject_CallFunction(PyExc_SystemError, "s", "error without exception set"));
  }
  PyError e = from(exc.get());
  return e;
}

void PyError::restore() const {
  raise_exception(exc_->get());
}

PyObject* translate_exception() noexcept {
  try {
    throw;
  } catch (const PyError& e) {
    e.restore();
  } catch (const spindle::BrokenBarrierError&) {
    PyErr_SetNone(g.BrokenBarrierError);
  } catch (const spindle::BrokenThreadPool& e) {
    PyErr_SetString(g.BrokenThreadPool, e.what());
  } catch (const spindle::OverflowError& e) {
    PyErr_SetString(PyExc_OverflowError, e.what());
  } catch (const spindle::ValueError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const spindle::DeadlockError& e) {
    PyErr_SetString(g.DeadlockError, e.what());
  } catch (const spindle::RuntimeError& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const spindle::TimeoutError&) {
    PyErr_SetNone(PyExc_TimeoutError);
  } catch (const spindle::Empty&) {
    PyErr_SetNone(g.Empty);
  } catch (const spindle::Full&) {
    PyErr_SetNone(g.Full);
  } catch (const spindle::ShutDown&) {
    PyErr_SetNone(g.ShutDown);
  } catch (const spindle::CancelledError&) {
    PyErr_SetNone(g.CancelledError);
  } catch (const spindle::InvalidStateError& e) {
    PyErr_SetString(g.InvalidStateError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_SystemError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_SystemError, "unknown C++ exception");
  }
  return nullptr;
}

// ---- arguments ----------------------------------------------------------------

bool no_arguments(const char* type_name, PyObject* args, PyObject* kwds) {
  if ((args != nullptr && PyTuple_GET_SIZE(args) != 0) ||
      (kwds != nullptr && PyDict_GET_SIZE(kwds) != 0)) {
    PyErr_Format(PyExc_TypeError, "%s() takes no arguments", type_name);
    return false;
  }
  return true;
}

bool bind_args(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
               std::initializer_list<const char*> names, PyObject** out, int required, int kwonly) {
  const auto n = static_cast<Py_ssize_t>(names.size());
  const Py_ssize_t max_pos = kwonly < n ? kwonly : n;
  for (Py_ssize_t i = 0; i < n; ++i) out[i] = nullptr;
  if (nargs > max_pos) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %zd positional arguments (%zd given)", fname,
                 max_pos, nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  if (kwnames != nullptr) {
    const Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      Py_ssize_t at = -1;
      Py_ssize_t i = 0;
      for (const char* name : names) {
        if (PyUnicode_CompareWithASCIIString(key, name) == 0) {
          at = i;
          break;
        }
        ++i;
      }
      if (at < 0) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, key);
        return false;
      }
      if (out[at] != nullptr) {
        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%U'", fname, key);
        return false;
      }
      out[at] = args[nargs + k];
    }
  }
  Py_ssize_t i = 0;
  for (const char* name : names) {
    if (i < required && out[i] == nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, name);
      return false;
    }
    ++i;
  }
  return true;
}

int truth(PyObject* o, bool dflt) noexcept {
  if (o == nullptr) return dflt ? 1 : 0;
  return PyObject_IsTrue(o);
}

// ---- timeouts -------------------------------------------------------------------

namespace {
// threading.TIMEOUT_MAX on 64-bit Linux (spindle::TIMEOUT_MAX).
constexpr double kTimeoutMax = 9223372036.0;
}  // namespace

bool parse_timeout(PyObject* o, TimeoutRule rule, Timeout& out) {
  out = Timeout{};
  if (o == nullptr || o == Py_None) {
    if (rule == TimeoutRule::lock && o == Py_None) {
      PyErr_SetString(PyExc_TypeError, "'NoneType' object cannot be interpreted as an integer");
      return false;
    }
    return true;
  }
  const double t = PyFloat_AsDouble(o);
  if (t == -1.0 && PyErr_Occurred() != nullptr) return false;
  if (std::isnan(t)) {
    PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
    return false;
  }
  switch (rule) {
    case TimeoutRule::lock:
      if (t == -1.0) return true;  // forever
      if (t < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
        return false;
      }
      break;
    case TimeoutRule::queue:
      if (t < 0) {
        PyErr_SetString(PyExc_ValueError, "'timeout' must be a non-negative number");
        return false;
      }
      break;
    case TimeoutRule::wait:
    case TimeoutRule::future:
      out.forever = false;
      out.seconds = t > 0 ? t : 0;
      if (t > kTimeoutMax) {
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return false;
      }
      return true;
  }
  if (t > kTimeoutMax) {
    PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
    return false;
  }
  out.forever = false;
  out.seconds = t;
  return true;
}

// ---- threads ---------------------------------------------------------------------

void register_thread() noexcept {
  static thread_local bool registered = false;
  if (registered) return;
  registered = true;
  if (in_main_thread()) return;  // spindle knows the main thread as MainThread
  try {
    spindle::Thread& me = spindle::current_thread();
    // The thread's threading name, if threading knows it (a thread it
    // started); looked up without making a _DummyThread for a foreign one.
    PyObject* threading = PyImport_ImportModule("threading");
    PyObject* active =
        threading != nullptr ? PyObject_GetAttrString(threading, "_active") : nullptr;
    Py_XDECREF(threading);
    PyObject* ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    PyObject* t = active != nullptr && ident != nullptr && PyDict_Check(active) != 0
                      ? PyDict_GetItemWithError(active, ident)  // borrowed
                      : nullptr;
    PyObject* name = t != nullptr ? PyObject_GetAttrString(t, "name") : nullptr;
    Py_XDECREF(ident);
    Py_XDECREF(active);
    const char* c = name != nullptr ? PyUnicode_AsUTF8(name) : nullptr;
    if (c != nullptr) me.set_name(c);
    Py_XDECREF(name);
    if (PyErr_Occurred() != nullptr) PyErr_Clear();
  } catch (...) {
    // Diagnostics only: a thread that cannot be registered is just not listed.
  }
}

// ---- types -----------------------------------------------------------------------

PyTypeObject* add_type(PyObject* module, PyType_Spec* spec, PyObject* base) {
  PyObject* type = PyType_FromModuleAndSpec(module, spec, base);
  if (type == nullptr) return nullptr;
  const char* dot = std::strrchr(spec->name, '.');
  const char* shortname = dot != nullptr ? dot + 1 : spec->name;
  Py_INCREF(type);
  if (PyModule_AddObject(module, shortname, type) < 0) {
    Py_DECREF(type);
    Py_DECREF(type);
    return nullptr;
  }
  return reinterpret_cast<PyTypeObject*>(type);
}

std::string address_of(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

}  // namespace spindle::python
