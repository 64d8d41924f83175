# C103: exiting the process with work queued in a ThreadPoolExecutor runs
# that work first. A child program exits (by returning from main with a
# leaked pool, and by std::exit with a pool on the stack) while 100 tasks
# are queued behind a task that can only finish once the exit has begun.
add_executable(futures_exit_child ${CMAKE_CURRENT_SOURCE_DIR}/helpers/futures_exit_child.cpp)
target_link_libraries(futures_exit_child PRIVATE spindle::spindle)
foreach(mode return exit)
  add_test(NAME futures.C103_exit_with_work_queued_${mode} COMMAND futures_exit_child ${mode})
  set_tests_properties(futures.C103_exit_with_work_queued_${mode} PROPERTIES
                       PASS_REGULAR_EXPRESSION "all 100 tasks ran" TIMEOUT 120)
endforeach()
