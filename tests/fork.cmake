# fork_test uses spindle's internal fork hook (src/thread_internal.hpp,
# detail::register_at_fork), which other layers of the library call.
if(TARGET fork_test)
  target_include_directories(fork_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()
