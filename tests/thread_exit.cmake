# Process-exit tests (C56, C58, C61): tests/helpers/thread_exit_helper.cpp is
# a child program that thread_test launches, checking its output and status.
add_executable(thread_exit_helper ${CMAKE_CURRENT_SOURCE_DIR}/helpers/thread_exit_helper.cpp)
target_link_libraries(thread_exit_helper PRIVATE spindle::spindle)
if(TARGET thread_test)
  add_dependencies(thread_test thread_exit_helper)
  target_compile_definitions(thread_test PRIVATE
    SPINDLE_THREAD_EXIT_HELPER="$<TARGET_FILE:thread_exit_helper>")
endif()
