# Peers of bench_queue: TBB's concurrent_bounded_queue, moodycamel's
# BlockingConcurrentQueue and Boost's sync_bounded_queue. Each is optional;
# a missing one is left out of the run, never a failed build.
find_package(TBB QUIET CONFIG)
if(TARGET TBB::tbb)
  target_link_libraries(bench_queue PRIVATE TBB::tbb)
  target_compile_definitions(bench_queue PRIVATE SPINDLE_BENCH_HAVE_TBB=1)
else()
  message(STATUS "spindle: bench_queue without TBB (libtbb-dev)")
endif()

find_path(SPINDLE_MOODYCAMEL_INCLUDE concurrentqueue/blockingconcurrentqueue.h)
if(SPINDLE_MOODYCAMEL_INCLUDE)
  target_include_directories(bench_queue SYSTEM PRIVATE ${SPINDLE_MOODYCAMEL_INCLUDE})
  target_compile_definitions(bench_queue PRIVATE SPINDLE_BENCH_HAVE_MOODYCAMEL=1)
else()
  message(STATUS "spindle: bench_queue without moodycamel (libconcurrentqueue-dev)")
endif()

find_package(Boost QUIET COMPONENTS thread)
if(TARGET Boost::thread)
  target_link_libraries(bench_queue PRIVATE Boost::thread)
  target_compile_definitions(bench_queue PRIVATE SPINDLE_BENCH_HAVE_BOOST=1)
else()
  message(STATUS "spindle: bench_queue without Boost.Thread (libboost-thread-dev)")
endif()
