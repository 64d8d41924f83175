# Peers of bench_futures: Asio's thread_pool (header-only, libasio-dev) and
# oneTBB's task_group (libtbb-dev). Each is optional; a missing one is left
# out of the run, never a failed build. std::async and the naive pool are
# always there.
find_package(TBB QUIET CONFIG)
if(TARGET TBB::tbb)
  target_link_libraries(bench_futures PRIVATE TBB::tbb)
  target_compile_definitions(bench_futures PRIVATE SPINDLE_BENCH_HAVE_TBB=1)
else()
  message(STATUS "spindle: bench_futures without TBB (libtbb-dev)")
endif()

find_path(SPINDLE_ASIO_INCLUDE asio/thread_pool.hpp)
if(SPINDLE_ASIO_INCLUDE)
  target_include_directories(bench_futures SYSTEM PRIVATE ${SPINDLE_ASIO_INCLUDE})
  target_compile_definitions(bench_futures PRIVATE SPINDLE_BENCH_HAVE_ASIO=1 ASIO_STANDALONE=1)
else()
  message(STATUS "spindle: bench_futures without Asio (libasio-dev)")
endif()
