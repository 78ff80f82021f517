"""The tools: the `addon-okrs` command line, the in-process run helper it and the tests use,
and the sample-data generator. They may import every other layer; nothing imports them but the
tests and the benchmarks (test_layout.py)."""
