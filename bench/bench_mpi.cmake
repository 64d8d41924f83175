# bench_mpi runs under mpirun: MPIPoolExecutor (spindle::mpi) and raw MPI.
# It has its own main (Google Benchmark's cannot run in an MPI job whose
# other ranks serve tasks); bench/python/mpi_tiny_tasks.py drives it beside
# mpi4py.futures. CTest checks that both run and get their sums right, with
# small sizes (no figure is asserted).
target_link_libraries(bench_mpi PRIVATE spindle::mpi MPI::MPI_CXX)
if(SPINDLE_BUILD_TESTS)
  add_test(NAME bench.mpi_quick
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 3 $<TARGET_FILE:bench_mpi> --quick)
  set_tests_properties(bench.mpi_quick PROPERTIES TIMEOUT 300 ENVIRONMENT "${SPINDLE_MPI_RUN_ENV}"
                       PASS_REGULAR_EXPRESSION "latency / ping-pong")
  find_program(SPINDLE_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
  if(SPINDLE_SYSTEM_PYTHON)
    execute_process(COMMAND ${SPINDLE_SYSTEM_PYTHON} -c "import mpi4py.futures"
                    RESULT_VARIABLE _no_mpi4py OUTPUT_QUIET ERROR_QUIET)
    if(_no_mpi4py EQUAL 0)
      add_test(NAME bench.mpi4py_compare_quick
               COMMAND ${SPINDLE_SYSTEM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/mpi_tiny_tasks.py
                       --quick --bench $<TARGET_FILE:bench_mpi> --mpirun ${MPIEXEC_EXECUTABLE})
      set_tests_properties(bench.mpi4py_compare_quick PROPERTIES TIMEOUT 300
                           ENVIRONMENT "${SPINDLE_MPI_RUN_ENV}" PASS_REGULAR_EXPRESSION "x mpi4py")
    endif()
  endif()
endif()
