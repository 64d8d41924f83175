# Peers of bench_thread: boost::thread (libboost-thread-dev).
spindle_bench_peers(bench_thread boost)
