// threading's primitives over spindle's: Lock, RLock, Condition, Semaphore,
// BoundedSemaphore, Event, Barrier.
//
// Every call first tries what needs no waiting with the GIL held (an
// uncontended acquire costs one compare-and-swap), and waits only with the
// GIL released (common.hpp: block()).
// common.hpp (Python.h) first: it must precede the standard headers.
#include "common.hpp"
// Then the rest.
#include <structmember.h>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "spindle/barrier.hpp"
#include "spindle/condition.hpp"
#include "spindle/event.hpp"
#include "spindle/lock.hpp"
#include "spindle/semaphore.hpp"

namespace spindle::python {
namespace {

PyTypeObject* LockType = nullptr;
PyTypeObject* RLockType = nullptr;

template <class T>
T* as(PyObject* o) noexcept {
  return reinterpret_cast<T*>(o);
}

PyMemberDef weaklist_member(Py_ssize_t offset) {
  return PyMemberDef{"__weaklistoffset__", T_PYSSIZET, offset, READONLY, nullptr};
}

// ===========================================================================
// Lock
// ===========================================================================

// tp_new's body for an object that owns one default-constructed C++ object
// through its `Member` pointer.
template <class Obj, auto Member>
PyObject* new_holding(PyTypeObject* type) {
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  using T = std::remove_pointer_t<std::remove_reference_t<decltype(as<Obj>(self)->*Member)>>;
  as<Obj>(self)->*Member = new (std::nothrow) T();
  if (as<Obj>(self)->*Member == nullptr) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return self;
}

struct LockObject {
  PyObject_HEAD PyObject* weakrefs;
  spindle::Lock* lock;
};

PyObject* Lock_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  if (!no_arguments("Lock", args, kwds)) return nullptr;
  return new_holding<LockObject, &LockObject::lock>(type);
}

void Lock_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  if (as<LockObject>(self)->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  delete as<LockObject>(self)->lock;  // destroying a held Lock is allowed (C07)
  tp->tp_free(self);
  Py_DECREF(tp);
}

// Python's acquire(blocking=True, timeout=-1) for any lock-like object with
// try_lock() and acquire(duration); `fname` names it in errors.
template <class L>
PyObject* acquire_impl(L& lock, const char* fname, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  PyObject* a[2];
  if (!bind_args(fname, args, nargs, kwnames, {"blocking", "timeout"}, a)) return nullptr;
  const int blocking = truth(a[0], true);
  if (blocking < 0) return nullptr;
  Timeout t;
  if (!parse_timeout(a[1], TimeoutRule::lock, t)) return nullptr;
  if (blocking == 0 && !t.forever) {
    PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
    return nullptr;
  }
  if (lock.try_lock()) Py_RETURN_TRUE;
  if (blocking == 0) Py_RETURN_FALSE;
  register_thread();
  try {
    const int r = block(t, [&](const double* s) {
      return s == nullptr ? lock.acquire() : lock.acquire(std::chrono::duration<double>(*s));
    });
    if (r < 0) return nullptr;
    return PyBool_FromLong(r);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Lock_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return acquire_impl(*as<LockObject>(self)->lock, "acquire", args, nargs, kwnames);
}

PyObject* Lock_enter(PyObject* self, PyObject*) {
  return acquire_impl(*as<LockObject>(self)->lock, "__enter__", nullptr, 0, nullptr);
}

PyObject* Lock_release(PyObject* self, PyObject*) {
  try {
    as<LockObject>(self)->lock->release();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Lock_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return Lock_release(self, nullptr);
}

PyObject* Lock_locked(PyObject* self, PyObject*) {
  return PyBool_FromLong(as<LockObject>(self)->lock->locked() ? 1 : 0);
}

PyObject* Lock_repr(PyObject* self) {
  return PyUnicode_FromFormat("<%s %s object at %p>",
                              as<LockObject>(self)->lock->locked() ? "locked" : "unlocked",
                              Py_TYPE(self)->tp_name, self);
}

PyMethodDef Lock_methods[] = {
    {"acquire", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Lock_acquire)),
     METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAs threading.Lock.acquire; waits with the GIL "
     "released."},
    {"release", Lock_release, METH_NOARGS, "Release the lock (any thread may)."},
    {"locked", Lock_locked, METH_NOARGS, "True if the lock is held."},
    {"__enter__", Lock_enter, METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Lock_exit)),
     METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyMemberDef Lock_members[] = {weaklist_member(offsetof(LockObject, weakrefs)),
                              {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Lock_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Lock_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Lock_dealloc)},
    {Py_tp_methods, Lock_methods},
    {Py_tp_members, Lock_members},
    {Py_tp_repr, reinterpret_cast<void*>(Lock_repr)},
    {Py_tp_doc, const_cast<char*>("threading.Lock on spindle::Lock: binary, ownerless; waits "
                                  "release the GIL and show in spindle.dump_threads().")},
    {0, nullptr}};

