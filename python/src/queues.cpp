// The queue module over spindle's queues: Queue, LifoQueue, PriorityQueue
// and SimpleQueue hold PyObject references (spindle::Queue<PyRef>): put
// takes a new reference, the getter receives it.
//
// GIL rules (docs/design/python.md):
//   * Queue, LifoQueue, SimpleQueue: a put or get that needs no waiting runs
//     with the GIL held (the queue's lock is only ever held for a few
//     instructions by threads that never wait for the GIL while holding it);
//     a waiting one releases the GIL.
//   * PriorityQueue compares items with Python's `<` under the queue's lock,
//     taking the GIL for it; so every one of its calls releases the GIL
//     before it takes the queue's lock (no thread waits for that lock while
//     holding the GIL).
//   * Items destroyed under the queue's lock (shutdown(immediate=True)) are
//     released after the lock is dropped (DeferDrops).
#include "common.hpp"
// Python.h (through common.hpp) first, then the rest.
#include <structmember.h>

#include <chrono>

#include "spindle/queue.hpp"

namespace spindle::python {
namespace {

/// Python's `<` for the heap; takes the GIL (the caller released it).
struct PyLess {
  bool operator()(const PyRef& a, const PyRef& b) const {
    Gil gil;
    const int r = PyObject_RichCompareBool(a.get(), b.get(), Py_LT);
    if (r < 0) throw PyError::fetch();
    return r != 0;
  }
};

using Fifo = spindle::Queue<PyRef>;
using Lifo = spindle::LifoQueue<PyRef>;
using Prio = spindle::PriorityQueue<PyRef, PyLess>;
using Simple = spindle::SimpleQueue<PyRef>;

enum Kind : int { kFifo, kLifo, kPrio, kSimple };

struct QueueObject {
  PyObject_HEAD PyObject* weakrefs;
  Kind kind;
  void* q;
};

template <class F>
decltype(auto) visit(QueueObject* o, F&& f) {
  switch (o->kind) {
    case kLifo:
      return f(*static_cast<Lifo*>(o->q));
    case kPrio:
      return f(*static_cast<Prio*>(o->q));
    case kSimple:
      return f(*static_cast<Simple*>(o->q));
    case kFifo:
    default:
      return f(*static_cast<Fifo*>(o->q));
  }
}

QueueObject* as_queue(PyObject* o) noexcept {
  return reinterpret_cast<QueueObject*>(o);
}

PyObject* queue_new(PyTypeObject* type, PyObject* args, PyObject* kwds, Kind kind) {
  Py_ssize_t maxsize = 0;
  if (kind != kSimple) {
    static const char* kwlist[] = {"maxsize", nullptr};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n", const_cast<char**>(kwlist), &maxsize)) {
      return nullptr;
    }
  } else if (!no_arguments("SimpleQueue", args, kwds)) {
    return nullptr;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  QueueObject* o = as_queue(self);
  o->kind = kind;
  try {
    switch (kind) {
      case kFifo:
        o->q = new Fifo(maxsize);
        break;
      case kLifo:
        o->q = new Lifo(maxsize);
        break;
      case kPrio:
        o->q = new Prio(maxsize);
        break;
      case kSimple:
        o->q = new Simple();
        break;
    }
  }
  SPY_CATCH_ALL {
    Py_DECREF(self);
    return translate_exception();
  }
  return self;
}

PyObject* Queue_new(PyTypeObject* t, PyObject* a, PyObject* k) {
  return queue_new(t, a, k, kFifo);
}
PyObject* Lifo_new(PyTypeObject* t, PyObject* a, PyObject* k) {
  return queue_new(t, a, k, kLifo);
}
PyObject* Prio_new(PyTypeObject* t, PyObject* a, PyObject* k) {
  return queue_new(t, a, k, kPrio);
}
PyObject* Simple_new(PyTypeObject* t, PyObject* a, PyObject* k) {
  return queue_new(t, a, k, kSimple);
}

// __init__ accepts what __new__ took (the queue is built there), so that a
// subclass may call Queue.__init__(self, maxsize).
int Queue_init(PyObject*, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"maxsize", nullptr};
  Py_ssize_t maxsize = 0;
  return PyArg_ParseTupleAndKeywords(args, kwds, "|n", const_cast<char**>(kwlist), &maxsize) ? 0
                                                                                             : -1;
}

void Queue_dealloc(PyObject* self) {
  PyTypeObject* tp = Py_TYPE(self);
  QueueObject* o = as_queue(self);
  if (o->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  if (o->q != nullptr) {
    // The items still queued are released here, with the GIL held.
    visit(o, [](auto& q) { delete &q; });
  }
  tp->tp_free(self);
  Py_DECREF(tp);
}

// ---- put / get ------------------------------------------------------------------

template <class Q>
void put_now(Q& q, PyRef&& item) {
  if constexpr (std::is_same_v<Q, Simple>) {
    q.put(std::move(item));
  } else {
    q.put(std::move(item), false);
  }
}

template <class Q>
PyObject* do_put(QueueObject* o, Q& q, PyObject* item, PyObject* block_arg, PyObject* timeout_arg) {
  constexpr bool kSimpleQ = std::is_same_v<Q, Simple>;
  constexpr bool kPrioQ = std::is_same_v<Q, Prio>;
  (void)o;
  int blocking = 1;
  Timeout t;
  if constexpr (!kSimpleQ) {
    blocking = truth(block_arg, true);
    if (blocking < 0) return nullptr;
    if (blocking != 0 && !parse_timeout(timeout_arg, TimeoutRule::queue, t)) return nullptr;
  } else {
    (void)block_arg;
    (void)timeout_arg;
  }
  PyRef ref = PyRef::borrow(item);
  try {
    if constexpr (!kPrioQ) {
      bool room = true;
      if constexpr (!kSimpleQ) room = blocking == 0 || !q.full();
      if (room) {
        try {
          put_now(q, std::move(ref));
          Py_RETURN_NONE;
        } catch (const spindle::Full&) {
          if (blocking == 0) throw;
        }
      }
    } else if (blocking == 0) {
      without_gil([&] { put_now(q, std::move(ref)); });
      Py_RETURN_NONE;
    }
    if constexpr (!kSimpleQ) {
      register_thread();
      const int r = block(t, [&](const double* s) {
        if (s == nullptr) {
          q.put(std::move(ref));
          return true;
        }
        try {
          q.put(std::move(ref), std::chrono::duration<double>(*s));
          return true;
        } catch (const spindle::Full&) {
          return false;  // the item is untouched: the next slice puts it
        }
      });
      if (r < 0) return nullptr;
      if (r == 0) {
        PyErr_SetNone(g.Full);
        return nullptr;
      }
    }
    Py_RETURN_NONE;
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

template <class Q>
PyObject* do_get(QueueObject* o, Q& q, PyObject* block_arg, PyObject* timeout_arg) {
  constexpr bool kPrioQ = std::is_same_v<Q, Prio>;
  (void)o;
  const int blocking = truth(block_arg, true);
  if (blocking < 0) return nullptr;
  Timeout t;
  if (blocking != 0 && !parse_timeout(timeout_arg, TimeoutRule::queue, t)) return nullptr;
  try {
    if constexpr (!kPrioQ) {
      if (blocking == 0 || q.qsize() != 0) {
        try {
          return q.get(false).release();
        } catch (const spindle::Empty&) {
          if (blocking == 0) throw;  // else another getter took it: wait below
        }
      }
    } else if (blocking == 0) {
      return without_gil([&] { return q.get(false); }).release();
    }
    PyRef item;
    register_thread();
    const int r = block(t, [&](const double* s) {
      if (s == nullptr) {
        item = q.get();
        return true;
      }
      try {
        item = q.get(std::chrono::duration<double>(*s));
        return true;
      } catch (const spindle::Empty&) {
        return false;
      }
    });
    if (r < 0) return nullptr;
    if (r == 0) {
      PyErr_SetNone(g.Empty);
      return nullptr;
    }
    return item.release();
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
}

PyObject* Queue_put(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[3];
  if (!bind_args("put", args, nargs, kwnames, {"item", "block", "timeout"}, a, 1)) return nullptr;
  QueueObject* o = as_queue(self);
  return visit(o, [&](auto& q) { return do_put(o, q, a[0], a[1], a[2]); });
}

PyObject* Queue_put_nowait(PyObject* self, PyObject* item) {
  QueueObject* o = as_queue(self);
  return visit(o, [&](auto& q) { return do_put(o, q, item, Py_False, nullptr); });
}

PyObject* Queue_get(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[2];
  if (!bind_args("get", args, nargs, kwnames, {"block", "timeout"}, a)) return nullptr;
  QueueObject* o = as_queue(self);
  return visit(o, [&](auto& q) { return do_get(o, q, a[0], a[1]); });
}

PyObject* Queue_get_nowait(PyObject* self, PyObject*) {
  QueueObject* o = as_queue(self);
  return visit(o, [&](auto& q) { return do_get(o, q, Py_False, nullptr); });
}

PyObject* Queue_qsize(PyObject* self, PyObject*) {
  return PyLong_FromSize_t(visit(as_queue(self), [](auto& q) { return q.qsize(); }));
}

PyObject* Queue_empty(PyObject* self, PyObject*) {
  return PyBool_FromLong(visit(as_queue(self), [](auto& q) { return q.empty(); }) ? 1 : 0);
}

// ---- Queue-only calls (not SimpleQueue) -------------------------------------------

template <class F>
decltype(auto) visit_tracked(QueueObject* o, F&& f) {
  switch (o->kind) {
    case kLifo:
      return f(*static_cast<Lifo*>(o->q));
    case kPrio:
      return f(*static_cast<Prio*>(o->q));
    case kFifo:
    case kSimple:
    default:
      return f(*static_cast<Fifo*>(o->q));
  }
}

PyObject* Queue_full(PyObject* self, PyObject*) {
  return PyBool_FromLong(visit_tracked(as_queue(self), [](auto& q) { return q.full(); }) ? 1 : 0);
}

PyObject* Queue_task_done(PyObject* self, PyObject*) {
  QueueObject* o = as_queue(self);
  try {
    if (o->kind == kPrio) {
      // The PriorityQueue rule: never take its lock with the GIL.
      without_gil([&] { static_cast<Prio*>(o->q)->task_done(); });
    } else {
      visit_tracked(o, [](auto& q) { q.task_done(); });
    }
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Queue_get_unfinished(PyObject* self, void*) {
  QueueObject* o = as_queue(self);
  std::uint64_t n = 0;
  try {
    // It takes the queue's lock (the PriorityQueue rule).
    n = without_gil([&] { return visit_tracked(o, [](auto& q) { return q.unfinished_tasks(); }); });
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  return PyLong_FromUnsignedLongLong(n);
}

PyObject* Queue_join(PyObject* self, PyObject*) {
  register_thread();
  try {
    const int r = visit_tracked(as_queue(self), [](auto& q) {
      return block(Timeout{}, [&](const double* s) {
        if (s == nullptr) {
          q.join();
          return true;
        }
        return q.join(std::chrono::duration<double>(*s));
      });
    });
    if (r < 0) return nullptr;
  }
  SPY_CATCH_ALL {
    return translate_exception();
  }
  Py_RETURN_NONE;
}

PyObject* Queue_shutdown(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  PyObject* a[1];
  if (!bind_args("shutdown", args, nargs, kwnames, {"immediate"}, a)) return nullptr;
  const int immediate = truth(a[0], false);
  if (immediate < 0) return nullptr;
  {
    DeferDrops deferred;  // drained items are released once the GIL is back
    without_gil(
        [&] { visit_tracked(as_queue(self), [&](auto& q) { q.shutdown(immediate != 0); }); });
  }
  Py_RETURN_NONE;
}

PyObject* Queue_get_maxsize(PyObject* self, void*) {
  return PyLong_FromSsize_t(visit_tracked(as_queue(self), [](auto& q) { return q.maxsize(); }));
}

PyObject* Queue_get_is_shutdown(PyObject* self, void*) {
  return PyBool_FromLong(
      visit_tracked(as_queue(self), [](auto& q) { return q.is_shutdown(); }) ? 1 : 0);
}

PyMethodDef Queue_methods[] = {
    {"put", SPY_FAST(Queue_put), METH_FASTCALL | METH_KEYWORDS,
     "put(item, block=True, timeout=None)\n\nPut an item, waiting (GIL released) while full."},
    {"put_nowait", Queue_put_nowait, METH_O, "put(item, False)"},
    {"get", SPY_FAST(Queue_get), METH_FASTCALL | METH_KEYWORDS,
     "get(block=True, timeout=None)\n\nRemove and return an item, waiting while empty."},
    {"get_nowait", Queue_get_nowait, METH_NOARGS, "get(False)"},
    {"qsize", Queue_qsize, METH_NOARGS, "The number of items (approximate)."},
    {"empty", Queue_empty, METH_NOARGS, "qsize() == 0 (approximate)."},
    {"full", Queue_full, METH_NOARGS, "0 < maxsize <= qsize() (approximate)."},
    {"task_done", Queue_task_done, METH_NOARGS, "One earlier-got item is finished."},
    {"join", Queue_join, METH_NOARGS, "Wait until every item put has had its task_done()."},
    {"shutdown", SPY_FAST(Queue_shutdown), METH_FASTCALL | METH_KEYWORDS,
     "shutdown(immediate=False)"},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef Queue_getset[] = {
    {"maxsize", Queue_get_maxsize, nullptr, "The maxsize given at construction (read-only).",
     nullptr},
    {"is_shutdown", Queue_get_is_shutdown, nullptr, "True once shutdown() was called.", nullptr},
    {"unfinished_tasks", Queue_get_unfinished, nullptr,
     "Items put and not yet task_done() (a snapshot).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef Simple_methods[] = {
    {"put", SPY_FAST(Queue_put), METH_FASTCALL | METH_KEYWORDS,
     "put(item, block=True, timeout=None)\n\nPut an item; never blocks."},
    {"put_nowait", Queue_put_nowait, METH_O, "put(item)"},
    {"get", SPY_FAST(Queue_get), METH_FASTCALL | METH_KEYWORDS, "get(block=True, timeout=None)"},
    {"get_nowait", Queue_get_nowait, METH_NOARGS, "get(False)"},
    {"qsize", Queue_qsize, METH_NOARGS, "The number of items (approximate)."},
    {"empty", Queue_empty, METH_NOARGS, "qsize() == 0 (approximate)."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyMemberDef Queue_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(QueueObject, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

// One slot table per type (tp_new differs); the rest is shared.
PyType_Slot Queue_slots[] = {SPY_SLOT(Py_tp_new, Queue_new),
                             SPY_SLOT(Py_tp_init, Queue_init),
                             SPY_SLOT(Py_tp_dealloc, Queue_dealloc),
                             SPY_SLOT(Py_tp_methods, Queue_methods),
                             SPY_SLOT(Py_tp_members, Queue_members),
                             SPY_SLOT(Py_tp_getset, Queue_getset),
                             SPY_SLOT(Py_tp_doc, "queue.Queue on spindle::Queue: FIFO."),
                             {0, nullptr}};
PyType_Slot Lifo_slots[] = {SPY_SLOT(Py_tp_new, Lifo_new),
                            SPY_SLOT(Py_tp_init, Queue_init),
                            SPY_SLOT(Py_tp_dealloc, Queue_dealloc),
                            SPY_SLOT(Py_tp_methods, Queue_methods),
                            SPY_SLOT(Py_tp_members, Queue_members),
                            SPY_SLOT(Py_tp_getset, Queue_getset),
                            SPY_SLOT(Py_tp_doc, "queue.LifoQueue on spindle::LifoQueue."),
                            {0, nullptr}};
PyType_Slot Prio_slots[] = {
    SPY_SLOT(Py_tp_new, Prio_new),
    SPY_SLOT(Py_tp_init, Queue_init),
    SPY_SLOT(Py_tp_dealloc, Queue_dealloc),
    SPY_SLOT(Py_tp_methods, Queue_methods),
    SPY_SLOT(Py_tp_members, Queue_members),
    SPY_SLOT(Py_tp_getset, Queue_getset),
    SPY_SLOT(Py_tp_doc, "queue.PriorityQueue on spindle::PriorityQueue (lowest first by <)."),
    {0, nullptr}};
PyType_Slot Simple_slots[] = {SPY_SLOT(Py_tp_new, Simple_new),
                              SPY_SLOT(Py_tp_dealloc, Queue_dealloc),
                              SPY_SLOT(Py_tp_methods, Simple_methods),
                              SPY_SLOT(Py_tp_members, Queue_members),
                              SPY_SLOT(Py_tp_doc, "queue.SimpleQueue on spindle::SimpleQueue."),
                              {0, nullptr}};

constexpr unsigned kFlags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
PyType_Spec Queue_spec = {"spindle.Queue", sizeof(QueueObject), 0, kFlags, Queue_slots};
PyType_Spec Lifo_spec = {"spindle.LifoQueue", sizeof(QueueObject), 0, kFlags, Lifo_slots};
PyType_Spec Prio_spec = {"spindle.PriorityQueue", sizeof(QueueObject), 0, kFlags, Prio_slots};
PyType_Spec Simple_spec = {"spindle.SimpleQueue", sizeof(QueueObject), 0, kFlags, Simple_slots};

}  // namespace

int add_queue_types(PyObject* module) {
  for (PyType_Spec* spec : {&Queue_spec, &Lifo_spec, &Prio_spec, &Simple_spec}) {
    if (add_type(module, spec) == nullptr) return -1;
  }
  return 0;
}

}  // namespace spindle::python
