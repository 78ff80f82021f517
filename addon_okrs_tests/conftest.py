from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from addon_okrs.resources.spark import SparkResource


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One Spark session for the whole test process; the pipeline's resource reuses it."""
    session = SparkResource.for_tests().get_session()
    yield session
    session.stop()
