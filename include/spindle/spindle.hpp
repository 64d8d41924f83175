// spindle/spindle.hpp - everything: Python's threading, queue and
// concurrent.futures modules (ThreadPoolExecutor and ProcessPoolExecutor) in
// one include, and the deadlock diagnostics.
#pragma once

#include "spindle/deadlock.hpp"
#include "spindle/futures.hpp"
#include "spindle/process.hpp"
#include "spindle/queue.hpp"
#include "spindle/threading.hpp"