PyType_Spec Lock_spec = {"spindle.Lock", sizeof(LockObject), 0,
                         Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Lock_slots};

// ===========================================================================
// RLock
// ===========================================================================

struct RLockObject {
  PyObject_HEAD PyObject* weakrefs;
  spindle::RLock* lock;
  // The recursion count, mirrored here for _recursion_count() and
  // _release_save(); only the owner writes or reads it.
  unsigned long count;
  unsigned long owner;  // PyThread ident of the owner, for repr and _release_save
};

PyObject* RLock_new(PyTypeObject* type, PyObject*, PyObject*) {
  // CPython's RLock ignores its arguments (gh-102029 made that a warning in
  // the Python version only).
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  as<RLockObject>(self)->lock = new (std::nothrow) spindle::RLock();
  if (as<RLockObject>(self)->lock == nullptr) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return self;
}

void RLock_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  if (as<RLockObject>(self)->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  delete as<RLockObject>(self)->lock;
  tp->tp_free(self);
  Py_DECREF(tp);
}

// The RLock as acquire_impl sees it: keeps the mirror count.
struct RLockAdapter {
  RLockObject* o;
  void took() const noexcept {
    if (o->count++ == 0) o->owner = PyThread_get_thread_ident();
  }
  bool try_lock() const {
    if (!o->lock->try_lock()) return false;
    took();
    return true;
  }
  // Called without the GIL; only this thread touches the count once it owns.
  bool acquire() const {
    (void)o->lock->acquire();
    took();
    return true;
  }
  bool acquire(std::chrono::duration<double> d) const {
    if (!o->lock->acquire(d)) return false;
    took();
    return true;
  }
};

PyObject* RLock_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  RLockAdapter a{as<RLockObject>(self)};
  return acquire_impl(a, "acquire", args, nargs, kwnames);
}

PyObject* RLock_enter(PyObject* self, PyObject*) {
  RLockAdapter a{as<RLockObject>(self)};
  return acquire_impl(a, "__enter__", nullptr, 0, nullptr);
}

