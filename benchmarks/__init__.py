"""The performance benchmark of addon_okrs (see BENCHMARKS.md and `python -m benchmarks -h`)."""
