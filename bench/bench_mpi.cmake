# bench_mpi runs under mpirun: MPIPoolExecutor (spindle::mpi) and raw MPI.
# It has its own main (Google Benchmark's cannot run in an MPI job whose
# other ranks serve tasks); bench/python/mpi_tiny_tasks.py drives it.
target_link_libraries(bench_mpi PRIVATE spindle::mpi MPI::MPI_CXX)
