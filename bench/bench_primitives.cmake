# bench_primitives times the deadlock detector's bookkeeping alone through
# its internal interface (src/deadlock_internal.hpp).
target_include_directories(bench_primitives PRIVATE ${PROJECT_SOURCE_DIR}/src)
