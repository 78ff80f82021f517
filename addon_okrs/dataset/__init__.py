"""The dataset layer: the contract of addons/agg/v1 and addons/okr/v1 and every rule that makes
them (schema, day keys, transformations, the blocking rules as plain functions, the OKR maths,
the report's numbers, chart and page, file sizing).

It imports pyspark, pyarrow and matplotlib, and nothing else of the project: no storage, no
settings, no Dagster (test_layout.py). A rule change touches a module here and its test."""
