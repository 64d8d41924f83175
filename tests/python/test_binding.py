"""Tests of the Python binding itself: the GIL is released while waiting,
references are counted right whichever thread drops them, Ctrl-C
interrupts the main thread's waits, exceptions are Python's own, and the
diagnostics see Python threads.

unittest.TestCase classes, so both `python3 -m pytest tests/python` and
`python3 -m unittest discover -s tests/python` run them. No sleep is used to
order threads: a test waits for the state it needs (a thread parked, seen
through spindle.thread_states()), and every wait has a generous hang guard.
"""
import concurrent.futures
import gc
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unittest
import weakref

import spindle

GUARD = 60.0  # seconds: only a hang guard, never a synchronisation


def wait_until(pred, what):
    """Polls pred() until true; fails after GUARD seconds."""
    end = time.monotonic() + GUARD
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.001)


def blocked_on(ident, kind):
    """True once the thread `ident` is parked in a spindle wait of `kind`."""
    for t in spindle.thread_states():
        if t.ident == ident and t.state == "blocked" and t.waiting_on == kind:
            return True
    return False


class Obj:
    pass


def start(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


class GilIsReleasedWhileWaiting(unittest.TestCase):
    """A thread blocked in a spindle call must let other Python threads run:
    the main thread below runs Python code to unblock it, so a call that
    kept the GIL would hang (caught by the guard)."""

    def run_blocked(self, kind, block, unblock):
        out = []
        t = start(lambda: out.append(block()))
        wait_until(lambda: blocked_on(t.ident, kind), "a thread blocked on " + kind)
        unblock()
        t.join(GUARD)
        self.assertFalse(t.is_alive())
        return out

    def test_lock_acquire(self):
        lock = spindle.Lock()
        lock.acquire()
        self.assertEqual(self.run_blocked("Lock", lock.acquire, lock.release), [True])

    def test_rlock_acquire(self):
        lock = spindle.RLock()
        lock.acquire()
        self.assertEqual(self.run_blocked("Lock", lambda: lock.acquire(timeout=GUARD),
                                          lock.release), [True])

    def test_condition_wait(self):
        cond = spindle.Condition()

        def waiter():
            with cond:
                return cond.wait(GUARD)

        def notify():
            with cond:
                cond.notify()
        self.assertEqual(self.run_blocked("Condition", waiter, notify), [True])

    def test_semaphore_acquire(self):
        sem = spindle.Semaphore(0)
        self.assertEqual(self.run_blocked("Semaphore", sem.acquire, sem.release), [True])

    def test_event_wait(self):
        ev = spindle.Event()
        self.assertEqual(self.run_blocked("Event", ev.wait, ev.set), [True])

    def test_barrier_wait(self):
        b = spindle.Barrier(2)
        main = []
        out = self.run_blocked("Barrier", b.wait, lambda: main.append(b.wait()))
        self.assertEqual(sorted(out + main), [0, 1])

    def test_queue_get_put_join(self):
        q = spindle.Queue(1)
        self.assertEqual(self.run_blocked("Queue.get", q.get, lambda: q.put("x")), ["x"])
        q.put("full")
        self.run_blocked("Queue.put", lambda: q.put("y"), q.get)
        self.assertEqual(q.get(), "y")
        for _ in range(3):  # x, full, y
            q.task_done()
        q.put("z")
        self.run_blocked("Queue.join", q.join, lambda: (q.get(), q.task_done()))

    def test_priority_queue_get(self):
        q = spindle.PriorityQueue()
        self.assertEqual(self.run_blocked("Queue.get", q.get, lambda: q.put(3)), [3])

    def test_future_result_and_wait(self):
        f = spindle.Future()
        self.assertEqual(self.run_blocked("Future", f.result, lambda: f.set_result(7)), [7])
        g = spindle.Future()
        out = self.run_blocked("wait", lambda: spindle.wait([g]), lambda: g.set_result(1))
        self.assertEqual(out[0].done, {g})
        h = spindle.Future()
        out = self.run_blocked("Queue.get", lambda: list(spindle.as_completed([h])),
                               lambda: h.set_result(2))
        self.assertEqual(out, [[h]])

    def test_barrier_with_action_taking_the_gil(self):
        calls = []
        b = spindle.Barrier(3, action=lambda: calls.append(threading.get_ident()))
        ts = [start(b.wait) for _ in range(2)]
        wait_until(lambda: b.n_waiting == 2, "two parties waiting")
        b.wait(GUARD)
        for t in ts:
            t.join(GUARD)
        self.assertEqual(len(calls), 1)

    def test_pool_runs_python_while_main_waits(self):
        with spindle.ThreadPoolExecutor(2) as pool:
            fs = [pool.submit(sum, range(i)) for i in range(100)]
            self.assertEqual([f.result(GUARD) for f in fs], [sum(range(i)) for i in range(100)])


class ReferenceCounts(unittest.TestCase):
    def test_queue_takes_one_reference_and_gives_it_to_the_getter(self):
        for q in (spindle.Queue(), spindle.LifoQueue(), spindle.PriorityQueue(),
                  spindle.SimpleQueue()):
            o = Obj()
            before = sys.getrefcount(o)
            q.put(o)
            self.assertEqual(sys.getrefcount(o), before + 1)
            self.assertIs(q.get(), o)
            self.assertEqual(sys.getrefcount(o), before)

    def test_items_left_in_a_dropped_queue_are_released(self):
        o = Obj()
        w = weakref.ref(o)
        q = spindle.Queue()
        q.put(o)
        del o, q
        gc.collect()
        self.assertIsNone(w())

    def test_immediate_shutdown_releases_the_drained_items(self):
        class Reenters:
            def __del__(self):
                # A __del__ that uses the same queue must not deadlock on it.
                try:
                    q.put_nowait("from __del__")
                except spindle.ShutDown:
                    seen.append("shut down")
        seen = []
        q = spindle.Queue()
        q.put(Reenters())
        o = Obj()
        w = weakref.ref(o)
        q.put(o)
        del o
        q.shutdown(immediate=True)
        self.assertIsNone(w())
        self.assertEqual(seen, ["shut down"])

    def test_future_result_is_released_with_the_future(self):
        f = spindle.Future()
        o = Obj()
        w = weakref.ref(o)
        f.set_result(o)
        del o
        self.assertIsNotNone(w())
        del f
        self.assertIsNone(w())

    def test_result_dropped_by_a_worker_thread_is_released(self):
        # The caller drops the future first: the worker drops the last
        # reference to the result, without having the GIL at that point.
        gate = spindle.Event()
        refs = []

        def task():
            gate.wait(GUARD)
            o = Obj()
            refs.append(weakref.ref(o))
            return o
        with spindle.ThreadPoolExecutor(1) as pool:
            f = pool.submit(task)
            del f
            gate.set()
        wait_until(lambda: refs and refs[0]() is None, "the result to be released")

    def test_call_and_arguments_are_released_after_the_task(self):
        fn_obj, arg = Obj(), Obj()
        w_arg = weakref.ref(arg)
        with spindle.ThreadPoolExecutor(1) as pool:
            f = pool.submit(lambda a, b=None: 1, arg, b=fn_obj)
            self.assertEqual(f.result(GUARD), 1)
        del arg
        self.assertIsNone(w_arg())
        self.assertEqual(sys.getrefcount(fn_obj), 2)

    def test_done_callback_is_released_after_it_ran(self):
        f = spindle.Future()
        calls = []

        class Callback:
            def __call__(self, fut):
                calls.append(fut)
        c = Callback()
        w = weakref.ref(c)
        f.add_done_callback(c)
        del c
        self.assertIsNotNone(w())
        f.set_result(None)
        self.assertIsNone(w())
        self.assertEqual(calls, [f])  # the same Future object

    def test_thread_states_and_find_deadlocks_keep_no_reference(self):
        for _ in range(100):
            spindle.thread_states()
            spindle.find_deadlocks()
        gc.collect()
        before = sys.getallocatedblocks()
        for _ in range(10000):
            spindle.thread_states()
            spindle.find_deadlocks()
        gc.collect()
        self.assertLess(sys.getallocatedblocks() - before, 1000)

    def test_priority_queue_comparison_error_leaves_the_queue_whole(self):
        q = spindle.PriorityQueue()
        q.put(1)
        with self.assertRaises(TypeError):
            q.put("a")  # '<' between str and int
        self.assertEqual(q.qsize(), 1)
        self.assertEqual(q.get(), 1)


class CtrlC(unittest.TestCase):
    """A real SIGINT while the main thread waits raises KeyboardInterrupt
    there, as in CPython."""

    def interrupt(self, setup, call, kind):
        code = textwrap.dedent("""
            import spindle, sys, threading, time
            {setup}
            def watch():
                # Tell the parent once the main thread is parked in spindle.
                main = threading.main_thread().ident
                while not any(t.ident == main and t.state == "blocked" and
                              t.waiting_on == {kind!r} for t in spindle.thread_states()):
                    time.sleep(0.001)
                print("blocked", flush=True)
            threading.Thread(target=watch, daemon=True).start()
            try:
                {call}
            except KeyboardInterrupt:
                print("KeyboardInterrupt", flush=True)
                sys.exit(3)
            print("returned", flush=True)
        """).format(setup=setup, call=call, kind=kind)
        env = dict(os.environ)
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = p.stdout.readline()
            self.assertEqual(line.strip(), "blocked", p.stderr.read() if not line else "")
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=GUARD)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 3, err)
        self.assertIn("KeyboardInterrupt", out)

    def test_lock_acquire(self):
        self.interrupt("l = spindle.Lock(); l.acquire()", "l.acquire()", "Lock")

    def test_lock_acquire_with_timeout(self):
        self.interrupt("l = spindle.Lock(); l.acquire()", "l.acquire(timeout=600)", "Lock")

    def test_condition_wait(self):
        self.interrupt("c = spindle.Condition(); c.acquire()", "c.wait()", "Condition")

    def test_semaphore_acquire(self):
        self.interrupt("s = spindle.Semaphore(0)", "s.acquire()", "Semaphore")

    def test_event_wait(self):
        self.interrupt("e = spindle.Event()", "e.wait()", "Event")

    def test_queue_get(self):
        self.interrupt("q = spindle.Queue()", "q.get()", "Queue.get")

    def test_queue_put(self):
        self.interrupt("q = spindle.Queue(1); q.put(1)", "q.put(2)", "Queue.put")

    def test_queue_join(self):
        self.interrupt("q = spindle.Queue(); q.put(1)", "q.join()", "Queue.join")

    def test_future_result(self):
        self.interrupt("f = spindle.Future()", "f.result()", "Future")

    def test_wait(self):
        self.interrupt("f = spindle.Future()", "spindle.wait([f])", "wait")

    def test_as_completed(self):
        self.interrupt("f = spindle.Future()", "list(spindle.as_completed([f]))", "Queue.get")

    def test_pool_shutdown(self):
        self.interrupt("p = spindle.ThreadPoolExecutor(1); e = spindle.Event(); "
                       "p.submit(e.wait, 5)", "p.shutdown(wait=True)", "Condition")


