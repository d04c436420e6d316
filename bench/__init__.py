"""Benchmarks beside the library, not inside it (as nanoGPT keeps `bench.py` beside the
model): each imports `glore` and `service` like any user and prints ratios measured side by
side in one run. `loopback` and `worker_thread` run the gateway and a job worker in this
process, for the benchmarks and for the tests."""