PyObject* RLock_release(PyObject* self, PyObject*) {
  auto* o = as<RLockObject>(self);
  if (!o->lock->is_owned()) {
    PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
    return nullptr;
  }
  if (--o->count == 0) o->owner = 0;
  try {
    o->lock->release();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* RLock_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return RLock_release(self, nullptr);
}

PyObject* RLock_is_owned(PyObject* self, PyObject*) {
  return PyBool_FromLong(as<RLockObject>(self)->lock->is_owned() ? 1 : 0);
}

PyObject* RLock_locked(PyObject* self, PyObject*) {
  return PyBool_FromLong(as<RLockObject>(self)->lock->locked() ? 1 : 0);
}

PyObject* RLock_recursion_count(PyObject* self, PyObject*) {
  auto* o = as<RLockObject>(self);
  return PyLong_FromUnsignedLong(o->lock->is_owned() ? o->count : 0);
}

// Condition support (threading.Condition uses these when a lock has them).
PyObject* RLock_release_save(PyObject* self, PyObject*) {
  auto* o = as<RLockObject>(self);
  if (!o->lock->is_owned() || o->count == 0) {
    PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
    return nullptr;
  }
  const unsigned long count = o->count;
  const unsigned long owner = o->owner;
  o->count = 0;
  o->owner = 0;
  try {
    for (unsigned long i = 0; i < count; ++i) o->lock->release();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  return Py_BuildValue("(kk)", count, owner);
}

PyObject* RLock_acquire_restore(PyObject* self, PyObject* state) {
  auto* o = as<RLockObject>(self);
  unsigned long count = 0;
  unsigned long owner = 0;
  if (!PyArg_ParseTuple(state, "kk:_acquire_restore", &count, &owner)) return nullptr;
  RLockAdapter a{o};
  if (!a.try_lock()) {
    register_thread();
    try {
      const int r = block(Timeout{}, [&](const double* s) {
        return s == nullptr ? a.acquire() : a.acquire(std::chrono::duration<double>(*s));
      });
      if (r < 0) return nullptr;
    }
    SPY_CATCH_ALL {
      return translate_exception();
    }
  }
  try {
    for (unsigned long i = 1; i < count; ++i) (void)o->lock->acquire();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  o->count = count;
  o->owner = owner;
  Py_RETURN_NONE;
}

PyObject* RLock_repr(PyObject* self) {
  auto* o = as<RLockObject>(self);
  const bool locked = o->lock->locked();
  return PyUnicode_FromFormat("<%s %s object owner=%lu count=%lu at %p>",
                              locked ? "locked" : "unlocked", Py_TYPE(self)->tp_name,
                              locked ? o->owner : 0UL, locked ? o->count : 0UL, self);
}

PyMethodDef RLock_methods[] = {
    {"acquire", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(RLock_acquire)),
     METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAs threading.RLock.acquire."},
    {"release", RLock_release, METH_NOARGS, "Drop one level; RuntimeError if not the owner."},
    {"locked", RLock_locked, METH_NOARGS, "True if some thread holds the lock."},
    {"__enter__", RLock_enter, METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(RLock_exit)),
     METH_FASTCALL, nullptr},
    {"_is_owned", RLock_is_owned, METH_NOARGS, nullptr},
    {"_recursion_count", RLock_recursion_count, METH_NOARGS, nullptr},
    {"_release_save", RLock_release_save, METH_NOARGS, nullptr},
    {"_acquire_restore", RLock_acquire_restore, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyMemberDef RLock_members[] = {weaklist_member(offsetof(RLockObject, weakrefs)),
                               {nullptr, 0, 0, 0, nullptr}};

PyType_Slot RLock_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(RLock_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(RLock_dealloc)},
    {Py_tp_methods, RLock_methods},
    {Py_tp_members, RLock_members},
    {Py_tp_repr, reinterpret_cast<void*>(RLock_repr)},
    {Py_tp_doc, const_cast<char*>("threading.RLock on spindle::RLock: reentrant, owned.")},
    {0, nullptr}};

PyType_Spec RLock_spec = {"spindle.RLock", sizeof(RLockObject), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, RLock_slots};

// ===========================================================================
// Condition
// ===========================================================================

struct ConditionObject {
  PyObject_HEAD PyObject* weakrefs;
  PyObject* lock;  // the spindle Lock or RLock object (owned)
  spindle::Condition* cond;
};

bool is_rlock(PyObject* lock) noexcept {
  return PyObject_TypeCheck(lock, RLockType) != 0;
}

PyObject* Condition_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"lock", nullptr};
  PyObject* lock = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Condition", const_cast<char**>(kwlist), &lock)) {
    return nullptr;
  }
  const bool foreign = lock != Py_None && PyObject_TypeCheck(lock, LockType) == 0 &&
                       PyObject_TypeCheck(lock, RLockType) == 0;
  if (foreign && g.foreign_condition_type != nullptr &&
      !PyType_IsSubtype(type, reinterpret_cast<PyTypeObject*>(g.foreign_condition_type))) {
    // A lock spindle does not know (threading.Lock, a user's class): CPython's
    // algorithm over it, in spindle/_foreign.py (a Condition subclass).
    // Only its tp_new: the caller (type.__call__) runs its __init__.
    auto* ft = reinterpret_cast<PyTypeObject*>(g.foreign_condition_type);
    return ft->tp_new(ft, args, kwds);
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  auto* o = as<ConditionObject>(self);
  if (lock == Py_None || foreign) {
    // The default lock is a new RLock (C15); a foreign-lock subclass keeps one
    // too, unused, so that every Condition object is complete.
    lock = PyObject_CallNoArgs(reinterpret_cast<PyObject*>(RLockType));
    if (lock == nullptr) {
      Py_DECREF(self);
      return nullptr;
    }
  } else {
    Py_INCREF(lock);
  }
  o->lock = lock;
  if (is_rlock(lock)) {
    o->cond = new (std::nothrow) spindle::Condition(*as<RLockObject>(lock)->lock);
  } else {
    o->cond = new (std::nothrow) spindle::Condition(*as<LockObject>(lock)->lock);
  }
  if (o->cond == nullptr) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return self;
}

void Condition_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  auto* o = as<ConditionObject>(self);
  if (o->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  delete o->cond;
  Py_XDECREF(o->lock);
  tp->tp_free(self);
  Py_DECREF(tp);
}

bool cond_owned(ConditionObject* o) {
  return is_rlock(o->lock) ? as<RLockObject>(o->lock)->lock->is_owned()
                           : as<LockObject>(o->lock)->lock->locked();
}

PyObject* Condition_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames) {
  PyObject* lock = as<ConditionObject>(self)->lock;
  return is_rlock(lock) ? RLock_acquire(lock, args, nargs, kwnames)
                        : Lock_acquire(lock, args, nargs, kwnames);
}

