// spindle/futures.hpp - Python's concurrent.futures for threads.
//
//     spindle::ThreadPoolExecutor pool(4);    // or {.max_workers = 4, .thread_name_prefix = "io"}
//     spindle::Future<int> f = pool.submit(square, 7);   // R deduced from square(int)
//     int v = f.result();                                // blocks; rethrows square's exception
//     for (auto& r : pool.map(square, std::vector{1, 2, 3})) use(r);   // input order, lazily
//     auto [done, not_done] = spindle::wait(futures, 5s, spindle::FIRST_COMPLETED);
//     for (auto& g : spindle::as_completed(futures)) use(g.result());
//
// Future<T> is a shared handle (copying it shares the same future, like a
// Python reference) to a reference-counted state with Python's states:
// pending, running, cancelled, finished. Future<void> and move-only T work;
// result() returns a T& into the shared state, valid while any handle to
// the future lives. FutureBase is the untyped part of every Future<T>, so
// futures of different result types can be waited on together:
//
//     std::vector<spindle::FutureBase> fs{f_int, f_string};
//     spindle::wait(fs);
//
// Timeouts. Every timed call takes any std::chrono::duration. As in Python,
// a negative timeout acts as zero (poll once); a timeout above TIMEOUT_MAX
// throws OverflowError. Waits go through the park layer and show as
// "Future" (or "wait"/"as_completed") in thread diagnostics.
//
// Memory ordering. Everything the task (or the thread calling set_result /
// set_exception / cancel) wrote before completing the future is visible to
// any thread that then sees it done: result(), exception(), done() returning
// true, wait(), as_completed() and done-callbacks all synchronise with the
// completion.
//
// Exceptions are never lost (beyond Python, cpython#120508). A future that
// finished with an exception and whose last handle goes away without anyone
// having called result() or exception() on it is passed to the unretrieved
// exception hook (set_unretrieved_exception_hook; the default prints
// "Future exception was never retrieved" and the message to stderr).
//
// Tasks that wait on tasks. A task that waits on another future waits, as
// in Python, with one addition: a ThreadPoolExecutor worker that waits
// without a timeout for a task of its own pool that no thread has started
// runs that task itself (see ThreadPoolExecutor), so a recursive fan-out
// completes on any number of workers where Python deadlocks. A timed wait
// only waits: a task of a 1-worker pool that waits with a timeout on a task
// queued behind it gets TimeoutError, as in Python. Blocked waits show as
// "Future" in the thread dump.
//
// Callback exceptions. An exception thrown by a done-callback goes to the
// callback exception hook (set_callback_exception_hook; the default prints
// "exception calling callback for <Future at 0x... state=...>" and the
// exception, as Python's concurrent.futures logger does); later callbacks
// still run (C98).
//
// What is not promised: with two or more workers, the order in which pending
// tasks start (tasks submitted from other threads are taken first in, first
// out; a task's own submits go to its worker's queue); which worker runs a
// task; the order in which threads blocked on the same future wake. A
// 1-worker pool starts tasks in submission order.
#pragma once

#include "spindle/executor.hpp"     // Executor, map(), Task (for executor writers)
#include "spindle/future.hpp"       // Future, wait(), as_completed()
#include "spindle/thread_pool.hpp"  // ThreadPoolExecutor
