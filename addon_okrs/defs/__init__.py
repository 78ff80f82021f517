"""The Dagster layer: the asset graph (assets, check specs, write-audit-publish, the IO
manager, resources, sensors, schedules, jobs, partitions) and the code location built from one
Settings object. It may import the dataset and storage layers and the settings; the tools import
it, never the other way round (test_layout.py). Dagster's non-public API is used in
`_dagster_compat.py` only."""
