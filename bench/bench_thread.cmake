# Peers for bench_thread: boost::thread when libboost-thread-dev is installed.
find_package(Boost QUIET COMPONENTS thread)
if(Boost_THREAD_FOUND)
  target_link_libraries(bench_thread PRIVATE Boost::thread)
  target_compile_definitions(bench_thread PRIVATE SPINDLE_BENCH_HAVE_BOOST_THREAD=1)
else()
  message(STATUS "spindle: boost::thread not found; bench_thread runs without it")
endif()
