// spindle/spindle.hpp - everything: Python's threading, queue and
// concurrent.futures modules (ThreadPoolExecutor and ProcessPoolExecutor) in
// one include.
#pragma once

#include "spindle/futures.hpp"
#include "spindle/process.hpp"
#include "spindle/queue.hpp"
#include "spindle/threading.hpp"
