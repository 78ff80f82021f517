"""The development harness: what tests, scripts/ and benchmarks/ share to run the project for
real on this machine (servers on loopback, `dagster dev` and its GraphQL API, a headless
browser, the independent DuckDB reference, settings for a throwaway warehouse). Not part of
the shipped package, and it imports nothing from the tests."""
