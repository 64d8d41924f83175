# ProcessPoolExecutor: the helper program that process_pool_test and the
# exit-time tests launch, and the compile-time rejections of what cannot
# cross to a worker process.
add_executable(process_pool_helper ${CMAKE_CURRENT_SOURCE_DIR}/process_pool_helper.cpp)
target_link_libraries(process_pool_helper PRIVATE spindle::spindle)
if(TARGET process_pool_test)
  add_dependencies(process_pool_test process_pool_helper)
  target_compile_definitions(process_pool_test PRIVATE
    SPINDLE_PROCESS_HELPER="$<TARGET_FILE:process_pool_helper>")
endif()

# C103 and cpython gh-119592: work queued in a process pool when the process
# exits (main returns, std::exit, after shutdown(wait=false)) completes first.
foreach(mode return exit nowait)
  add_test(NAME process.C103_exit_with_work_queued_${mode} COMMAND process_pool_helper exit-${mode})
  set_tests_properties(process.C103_exit_with_work_queued_${mode} PROPERTIES
                       PASS_REGULAR_EXPRESSION "all 20 tasks ran" TIMEOUT 120)
endforeach()

# What cannot be submitted fails to compile with a message that says why.
set(_spindle_reject_cases
  "0|^$"
  "1|must be a plain function"
  "2|must be a plain function"
  "3|every argument must be serialisable"
  "4|every argument must be serialisable"
  "5|result must be void or serialisable"
  "6|must be a plain function")
foreach(entry ${_spindle_reject_cases})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 n)
  list(GET parts 1 expected)
  add_test(NAME process.submit_rejected_at_compile_time_case_${n}
           COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only
                   -I${PROJECT_SOURCE_DIR}/include -DREJECT_CASE=${n}
                   ${CMAKE_CURRENT_SOURCE_DIR}/process_reject.cpp)
  if(n EQUAL 0)
    set_tests_properties(process.submit_rejected_at_compile_time_case_${n} PROPERTIES TIMEOUT 300)
  else()
    set_tests_properties(process.submit_rejected_at_compile_time_case_${n} PROPERTIES
                         PASS_REGULAR_EXPRESSION "${expected}" TIMEOUT 300)
  endif()
endforeach()
