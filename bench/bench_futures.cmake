# Peers of bench_futures: Asio's thread_pool (libasio-dev) and oneTBB's
# task_group (libtbb-dev); std::async and the naive pool are always there.
spindle_bench_peers(bench_futures tbb asio)
target_compile_definitions(bench_futures PRIVATE ASIO_STANDALONE=1)