PyObject* Condition_enter(PyObject* self, PyObject*) {
  PyObject* lock = as<ConditionObject>(self)->lock;
  return is_rlock(lock) ? RLock_enter(lock, nullptr) : Lock_enter(lock, nullptr);
}

PyObject* Condition_release(PyObject* self, PyObject*) {
  PyObject* lock = as<ConditionObject>(self)->lock;
  return is_rlock(lock) ? RLock_release(lock, nullptr) : Lock_release(lock, nullptr);
}

PyObject* Condition_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return Condition_release(self, nullptr);
}

// 1 notified, 0 timed out, -1 error.
int cond_wait(ConditionObject* o, const Timeout& t) {
  if (!cond_owned(o)) {
    PyErr_SetString(PyExc_RuntimeError, "cannot wait on un-acquired lock");
    return -1;
  }
  register_thread();
  spindle::Condition& c = *o->cond;
  try {
    return block(t, [&](const double* s) {
      if (s == nullptr) {
        c.wait();
        return true;
      }
      return c.wait(std::chrono::duration<double>(*s));
    });
  }
  SPY_CATCH_ALL {
    translate_exception();
    return -1;
  }
}

PyObject* Condition_wait(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("wait", args, nargs, kwnames, {"timeout"}, a)) return nullptr;
  Timeout t;
  if (!parse_timeout(a[0], TimeoutRule::wait, t)) return nullptr;
  const int r = cond_wait(as<ConditionObject>(self), t);
  if (r < 0) return nullptr;
  return PyBool_FromLong(r);
}

PyObject* Condition_wait_for(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                             PyObject* kwnames) {
  PyObject* a[2];
  if (!bind_args("wait_for", args, nargs, kwnames, {"predicate", "timeout"}, a, 1)) {
    return nullptr;
  }
  Timeout t;
  if (!parse_timeout(a[1], TimeoutRule::wait, t)) return nullptr;
  // CPython's loop: the predicate first, then wait for what is left.
  PyObject* result = PyObject_CallNoArgs(a[0]);
  double end = 0;
  bool started = false;
  for (;;) {
    if (result == nullptr) return nullptr;
    const int ok = PyObject_IsTrue(result);
    if (ok < 0) {
      Py_DECREF(result);
      return nullptr;
    }
    if (ok != 0) return result;
    Timeout step = t;
    if (!t.forever) {
      if (!started) {
        end = monotonic() + t.seconds;
        started = true;
      } else {
        step.seconds = end - monotonic();
        if (step.seconds <= 0) return result;
      }
    }
    if (cond_wait(as<ConditionObject>(self), step) < 0) {
      Py_DECREF(result);
      return nullptr;
    }
    Py_DECREF(result);
    result = PyObject_CallNoArgs(a[0]);
  }
}

