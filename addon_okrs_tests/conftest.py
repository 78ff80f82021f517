from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from harness.settings import local_spark


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One Spark session for the whole test process; the pipeline's resource reuses it."""
    session = local_spark()
    yield session
    session.stop()