class Exceptions(unittest.TestCase):
    def test_classes_are_pythons_own(self):
        self.assertIs(spindle.Empty, queue.Empty)
        self.assertIs(spindle.Full, queue.Full)
        if hasattr(queue, "ShutDown"):
            self.assertIs(spindle.ShutDown, queue.ShutDown)
        self.assertIs(spindle.BrokenBarrierError, threading.BrokenBarrierError)
        self.assertIs(spindle.CancelledError, concurrent.futures.CancelledError)
        self.assertIs(spindle.InvalidStateError, concurrent.futures.InvalidStateError)
        self.assertIs(spindle.TimeoutError, TimeoutError)

    def test_each_call_raises_pythons_exception(self):
        with self.assertRaises(queue.Empty):
            spindle.Queue().get_nowait()
        with self.assertRaises(queue.Full):
            q = spindle.Queue(1)
            q.put(1)
            q.put(2, timeout=0.001)
        with self.assertRaises(spindle.ShutDown):
            q = spindle.Queue()
            q.shutdown()
            q.put(1)
        with self.assertRaises(threading.BrokenBarrierError):
            spindle.Barrier(2).wait(0.001)
        with self.assertRaises(concurrent.futures.CancelledError):
            f = spindle.Future()
            f.cancel()
            f.result()
        with self.assertRaises(TimeoutError):
            spindle.Future().result(timeout=0.001)
        with self.assertRaisesRegex(concurrent.futures.InvalidStateError, "^FINISHED: <Future"):
            f = spindle.Future()
            f.set_result(1)
            f.set_result(2)
        with self.assertRaisesRegex(RuntimeError, "release unlocked lock"):
            spindle.Lock().release()
        with self.assertRaisesRegex(ValueError, "Semaphore released too many times"):
            spindle.BoundedSemaphore(1).release()
        with self.assertRaises(ValueError):
            spindle.Lock().acquire(timeout=-5)
        with self.assertRaises(OverflowError):
            spindle.Lock().acquire(timeout=1e100)

    def test_task_exception_is_the_same_object(self):
        err = KeyError("k")

        def fail():
            raise err
        with spindle.ThreadPoolExecutor(1) as pool:
            f = pool.submit(fail)
            self.assertIs(f.exception(GUARD), err)
            with self.assertRaises(KeyError) as cm:
                f.result()
            self.assertIs(cm.exception, err)

    def test_barrier_action_exception_reaches_its_thread(self):
        def action():
            raise LookupError("from the action")
        b = spindle.Barrier(1, action=action)
        with self.assertRaises(LookupError):
            b.wait()
        self.assertTrue(b.broken)

    def test_failing_initializer_breaks_the_pool(self):
        def init():
            raise ValueError("no")
        pool = spindle.ThreadPoolExecutor(1, initializer=init)
        f = pool.submit(int)
        with self.assertRaises(spindle.BrokenThreadPool):
            f.result(GUARD)
        with self.assertRaises(spindle.BrokenThreadPool):
            pool.submit(int)
        pool.shutdown()

    def test_unretrieved_exception_goes_to_the_hook(self):
        seen = []
        previous = spindle.set_unretrieved_exception_hook(seen.append)
        try:
            err = ArithmeticError("nobody looked")
            f = spindle.Future()
            f.set_exception(err)
            del f
            self.assertEqual(seen, [err])
            g = spindle.Future()
            g.set_exception(ArithmeticError("looked at"))
            g.exception()
            del g
            self.assertEqual(len(seen), 1)
        finally:
            spindle.set_unretrieved_exception_hook(previous)