PyObject* Condition_notify(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                           PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("notify", args, nargs, kwnames, {"n"}, a)) return nullptr;
  Py_ssize_t n = 1;
  if (a[0] != nullptr) {
    n = PyLong_AsSsize_t(a[0]);
    if (n == -1 && PyErr_Occurred() != nullptr) return nullptr;
  }
  auto* o = as<ConditionObject>(self);
  if (!cond_owned(o)) {
    PyErr_SetString(PyExc_RuntimeError, "cannot notify on un-acquired lock");
    return nullptr;
  }
  try {
    o->cond->notify(n > INT32_MAX ? INT32_MAX : static_cast<int>(n));
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Condition_notify_all(PyObject* self, PyObject*) {
  auto* o = as<ConditionObject>(self);
  if (!cond_owned(o)) {
    PyErr_SetString(PyExc_RuntimeError, "cannot notify on un-acquired lock");
    return nullptr;
  }
  try {
    o->cond->notify_all();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Condition_is_owned(PyObject* self, PyObject*) {
  return PyBool_FromLong(cond_owned(as<ConditionObject>(self)) ? 1 : 0);
}

PyObject* Condition_release_save(PyObject* self, PyObject*) {
  PyObject* lock = as<ConditionObject>(self)->lock;
  if (is_rlock(lock)) return RLock_release_save(lock, nullptr);
  PyObject* r = Lock_release(lock, nullptr);
  if (r == nullptr) return nullptr;
  Py_DECREF(r);
  Py_RETURN_NONE;
}

PyObject* Condition_acquire_restore(PyObject* self, PyObject* state) {
  PyObject* lock = as<ConditionObject>(self)->lock;
  if (is_rlock(lock)) return RLock_acquire_restore(lock, state);
  PyObject* r = Lock_enter(lock, nullptr);
  if (r == nullptr) return nullptr;
  Py_DECREF(r);
  Py_RETURN_NONE;
}

PyObject* Condition_repr(PyObject* self) {
  return PyUnicode_FromFormat("<%s(%R)>", Py_TYPE(self)->tp_name, as<ConditionObject>(self)->lock);
}

PyObject* Condition_get_lock(PyObject* self, void*) {
  return Py_NewRef(as<ConditionObject>(self)->lock);
}

PyMethodDef Condition_methods[] = {
    {"acquire", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Condition_acquire)),
     METH_FASTCALL | METH_KEYWORDS, "Acquire the underlying lock."},
    {"release", Condition_release, METH_NOARGS, "Release the underlying lock."},
    {"__enter__", Condition_enter, METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Condition_exit)),
     METH_FASTCALL, nullptr},
    {"wait", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Condition_wait)),
     METH_FASTCALL | METH_KEYWORDS,
     "wait(timeout=None) -> bool\n\nRelease the lock, wait for a notify, re-acquire."},
    {"wait_for", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Condition_wait_for)),
     METH_FASTCALL | METH_KEYWORDS, "wait_for(predicate, timeout=None)"},
    {"notify", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Condition_notify)),
     METH_FASTCALL | METH_KEYWORDS, "notify(n=1)"},
    {"notify_all", Condition_notify_all, METH_NOARGS, "Wake every waiting thread."},
    {"_is_owned", Condition_is_owned, METH_NOARGS, nullptr},
    {"_release_save", Condition_release_save, METH_NOARGS, nullptr},
    {"_acquire_restore", Condition_acquire_restore, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef Condition_getset[] = {{"_lock", Condition_get_lock, nullptr, nullptr, nullptr},
                                  {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMemberDef Condition_members[] = {weaklist_member(offsetof(ConditionObject, weakrefs)),
                                   {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Condition_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Condition_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Condition_dealloc)},
    {Py_tp_methods, Condition_methods},
    {Py_tp_members, Condition_members},
    {Py_tp_getset, Condition_getset},
    {Py_tp_repr, reinterpret_cast<void*>(Condition_repr)},
    {Py_tp_doc, const_cast<char*>("threading.Condition on spindle::Condition (over a spindle "
                                  "Lock or RLock; other locks get CPython's algorithm).")},
    {0, nullptr}};

PyType_Spec Condition_spec = {"spindle.Condition", sizeof(ConditionObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Condition_slots};

// ===========================================================================
// Semaphore, BoundedSemaphore
// ===========================================================================

struct SemaphoreObject {
  PyObject_HEAD PyObject* weakrefs;
  spindle::Semaphore* sem;  // a BoundedSemaphore for the bounded type
  Py_ssize_t initial;
};

PyTypeObject* BoundedType = nullptr;

PyObject* Semaphore_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"value", nullptr};
  Py_ssize_t value = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n", const_cast<char**>(kwlist), &value)) {
    return nullptr;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  auto* o = as<SemaphoreObject>(self);
  o->initial = value;
  try {
    if (BoundedType != nullptr && PyType_IsSubtype(type, BoundedType) != 0) {
      o->sem = new spindle::BoundedSemaphore(value);
    } else {
      o->sem = new spindle::Semaphore(value);
    }
  }
  SPY_CATCH_ALL {
    Py_DECREF(self);
    return translate_exception();
  }
  return self;
}

void Semaphore_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  auto* o = as<SemaphoreObject>(self);
  if (o->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  delete o->sem;
  tp->tp_free(self);
  Py_DECREF(tp);
}

PyObject* sem_acquire(SemaphoreObject* o, PyObject* blocking_arg, PyObject* timeout_arg) {
  const int blocking = truth(blocking_arg, true);
  if (blocking < 0) return nullptr;
  if (blocking == 0 && timeout_arg != nullptr && timeout_arg != Py_None) {
    PyErr_SetString(PyExc_ValueError, "can't specify timeout for non-blocking acquire");
    return nullptr;
  }
  Timeout t;
  if (!parse_timeout(timeout_arg, TimeoutRule::wait, t)) return nullptr;
  spindle::Semaphore& s = *o->sem;
  if (s.try_acquire()) Py_RETURN_TRUE;
  if (blocking == 0 || (!t.forever && t.seconds <= 0)) Py_RETURN_FALSE;
  register_thread();
  try {
    const int r = block(t, [&](const double* sec) {
      return sec == nullptr ? s.acquire() : s.acquire(std::chrono::duration<double>(*sec));
    });
    if (r < 0) return nullptr;
    return PyBool_FromLong(r);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Semaphore_acquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames) {
  PyObject* a[2];
  if (!bind_args("acquire", args, nargs, kwnames, {"blocking", "timeout"}, a)) return nullptr;
  return sem_acquire(as<SemaphoreObject>(self), a[0], a[1]);
}

PyObject* Semaphore_enter(PyObject* self, PyObject*) {
  return sem_acquire(as<SemaphoreObject>(self), nullptr, nullptr);
}

PyObject* Semaphore_release(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("release", args, nargs, kwnames, {"n"}, a)) return nullptr;
  Py_ssize_t n = 1;
  if (a[0] != nullptr) {
    n = PyLong_AsSsize_t(a[0]);
    if (n == -1 && PyErr_Occurred() != nullptr) return nullptr;
  }
  try {
    as<SemaphoreObject>(self)->sem->release(n);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Semaphore_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return Semaphore_release(self, nullptr, 0, nullptr);
}

PyObject* Semaphore_repr(PyObject* self) {
  auto* o = as<SemaphoreObject>(self);
  const unsigned long v = o->sem->value();
  if (BoundedType != nullptr && PyObject_TypeCheck(self, BoundedType) != 0) {
    return PyUnicode_FromFormat("<%s at %p: value=%lu/%zd>", Py_TYPE(self)->tp_name, self, v,
                                o->initial);
  }
  return PyUnicode_FromFormat("<%s at %p: value=%lu>", Py_TYPE(self)->tp_name, self, v);
}

PyObject* Semaphore_get_value(PyObject* self, void*) {
  return PyLong_FromUnsignedLong(as<SemaphoreObject>(self)->sem->value());
}

PyMethodDef Semaphore_methods[] = {
    {"acquire", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Semaphore_acquire)),
     METH_FASTCALL | METH_KEYWORDS, "acquire(blocking=True, timeout=None) -> bool"},
    {"release", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Semaphore_release)),
     METH_FASTCALL | METH_KEYWORDS, "release(n=1)"},
    {"__enter__", Semaphore_enter, METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Semaphore_exit)),
     METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef Semaphore_getset[] = {{"_value", Semaphore_get_value, nullptr, nullptr, nullptr},
                                  {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMemberDef Semaphore_members[] = {weaklist_member(offsetof(SemaphoreObject, weakrefs)),
                                   {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Semaphore_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Semaphore_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Semaphore_dealloc)},
    {Py_tp_methods, Semaphore_methods},
    {Py_tp_members, Semaphore_members},
    {Py_tp_getset, Semaphore_getset},
    {Py_tp_repr, reinterpret_cast<void*>(Semaphore_repr)},
    {Py_tp_doc, const_cast<char*>("threading.Semaphore on spindle::Semaphore.")},
    {0, nullptr}};

PyType_Spec Semaphore_spec = {"spindle.Semaphore", sizeof(SemaphoreObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Semaphore_slots};

PyType_Slot Bounded_slots[] = {
    {Py_tp_doc, const_cast<char*>("threading.BoundedSemaphore on spindle::BoundedSemaphore.")},
    {0, nullptr}};

PyType_Spec Bounded_spec = {"spindle.BoundedSemaphore", sizeof(SemaphoreObject), 0,
                            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Bounded_slots};

// ===========================================================================
// Event
// ===========================================================================

struct EventObject {
  PyObject_HEAD PyObject* weakrefs;
  spindle::Event* ev;
};

PyObject* Event_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  if (!no_arguments("Event", args, kwds)) return nullptr;
  return new_holding<EventObject, &EventObject::ev>(type);
}

void Event_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  if (as<EventObject>(self)->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  delete as<EventObject>(self)->ev;
  tp->tp_free(self);
  Py_DECREF(tp);
}

PyObject* Event_is_set(PyObject* self, PyObject*) {
  return PyBool_FromLong(as<EventObject>(self)->ev->is_set() ? 1 : 0);
}

PyObject* Event_set(PyObject* self, PyObject*) {
  as<EventObject>(self)->ev->set();
  Py_RETURN_NONE;
}

PyObject* Event_clear(PyObject* self, PyObject*) {
  as<EventObject>(self)->ev->clear();
  Py_RETURN_NONE;
}

PyObject* Event_wait(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("wait", args, nargs, kwnames, {"timeout"}, a)) return nullptr;
  spindle::Event& ev = *as<EventObject>(self)->ev;
  if (ev.is_set()) Py_RETURN_TRUE;
  Timeout t;
  if (!parse_timeout(a[0], TimeoutRule::wait, t)) return nullptr;
  if (!t.forever && t.seconds <= 0) return PyBool_FromLong(ev.is_set() ? 1 : 0);
  register_thread();
  try {
    const int r = block(t, [&](const double* s) {
      return s == nullptr ? ev.wait() : ev.wait(std::chrono::duration<double>(*s));
    });
    if (r < 0) return nullptr;
    return PyBool_FromLong(r);
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Event_repr(PyObject* self) {
  return PyUnicode_FromFormat("<%s at %p: %s>", Py_TYPE(self)->tp_name, self,
                              as<EventObject>(self)->ev->is_set() ? "set" : "unset");
}

PyMethodDef Event_methods[] = {
    {"is_set", Event_is_set, METH_NOARGS, "True if the flag is set."},
    {"set", Event_set, METH_NOARGS, "Set the flag and wake every waiter."},
    {"clear", Event_clear, METH_NOARGS, "Lower the flag."},
    {"wait", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Event_wait)),
     METH_FASTCALL | METH_KEYWORDS, "wait(timeout=None) -> bool"},
    {nullptr, nullptr, 0, nullptr}};

