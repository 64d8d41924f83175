"""Runs CPython's own test suites against the spindle module.

    PYTHONPATH=build/release/python python3.13 tests/python/run_cpython_suites.py [-v] [PATTERN...]

The suites come from the running interpreter's Lib/test (CPython 3.13's):
  * test.lock_tests: the Lock, RLock, Condition (also as an RLock),
    Semaphore, BoundedSemaphore, Event and Barrier test classes, subclassed
    with spindle's types exactly as test_threading subclasses them;
  * test.test_queue: the Queue, LifoQueue, PriorityQueue and SimpleQueue
    test classes with spindle.queue as the module under test;
  * test.test_concurrent_futures: the thread-pool classes of test_thread_pool,
    test_wait, test_as_completed, test_shutdown, test_init and test_future,
    with concurrent.futures' ThreadPoolExecutor, Future, wait and
    as_completed replaced by spindle's (also in the child interpreters the
    shutdown tests start).

Tests that look at CPython internals are skipped, each with its reason
(SKIPS); tests that check a behaviour spindle changes on purpose are skipped
naming the departure (docs/design.md). Everything else must pass. The last
line is "N passed, N failed, N skipped".
"""
import os
import sys
import unittest

import spindle
import spindle.queue

TESTS = os.path.dirname(os.path.abspath(__file__))
SPINDLE_PATH = os.path.dirname(os.path.dirname(os.path.abspath(spindle.__file__)))

INTERNAL = "CPython internal: "
DEPARTURE = "documented departure (docs/design.md): "

# "Class.test" -> reason. Class names are the ones defined below.
SKIPS = {
    # lock_tests
    "LockTests.test_at_fork_reinit": INTERNAL + "private _at_fork_reinit()",
    "RLockTests.test_at_fork_reinit": INTERNAL + "private _at_fork_reinit()",
    "EventTests.test_at_fork_reinit": INTERNAL + "private Event._cond and _at_fork_reinit()",
    "ConditionAsRLockTests.test_recursion_count":
        INTERNAL + "Condition has no _recursion_count() (test_threading skips it too)",
    # test_queue
    "QueueTest.test_shrinking_queue": DEPARTURE + "Queue.maxsize is fixed at construction",
    "LifoQueueTest.test_shrinking_queue": DEPARTURE + "Queue.maxsize is fixed at construction",
    "PriorityQueueTest.test_shrinking_queue":
        DEPARTURE + "Queue.maxsize is fixed at construction",
    "FailingQueueTest.test_failing_queue":
        INTERNAL + "overrides the private _put/_get hooks (spindle's storage is C++)",
    # test_concurrent_futures
    "ThreadPoolExecutorTest.test_hang_global_shutdown_lock":
        "tests ProcessPoolExecutor's private _global_shutdown_lock (needs the 'cpu' resource)",
    "ThreadPoolWaitTests.test_first_completed":
        DEPARTURE + "a cancelled future counts as done for wait() at once",
    "ThreadPoolWaitTests.test_first_exception_some_already_complete":
        DEPARTURE + "a cancelled future counts as done for wait() at once",
    "FutureTests.test_exception_with_success":
        INTERNAL + "writes the private Future._condition/_state/_exception",
}


def make_future(state="PENDING", exception=None, result=None):
    """util.create_future through the public API (it writes _state)."""
    f = spindle.Future()
    if state == "RUNNING":
        f.set_running_or_notify_cancel()
    elif state == "CANCELLED":
        f.cancel()
    elif state == "CANCELLED_AND_NOTIFIED":
        f.cancel()
        f.set_running_or_notify_cancel()
    elif state == "FINISHED":
        if exception is not None:
            f.set_exception(exception)
        else:
            f.set_result(result)
    return f


def patch_concurrent_futures():
    import concurrent.futures as cf
    cf.ThreadPoolExecutor = spindle.ThreadPoolExecutor
    cf.Future = spindle.Future
    cf.wait = spindle.wait
    cf.as_completed = spindle.as_completed


PRELUDE = ("import sys; sys.path.insert(0, %r); import spindle, concurrent.futures as _cf; "
           "_cf.ThreadPoolExecutor = spindle.ThreadPoolExecutor\n" % SPINDLE_PATH)