class TasksThatWaitOnTasks(unittest.TestCase):
    def test_untimed_result_on_a_queued_task_of_the_pool_runs_it_on_the_worker(self):
        # Python's 1-worker pool deadlocks here; spindle's worker runs the
        # queued task itself (with the GIL, like any task).
        pool = spindle.ThreadPoolExecutor(1, thread_name_prefix="solo")

        def fib(n):
            if n < 2:
                return n
            left = pool.submit(fib, n - 1)
            return fib(n - 2) + left.result()

        try:
            self.assertEqual(pool.submit(fib, 12).result(GUARD), 144)
            name = pool.submit(lambda: pool.submit(
                lambda: threading.current_thread().name).result()).result(GUARD)
            self.assertTrue(name.startswith("solo"), name)
        finally:
            pool.shutdown()

    def test_timed_result_on_a_task_queued_behind_it_times_out_as_in_python(self):
        pool = spindle.ThreadPoolExecutor(1)

        def outer():
            inner = pool.submit(int, 7)
            try:
                inner.result(0.05)
            except TimeoutError:
                return "timed out", inner
            return "ran", inner

        try:
            what, inner = pool.submit(outer).result(GUARD)
            self.assertEqual(what, "timed out")
            self.assertEqual(inner.result(GUARD), 7)
        finally:
            pool.shutdown()


