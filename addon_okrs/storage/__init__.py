"""The storage layer: where each table lives and how a day is read, staged, published and
recovered, on a local folder or S3 alike (catalog, locations through pyarrow.fs, the
source-day checks, the warehouse, the table store and the report store).

It imports the dataset layer and nothing above it: no settings, no Dagster (test_layout.py).
A storage change touches a module here and runs on file:// and S3."""
