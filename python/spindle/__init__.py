"""spindle for Python: threading's primitives, queue's queues and
concurrent.futures' thread pool, implemented by spindle's C++ library.

Names, signatures and exceptions are CPython 3.13's (the exception classes
are Python's own: queue.Empty, threading.BrokenBarrierError,
concurrent.futures.CancelledError, ...). Blocking calls release the GIL;
in the main thread Ctrl-C interrupts them as it does in CPython.

Beyond Python: dump_threads() and thread_states() tell what each thread
waits on; a future whose exception nobody retrieved is reported
(set_unretrieved_exception_hook); a blocking call without a timeout that
would close a wait-for cycle of threads (each waiting on a spindle lock held
by the next, outside the main thread) raises DeadlockError, a RuntimeError,
and find_deadlocks() lists the cycles present now.

Drop-in modules: ``import spindle.threading as threading``,
``import spindle.queue as queue``, ``from spindle import futures``.
See docs/design/python.md for what differs from CPython and why.
"""
import collections as _collections
import logging as _logging
import sys as _sys
import threading as _threading
import traceback as _traceback
from concurrent import futures as _cf
from queue import Empty, Full
from threading import BrokenBarrierError, TIMEOUT_MAX
from concurrent.futures import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION,
                                BrokenExecutor, CancelledError, InvalidStateError,
                                TimeoutError)
from concurrent.futures.thread import BrokenThreadPool

from . import _spindle
from ._spindle import (Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier,
                       Queue, LifoQueue, PriorityQueue, SimpleQueue, ShutDown, Future,
                       wait, as_completed, dump_threads, find_deadlocks, DeadlockError)

__all__ = [
    "Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event", "Barrier",
    "Timer", "TIMEOUT_MAX", "BrokenBarrierError",
    "Queue", "LifoQueue", "PriorityQueue", "SimpleQueue", "Empty", "Full", "ShutDown",
    "Future", "ThreadPoolExecutor", "Executor", "wait", "as_completed",
    "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED",
    "CancelledError", "TimeoutError", "InvalidStateError", "BrokenExecutor",
    "BrokenThreadPool",
    "dump_threads", "thread_states", "find_deadlocks", "DeadlockError", "ThreadState", "set_unretrieved_exception_hook",
]

Executor = _cf.Executor
_LOGGER = _logging.getLogger("concurrent.futures")


class Timer(_threading.Thread):
    """threading.Timer, waiting on a spindle Event: CPython's own class (a
    Python thread, so current_thread(), join() and daemon behave as there)."""

    def __init__(self, interval, function, args=None, kwargs=None):
        _threading.Thread.__init__(self)
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.finished = Event()

    def cancel(self):
        """Stop the timer if it hasn't finished yet."""
        self.finished.set()

    def run(self):
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()


def _result_or_cancel(fut, timeout=None):
    try:
        try:
            return fut.result(timeout)
        finally:
            fut.cancel()
    finally:
        del fut


class ThreadPoolExecutor(_spindle._ThreadPoolExecutor, _cf.Executor):
    """concurrent.futures.ThreadPoolExecutor on spindle::ThreadPoolExecutor.

    ThreadPoolExecutor(max_workers=None, thread_name_prefix='',
    initializer=None, initargs=()). Workers are spindle threads named
    "<prefix>_<n>" (threading.current_thread().name in a task says so);
    submit() and the workers' dispatch are C++, a task takes the GIL only to
    run. At interpreter exit every pool finishes its queued work and its
    workers are joined, as in CPython.
    """

    submit = _spindle._ThreadPoolExecutor.submit
    shutdown = _spindle._ThreadPoolExecutor.shutdown

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """As Executor.map: every call is submitted at once; results come in
        input order, lazily; `timeout` counts from this call."""
        if timeout is not None:
            end_time = timeout + _monotonic()
        fs = [self.submit(fn, *args) for args in zip(*iterables)]

        def result_iterator():
            try:
                fs.reverse()
                while fs:
                    if timeout is None:
                        yield _result_or_cancel(fs.pop())
                    else:
                        yield _result_or_cancel(fs.pop(), end_time - _monotonic())
            finally:
                for future in fs:
                    future.cancel()
        return result_iterator()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.shutdown(wait=True)
        return False


from time import monotonic as _monotonic  # noqa: E402


# ---- diagnostics -------------------------------------------------------------

ThreadState = _collections.namedtuple(
    "ThreadState", "name ident native_id daemon state waiting_on waiting_address waiting_for")
ThreadState.__doc__ = """One thread as spindle sees it.

state: 'new', 'ready', 'running', 'blocked' or 'terminated'; while blocked,
waiting_on names the kind of object ('Lock', 'Queue.get', 'Future', ...),
waiting_address its address and waiting_for the seconds waited so far
(all None otherwise)."""


def thread_states():
    """Every thread spindle knows, with what it waits on: the main thread,
    the pools' workers, and each Python thread that has waited in a spindle
    call (registered under its threading name at its first wait)."""
    return [ThreadState(*t) for t in _spindle._thread_states()]


def _default_unretrieved(exc):
    print("Future exception was never retrieved", file=_sys.stderr)
    _traceback.print_exception(type(exc), exc, exc.__traceback__, file=_sys.stderr)


_unretrieved_hook = _default_unretrieved


def _call_unretrieved(exc):
    _unretrieved_hook(exc)


def set_unretrieved_exception_hook(hook):
    """hook(exc) is called when a Future that failed is dropped without
    anyone having called result() or exception() on it (Python loses these).
    None restores the default, which prints the traceback on stderr.
    Returns the previous hook."""
    global _unretrieved_hook
    previous = _unretrieved_hook
    _unretrieved_hook = _default_unretrieved if hook is None else hook
    return previous


def _report_callback_exception(future, exc):
    _LOGGER.error("exception calling callback for %r", future, exc_info=exc)


def _report_initializer_exception(exc):
    _LOGGER.critical("Exception in initializer:", exc_info=exc)


def _worker_started(name):
    # The worker's threading object (a _DummyThread) carries the pool's name.
    _threading.current_thread().name = name


def _worker_exiting():
    # Python 3.11 never forgets a foreign thread's _DummyThread; 3.13 does.
    me = _threading._active.get(_threading.get_ident())
    if isinstance(me, _threading._DummyThread):
        _threading._active.pop(_threading.get_ident(), None)


from ._foreign import _ForeignLockCondition  # noqa: E402

_spindle._configure(
    report_callback_exception=_report_callback_exception,
    report_initializer_exception=_report_initializer_exception,
    unretrieved_hook=_call_unretrieved,
    foreign_condition_type=_ForeignLockCondition,
    worker_started=_worker_started,
    worker_exiting=_worker_exiting,
)
_threading._register_atexit(_spindle._atexit)
try:
    import os as _os
    _os.register_at_fork(after_in_child=_spindle._after_fork)
except (ImportError, AttributeError):  # pragma: no cover
    pass

if getattr(_sys, "_is_gil_enabled", lambda: True)() is False:  # pragma: no cover
    import warnings as _warnings
    _warnings.warn("spindle is built for the GIL build of CPython; on a free-threaded "
                   "interpreter it runs with the GIL enabled (docs/design/python.md)",
                   RuntimeWarning, stacklevel=2)
