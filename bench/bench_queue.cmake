# Peers of bench_queue: TBB's concurrent_bounded_queue, moodycamel's
# BlockingConcurrentQueue and Boost's sync_bounded_queue.
spindle_bench_peers(bench_queue tbb moodycamel boost)
