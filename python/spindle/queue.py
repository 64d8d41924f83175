"""Drop-in for the queue module: spindle's queues, Python's exceptions.

    import spindle.queue as queue           # instead of: import queue
"""
from queue import Empty, Full  # noqa: F401

from . import Queue, LifoQueue, PriorityQueue, SimpleQueue, ShutDown  # noqa: F401

__all__ = ["Empty", "Full", "ShutDown", "Queue", "PriorityQueue", "LifoQueue", "SimpleQueue"]
