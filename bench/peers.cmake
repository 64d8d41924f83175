# The peer libraries the benchmarks compare spindle with, found once, each as
# an interface target spindle_peer_<name> that carries its includes and
# libraries plus the definition SPINDLE_BENCH_HAVE_<NAME>=1. A peer that is
# not installed simply has no target: benchmarks leave it out, the build never
# fails. Included by bench/CMakeLists.txt and by bench/report standalone.
include_guard(GLOBAL)

function(_spindle_peer name)
  string(TOUPPER ${name} upper)
  add_library(spindle_peer_${name} INTERFACE)
  target_compile_definitions(spindle_peer_${name} INTERFACE SPINDLE_BENCH_HAVE_${upper}=1)
  target_link_libraries(spindle_peer_${name} INTERFACE ${ARGN})
endfunction()

function(_spindle_header_peer name header)
  find_path(SPINDLE_PEER_${name}_INCLUDE ${header})
  if(SPINDLE_PEER_${name}_INCLUDE)
    _spindle_peer(${name})
    target_include_directories(spindle_peer_${name} SYSTEM INTERFACE ${SPINDLE_PEER_${name}_INCLUDE})
  endif()
endfunction()

find_package(Boost 1.74 QUIET COMPONENTS thread)
if(TARGET Boost::thread)
  _spindle_peer(boost Boost::thread)
endif()
find_package(TBB QUIET)
if(TARGET TBB::tbb)
  _spindle_peer(tbb TBB::tbb)
endif()
find_package(absl QUIET)
if(TARGET absl::synchronization)
  _spindle_peer(absl absl::synchronization)
endif()
find_package(Poco QUIET COMPONENTS Foundation)
if(TARGET Poco::Foundation)
  _spindle_peer(poco Poco::Foundation)
endif()
_spindle_header_peer(moodycamel concurrentqueue/blockingconcurrentqueue.h)
_spindle_header_peer(asio asio/thread_pool.hpp)

# Links `target` with each named peer that is installed; says which are not.
function(spindle_bench_peers target)
  foreach(peer ${ARGN})
    if(TARGET spindle_peer_${peer})
      target_link_libraries(${target} PRIVATE spindle_peer_${peer})
    else()
      message(STATUS "spindle: ${target} runs without ${peer} (not installed)")
    endif()
  endforeach()
endfunction()
