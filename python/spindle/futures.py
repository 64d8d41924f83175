"""Drop-in for concurrent.futures (threads): spindle's Future, pool, wait()
and as_completed(), Python's exceptions and constants.

    from spindle import futures              # instead of: from concurrent import futures
    from spindle.futures import ThreadPoolExecutor
"""
import concurrent.futures as _cf
from concurrent.futures import (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED,  # noqa: F401
                                CancelledError, TimeoutError, InvalidStateError,
                                BrokenExecutor, Executor, ProcessPoolExecutor)

from . import Future, ThreadPoolExecutor, wait, as_completed  # noqa: F401

__all__ = ["FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED", "CancelledError",
           "TimeoutError", "InvalidStateError", "BrokenExecutor", "Future", "Executor",
           "wait", "as_completed", "ProcessPoolExecutor", "ThreadPoolExecutor"]


def __getattr__(name):
    return getattr(_cf, name)
