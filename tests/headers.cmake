# Every public header compiles on its own: one generated translation unit per
# include/spindle/*.hpp, holding nothing but its #include, built into an object
# library with the tests, so a header that leans on an include it does not
# make itself breaks the build. The detail/ headers are internal and exempt,
# except those listed below, which other executors include on their own.
# The test headers.self_contained then lists the headers that compiled.
file(GLOB SPINDLE_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/spindle/*.hpp)
# The process pool's task codec (function identity, payloads, exceptions).
list(APPEND SPINDLE_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/spindle/detail/process_codec.hpp)
set(SPINDLE_HEADER_TUS)
foreach(header ${SPINDLE_PUBLIC_HEADERS})
  file(RELATIVE_PATH name ${PROJECT_SOURCE_DIR}/include/spindle ${header})
  # detail/x.hpp -> detail--x.cpp (the check below turns "--" back into "/")
  string(REGEX REPLACE "\\.hpp$" "" stem ${name})
  string(REPLACE "/" "--" stem ${stem})
  set(tu ${CMAKE_CURRENT_BINARY_DIR}/headers/${stem}.cpp)
  file(CONFIGURE OUTPUT ${tu} CONTENT "#include <spindle/${name}>\n")
  list(APPEND SPINDLE_HEADER_TUS ${tu})
endforeach()
# Drop the units of headers that are gone.
file(GLOB stale ${CMAKE_CURRENT_BINARY_DIR}/headers/*.cpp)
list(REMOVE_ITEM stale ${SPINDLE_HEADER_TUS})
if(stale)
  file(REMOVE ${stale})
endif()

add_library(spindle_headers OBJECT ${SPINDLE_HEADER_TUS})
target_link_libraries(spindle_headers PRIVATE spindle::spindle)
target_compile_options(spindle_headers PRIVATE -Wall -Wextra)

list(LENGTH SPINDLE_PUBLIC_HEADERS SPINDLE_PUBLIC_HEADER_COUNT)
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/headers/check.cmake CONTENT [=[
string(REPLACE "|" ";" objects "${OBJECTS}")
list(LENGTH objects count)
if(NOT count EQUAL @SPINDLE_PUBLIC_HEADER_COUNT@)
  message(FATAL_ERROR "${count} objects for @SPINDLE_PUBLIC_HEADER_COUNT@ headers")
endif()
set(names)
foreach(object ${objects})
  if(NOT EXISTS ${object})
    message(FATAL_ERROR "missing ${object}: its header did not compile on its own")
  endif()
  get_filename_component(stem ${object} NAME_WE)
  string(REPLACE "--" "/" stem ${stem})
  list(APPEND names ${stem}.hpp)
endforeach()
list(JOIN names " " names)
message("${count} headers compile on their own: ${names}")
]=] @ONLY)
add_test(NAME headers.self_contained
         COMMAND ${CMAKE_COMMAND} "-DOBJECTS=$<JOIN:$<TARGET_OBJECTS:spindle_headers>,|>"
                 -P ${CMAKE_CURRENT_BINARY_DIR}/headers/check.cmake)
set_tests_properties(headers.self_contained PROPERTIES LABELS headers TIMEOUT 60)