PyMemberDef Event_members[] = {weaklist_member(offsetof(EventObject, weakrefs)),
                               {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Event_slots[] = {{Py_tp_new, reinterpret_cast<void*>(Event_new)},
                             {Py_tp_dealloc, reinterpret_cast<void*>(Event_dealloc)},
                             {Py_tp_methods, Event_methods},
                             {Py_tp_members, Event_members},
                             {Py_tp_repr, reinterpret_cast<void*>(Event_repr)},
                             {Py_tp_doc, const_cast<char*>("threading.Event on spindle::Event.")},
                             {0, nullptr}};

PyType_Spec Event_spec = {"spindle.Event", sizeof(EventObject), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Event_slots};

// ===========================================================================
// Barrier
// ===========================================================================

struct BarrierObject {
  PyObject_HEAD PyObject* weakrefs;
  spindle::Barrier* barrier;
};

PyObject* Barrier_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"parties", "action", "timeout", nullptr};
  Py_ssize_t parties = 0;
  PyObject* action = Py_None;
  PyObject* timeout = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|OO:Barrier", const_cast<char**>(kwlist), &parties,
                                   &action, &timeout)) {
    return nullptr;
  }
  std::function<void()> fn;
  if (action != Py_None) {
    // The action runs in the last thread to arrive, which waits with the GIL
    // released: it takes the GIL to call it. A Python exception goes back
    // through spindle (C42) to that thread's wait().
    auto ref = std::make_shared<PyRef>(PyRef::borrow(action));
    fn = [ref] {
      Gil gil;
      PyObject* r = PyObject_CallNoArgs(ref->get());
      if (r == nullptr) throw PyError::fetch();
      Py_DECREF(r);
    };
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  try {
    if (timeout == Py_None) {
      as<BarrierObject>(self)->barrier = new spindle::Barrier(parties, std::move(fn));
    } else {
      const double t = PyFloat_AsDouble(timeout);
      if (t == -1.0 && PyErr_Occurred() != nullptr) {
        Py_DECREF(self);
        return nullptr;
      }
      as<BarrierObject>(self)->barrier =
          new spindle::Barrier(parties, std::move(fn), std::chrono::duration<double>(t));
    }
  }
  SPY_CATCH_ALL {
    Py_DECREF(self);
    return translate_exception();
  }
  return self;
}

