// spindle/threading.hpp - Python's threading module: threads, Timer, local,
// and the synchronization primitives.
#pragma once

#include "spindle/barrier.hpp"
#include "spindle/condition.hpp"
#include "spindle/errors.hpp"
#include "spindle/event.hpp"
#include "spindle/local.hpp"
#include "spindle/lock.hpp"
#include "spindle/semaphore.hpp"
#include "spindle/thread.hpp"
#include "spindle/timer.hpp"
