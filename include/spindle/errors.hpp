// spindle/errors.hpp - the exception types of spindle.
//
// Python raises, spindle throws. Each Python exception that the threading,
// queue and concurrent.futures modules raise has a C++ type here, placed under
// the nearest standard exception so that generic `catch (const std::exception&)`
// handlers keep working:
//
//   Python                       spindle                      derives from
//   RuntimeError                 RuntimeError                 std::runtime_error
//   ValueError                   ValueError                   std::invalid_argument
//   OverflowError                OverflowError                ValueError (C05)
//   threading.BrokenBarrierError BrokenBarrierError           RuntimeError
//   TimeoutError                 TimeoutError                 std::runtime_error
//   queue.Empty / Full           Empty / Full                 std::runtime_error
//   queue.ShutDown               ShutDown                     std::runtime_error
//   futures.CancelledError       CancelledError               std::runtime_error
//   futures.InvalidStateError    InvalidStateError            std::logic_error
//   futures.BrokenExecutor       BrokenExecutor               RuntimeError
//   thread.BrokenThreadPool      BrokenThreadPool             BrokenExecutor
//
// Messages follow Python's text where docs/contracts.md gives it.
#pragma once

#include <stdexcept>
#include <string>

namespace spindle {

/// Python's RuntimeError: a call made in a state that does not allow it
/// (releasing an unlocked lock, starting a thread twice, ...).
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Python's ValueError: an argument out of its domain (a negative timeout,
/// a negative semaphore value, ...).
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Python's OverflowError for timeouts above TIMEOUT_MAX (C05). It is a
/// ValueError so that one handler catches every bad timeout.
class OverflowError : public ValueError {
 public:
  using ValueError::ValueError;
};

/// threading.BrokenBarrierError: the barrier was broken, reset or aborted,
/// or a wait on it timed out (C41, C42, C44).
class BrokenBarrierError : public RuntimeError {
 public:
  BrokenBarrierError() : RuntimeError("barrier is broken") {}
  using RuntimeError::RuntimeError;
};

/// TimeoutError: a result was not ready in time (futures, as_completed, map).
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// queue.Empty: a non-blocking or timed get found no item (C72).
class Empty : public std::runtime_error {
 public:
  Empty() : std::runtime_error("queue is empty") {}
  using std::runtime_error::runtime_error;
};

/// queue.Full: a non-blocking or timed put found no room (C73).
class Full : public std::runtime_error {
 public:
  Full() : std::runtime_error("queue is full") {}
  using std::runtime_error::runtime_error;
};

/// queue.ShutDown: the queue was shut down (C76-C78).
class ShutDown : public std::runtime_error {
 public:
  ShutDown() : std::runtime_error("queue is shut down") {}
  using std::runtime_error::runtime_error;
};

/// concurrent.futures.CancelledError: the future was cancelled (C95).
class CancelledError : public std::runtime_error {
 public:
  CancelledError() : std::runtime_error("future was cancelled") {}
  using std::runtime_error::runtime_error;
};

/// concurrent.futures.InvalidStateError: set_result/set_exception on a future
/// that is already finished or cancelled (C97).
class InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// concurrent.futures.BrokenExecutor: the executor can no longer run work.
class BrokenExecutor : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// concurrent.futures.thread.BrokenThreadPool: a worker's initializer threw (C94).
class BrokenThreadPool : public BrokenExecutor {
 public:
  using BrokenExecutor::BrokenExecutor;
};

}  // namespace spindle
