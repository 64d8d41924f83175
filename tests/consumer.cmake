# The package test: a separate project builds against spindle through
# find_package (from this build tree, installed) and through add_subdirectory.
# Sanitizer builds skip it: it checks packaging, not behaviour.
if(NOT SPINDLE_SANITIZED AND SPINDLE_INSTALL)
  foreach(mode install subdir)
    add_test(NAME package.${mode}
             COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                     -DBUILD_DIR=${PROJECT_BINARY_DIR} -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer-${mode}
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
    set_tests_properties(package.${mode} PROPERTIES TIMEOUT 600 LABELS package)
  endforeach()
endif()