class Diagnostics(unittest.TestCase):
    def test_python_thread_shows_under_its_name_with_what_it_waits_on(self):
        q = spindle.Queue()
        t = threading.Thread(target=q.get, name="consumer-7", daemon=True)
        t.start()
        wait_until(lambda: blocked_on(t.ident, "Queue.get"), "the consumer to block")
        (me,) = [s for s in spindle.thread_states() if s.ident == t.ident]
        self.assertEqual(me.name, "consumer-7")
        self.assertGreaterEqual(me.waiting_for, 0.0)
        self.assertIn('"consumer-7"', spindle.dump_threads())
        self.assertIn("Queue.get", spindle.dump_threads())
        q.put(None)
        t.join(GUARD)

    def test_pool_workers_carry_the_pool_name(self):
        with spindle.ThreadPoolExecutor(1, thread_name_prefix="io") as pool:
            name = pool.submit(lambda: threading.current_thread().name).result(GUARD)
            self.assertEqual(name, "io_0")
            self.assertIn('"io_0"', spindle.dump_threads())

    def test_two_threads_taking_two_locks_in_opposite_orders_get_deadlock_error(self):
        # Each thread holds one lock and then takes the other's: the second
        # to block would close the cycle and raises instead of hanging.
        first, second = spindle.Lock(), spindle.Lock()
        both_hold = threading.Barrier(2, timeout=GUARD)
        errors = []

        def take(mine, theirs):
            with mine:
                both_hold.wait()
                try:
                    with theirs:
                        pass
                except spindle.DeadlockError as e:
                    errors.append(e)

        threads = [threading.Thread(target=take, args=(first, second), name="left"),
                   threading.Thread(target=take, args=(second, first), name="right")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GUARD)
            self.assertFalse(t.is_alive())
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], RuntimeError)
        self.assertIn('"left"', str(errors[0]))
        self.assertIn('"right"', str(errors[0]))
        self.assertEqual(spindle.find_deadlocks(), [])


