"""Condition over a lock spindle does not know (threading.Lock, a user's
lock class): CPython's own algorithm, with spindle Locks as the waiters'
locks, so the waits still release the GIL and show in dump_threads()."""
from collections import deque as _deque
from itertools import islice as _islice
from time import monotonic as _time

from . import _spindle


class _ForeignLockCondition(_spindle.Condition):
    def __init__(self, lock=None):
        self._flock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        try:
            self._release_save = lock._release_save
        except AttributeError:
            pass
        try:
            self._acquire_restore = lock._acquire_restore
        except AttributeError:
            pass
        try:
            self._is_owned = lock._is_owned
        except AttributeError:
            pass
        self._waiters = _deque()

    @property
    def _lock(self):
        return self._flock

    def __enter__(self):
        return self._flock.__enter__()

    def __exit__(self, *args):
        return self._flock.__exit__(*args)

    def __repr__(self):
        return "<Condition(%s, %d)>" % (self._flock, len(self._waiters))

    def _release_save(self):
        self._flock.release()

    def _acquire_restore(self, x):
        self._flock.acquire()

    def _is_owned(self):
        if self._flock.acquire(False):
            self._flock.release()
            return False
        return True

    def wait(self, timeout=None):
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        waiter = _spindle.Lock()
        waiter.acquire()
        self._waiters.append(waiter)
        saved_state = self._release_save()
        gotit = False
        try:
            if timeout is None:
                waiter.acquire()
                gotit = True
            else:
                if timeout > 0:
                    gotit = waiter.acquire(True, timeout)
                else:
                    gotit = waiter.acquire(False)
            return gotit
        finally:
            self._acquire_restore(saved_state)
            if not gotit:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    def wait_for(self, predicate, timeout=None):
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _time() + waittime
                else:
                    waittime = endtime - _time()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n=1):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        waiters = self._waiters
        while waiters and n > 0:
            waiter = waiters[0]
            try:
                waiter.release()
            except RuntimeError:
                pass
            else:
                n -= 1
            try:
                waiters.remove(waiter)
            except ValueError:
                pass

    def notify_all(self):
        self.notify(len(self._waiters))
