# cmake -P run.cmake: proves that a separate project can use spindle.
#   MODE=install  install the build tree at BUILD_DIR into a prefix, then
#                 find_package(spindle) from a fresh consumer project;
#   MODE=subdir   add_subdirectory(SOURCE_DIR) from a fresh consumer project.
# Then build and run the consumer, which must print counter=40000.
foreach(var MODE SOURCE_DIR BUILD_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(consumer_src ${SOURCE_DIR}/tests/consumer)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -G Ninja
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
elseif(MODE STREQUAL "subdir")
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -G Ninja
      -DSPINDLE_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release)
else()
  message(FATAL_ERROR "MODE must be install or subdir")
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(NOT LAST_OUTPUT MATCHES "counter=40000")
  message(FATAL_ERROR "consumer printed: ${LAST_OUTPUT}")
endif()
message(STATUS "consumer (${MODE}) OK: ${LAST_OUTPUT}")
