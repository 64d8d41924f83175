"""Drop-in for the threading module: everything is threading's, except the
synchronisation primitives, which are spindle's.

    import spindle.threading as threading   # instead of: import threading
"""
import threading as _threading
from threading import *  # noqa: F401,F403
from threading import __all__ as _all

from . import (Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier,  # noqa: F401
               Timer, BrokenBarrierError, TIMEOUT_MAX)

__all__ = list(_all)


def __getattr__(name):
    return getattr(_threading, name)