class Interpreter(unittest.TestCase):
    def run_script(self, code):
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=GUARD)

    def test_exit_waits_for_queued_work_of_a_pool_never_shut_down(self):
        r = self.run_script("""
            import spindle, time
            p = spindle.ThreadPoolExecutor(2)
            p.submit(lambda: (time.sleep(0.2), print("apple", flush=True)))
        """)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "apple")
        self.assertEqual(r.stderr, "")

    def test_submit_after_interpreter_shutdown_raises(self):
        r = self.run_script("""
            import atexit, spindle
            @atexit.register
            def late():
                try:
                    p.submit(id, None)
                except RuntimeError as e:
                    print(e)
            p = spindle.ThreadPoolExecutor(1)
        """)
        self.assertIn("cannot schedule new futures after interpreter shutdown", r.stdout)

    def test_daemon_threads_waking_during_finalization_do_not_crash_the_exit(self):
        # Their waits end while the interpreter finalizes: CPython 3.11-3.13
        # would pthread_exit() them inside the module's C++ frames.
        for _ in range(5):
            r = self.run_script("""
                import spindle, threading
                q = spindle.Queue()
                def loop():
                    while True:
                        try:
                            q.get(timeout=0.0005)
                        except spindle.Empty:
                            pass
                for _ in range(4):
                    threading.Thread(target=loop, daemon=True).start()
                print("bye")
            """)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "bye")

    def test_drop_in_modules(self):
        import spindle.threading as sthreading
        import spindle.queue as squeue
        from spindle import futures as sfutures
        self.assertIs(sthreading.Lock, spindle.Lock)
        self.assertIs(sthreading.Thread, threading.Thread)
        self.assertIs(squeue.Queue, spindle.Queue)
        self.assertIs(squeue.Empty, queue.Empty)
        self.assertIs(sfutures.ThreadPoolExecutor, spindle.ThreadPoolExecutor)
        self.assertTrue(issubclass(spindle.ThreadPoolExecutor, concurrent.futures.Executor))

    def test_condition_over_a_foreign_lock(self):
        lock = threading.Lock()
        cond = spindle.Condition(lock)
        self.assertIsInstance(cond, spindle.Condition)
        ready = []
        got = []

        def waiter():
            with cond:
                got.append(cond.wait_for(lambda: list(ready), GUARD))
        t = start(waiter)
        wait_until(lambda: blocked_on(t.ident, "Lock"), "the waiter to block")
        with cond:
            ready.append("go")
            cond.notify()
        t.join(GUARD)
        self.assertEqual(got, [["go"]])


if __name__ == "__main__":
    unittest.main()