def lock_suites():
    from test import lock_tests

    class LockTests(lock_tests.LockTests):
        locktype = staticmethod(spindle.Lock)

    class RLockTests(lock_tests.RLockTests):
        locktype = staticmethod(spindle.RLock)

    class EventTests(lock_tests.EventTests):
        eventtype = staticmethod(spindle.Event)

    class ConditionAsRLockTests(lock_tests.RLockTests):
        locktype = staticmethod(spindle.Condition)

    class ConditionTests(lock_tests.ConditionTests):
        condtype = staticmethod(spindle.Condition)

    class SemaphoreTests(lock_tests.SemaphoreTests):
        semtype = staticmethod(spindle.Semaphore)

    class BoundedSemaphoreTests(lock_tests.BoundedSemaphoreTests):
        semtype = staticmethod(spindle.BoundedSemaphore)

    class BarrierTests(lock_tests.BarrierTests):
        barriertype = staticmethod(spindle.Barrier)

    return [LockTests, RLockTests, EventTests, ConditionAsRLockTests, ConditionTests,
            SemaphoreTests, BoundedSemaphoreTests, BarrierTests]


def queue_suites():
    from test import test_queue

    class QueueTest(test_queue.QueueTest, unittest.TestCase):
        queue = spindle.queue

    class LifoQueueTest(test_queue.LifoQueueTest, unittest.TestCase):
        queue = spindle.queue

    class PriorityQueueTest(test_queue.PriorityQueueTest, unittest.TestCase):
        queue = spindle.queue

    class FailingQueueTest(test_queue.FailingQueueTest, unittest.TestCase):
        queue = spindle.queue

    class SimpleQueueTest(test_queue.CSimpleQueueTest):
        queue = spindle.queue

    return [QueueTest, LifoQueueTest, PriorityQueueTest, FailingQueueTest, SimpleQueueTest]


def futures_suites():
    patch_concurrent_futures()
    from test.test_concurrent_futures import util
    util.create_future = make_future
    util.PENDING_FUTURE = make_future("PENDING")
    util.RUNNING_FUTURE = make_future("RUNNING")
    util.CANCELLED_FUTURE = make_future("CANCELLED")
    util.CANCELLED_AND_NOTIFIED_FUTURE = make_future("CANCELLED_AND_NOTIFIED")
    util.EXCEPTION_FUTURE = make_future("FINISHED", exception=OSError())
    util.SUCCESSFUL_FUTURE = make_future("FINISHED", result=42)
    from test.test_concurrent_futures import (test_as_completed, test_future, test_init,
                                              test_shutdown, test_thread_pool, test_wait)
    test_future.Future = spindle.Future
    test_as_completed.Future = spindle.Future

    real_assert_python_ok = test_shutdown.assert_python_ok

    def assert_python_ok(*args, **env):
        args = list(args)
        if len(args) >= 2 and args[0] == "-c":
            args[1] = PRELUDE + args[1]
        return real_assert_python_ok(*args, **env)
    test_shutdown.assert_python_ok = assert_python_ok

    def renamed(cls, name):
        return type(name, (cls,), {"__module__": __name__})

    return [
        renamed(test_thread_pool.ThreadPoolExecutorTest, "ThreadPoolExecutorTest"),
        renamed(test_wait.ThreadPoolWaitTests, "ThreadPoolWaitTests"),
        renamed(test_as_completed.ThreadPoolAsCompletedTest, "ThreadPoolAsCompletedTest"),
        renamed(test_shutdown.ThreadPoolShutdownTest, "ThreadPoolShutdownTest"),
        renamed(test_init.ThreadPoolInitializerTest, "ThreadPoolInitializerTest"),
        renamed(test_init.ThreadPoolFailingInitializerTest, "ThreadPoolFailingInitializerTest"),
        renamed(test_future.FutureTests, "FutureTests"),
    ]


def apply_skips(classes):
    for cls in classes:
        cls.__qualname__ = cls.__name__
        for name in dir(cls):
            reason = SKIPS.get("%s.%s" % (cls.__name__, name))
            if reason is not None and name.startswith("test"):
                setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))


def main():
    verbose = "-v" in sys.argv
    patterns = [a for a in sys.argv[1:] if a != "-v"]
    classes = lock_suites() + queue_suites() + futures_suites()
    apply_skips(classes)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for cls in classes:
        for test in loader.loadTestsFromTestCase(cls):
            name = "%s.%s" % (cls.__name__, test._testMethodName)
            if not patterns or any(p in name for p in patterns):
                suite.addTest(test)
    result = unittest.TextTestRunner(verbosity=2 if verbose else 1).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("\nspindle against CPython %s's suites: %d run" % (sys.version.split()[0],
                                                          result.testsRun))
    for test, reason in result.skipped:
        print("  skipped %s: %s" % (test.id().split(".", 1)[-1], reason))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