void Barrier_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  if (as<BarrierObject>(self)->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  delete as<BarrierObject>(self)->barrier;  // drops the action's reference (GIL held)
  tp->tp_free(self);
  Py_DECREF(tp);
}

PyObject* Barrier_wait(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("wait", args, nargs, kwnames, {"timeout"}, a)) return nullptr;
  spindle::Barrier& b = *as<BarrierObject>(self)->barrier;
  std::optional<double> t;
  if (a[0] != nullptr && a[0] != Py_None) {
    t = PyFloat_AsDouble(a[0]);
    if (*t == -1.0 && PyErr_Occurred() != nullptr) return nullptr;
  }
  register_thread();
  // Not in slices, also in the main thread: a Barrier's timeout breaks it for
  // every party, so Ctrl-C is acted on once the wait returns
  // (docs/design/python.md).
  std::size_t index = 0;
  try {
    index = without_gil([&] { return t ? b.wait(std::chrono::duration<double>(*t)) : b.wait(); });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  if (PyErr_CheckSignals() < 0) return nullptr;
  return PyLong_FromSize_t(index);
}

// Calls that take the barrier's internal lock release the GIL first: the
// action holds that lock while it takes the GIL.
PyObject* Barrier_reset(PyObject* self, PyObject*) {
  try {
    without_gil([&] { as<BarrierObject>(self)->barrier->reset(); });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Barrier_abort(PyObject* self, PyObject*) {
  try {
    without_gil([&] { as<BarrierObject>(self)->barrier->abort(); });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Barrier_get_parties(PyObject* self, void*) {
  return PyLong_FromSize_t(as<BarrierObject>(self)->barrier->parties());
}

PyObject* Barrier_get_n_waiting(PyObject* self, void*) {
  std::size_t n = 0;
  try {
    n = without_gil([&] { return as<BarrierObject>(self)->barrier->n_waiting(); });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  return PyLong_FromSize_t(n);
}

PyObject* Barrier_get_broken(PyObject* self, void*) {
  bool b = false;
  try {
    b = without_gil([&] { return as<BarrierObject>(self)->barrier->broken(); });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  return PyBool_FromLong(b ? 1 : 0);
}

PyObject* Barrier_repr(PyObject* self) {
  spindle::Barrier& b = *as<BarrierObject>(self)->barrier;
  bool broken = false;
  std::size_t waiting = 0;
  try {
    without_gil([&] {
      broken = b.broken();
      waiting = b.n_waiting();
    });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  if (broken) return PyUnicode_FromFormat("<%s at %p: broken>", Py_TYPE(self)->tp_name, self);
  return PyUnicode_FromFormat("<%s at %p: waiters=%zu/%zu>", Py_TYPE(self)->tp_name, self, waiting,
                              b.parties());
}

PyMethodDef Barrier_methods[] = {
    {"wait", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Barrier_wait)),
     METH_FASTCALL | METH_KEYWORDS, "wait(timeout=None) -> int (arrival index)"},
    {"reset", Barrier_reset, METH_NOARGS, "Return to the initial state (waiters: broken)."},
    {"abort", Barrier_abort, METH_NOARGS, "Break the barrier."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef Barrier_getset[] = {{"parties", Barrier_get_parties, nullptr, nullptr, nullptr},
                                {"n_waiting", Barrier_get_n_waiting, nullptr, nullptr, nullptr},
                                {"broken", Barrier_get_broken, nullptr, nullptr, nullptr},
                                {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMemberDef Barrier_members[] = {weaklist_member(offsetof(BarrierObject, weakrefs)),
                                 {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Barrier_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Barrier_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Barrier_dealloc)},
    {Py_tp_methods, Barrier_methods},
    {Py_tp_members, Barrier_members},
    {Py_tp_getset, Barrier_getset},
    {Py_tp_repr, reinterpret_cast<void*>(Barrier_repr)},
    {Py_tp_doc, const_cast<char*>("threading.Barrier on spindle::Barrier.")},
    {0, nullptr}};

PyType_Spec Barrier_spec = {"spindle.Barrier", sizeof(BarrierObject), 0,
                            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Barrier_slots};

}  // namespace

int add_sync_types(PyObject* module) {
  LockType = add_type(module, &Lock_spec);
  if (LockType == nullptr) return -1;
  RLockType = add_type(module, &RLock_spec);
  if (RLockType == nullptr) return -1;
  if (add_type(module, &Condition_spec) == nullptr) return -1;
  PyTypeObject* sem = add_type(module, &Semaphore_spec);
  if (sem == nullptr) return -1;
  BoundedType = add_type(module, &Bounded_spec, reinterpret_cast<PyObject*>(sem));
  if (BoundedType == nullptr) return -1;
  if (add_type(module, &Event_spec) == nullptr) return -1;
  if (add_type(module, &Barrier_spec) == nullptr) return -1;
  return 0;
}

}  // namespace spindle::python
