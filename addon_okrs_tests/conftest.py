import os
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from harness import spark_cds
from harness.settings import local_spark


@pytest.fixture(scope="session", autouse=True)
def spark_class_archive() -> Iterator[None]:
    """Every Spark driver the suite starts (its own session's and those of the runs it
    launches, which inherit this process's environment) maps the classes from one archive
    (harness/spark_cds.py), made on the first run on a machine."""
    given = os.environ.get("SPARK_SUBMIT_OPTS", "")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_SUBMIT_OPTS", spark_cds.submit_opts(spark_cds.ensure_archive(), given))
        yield


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One Spark session for the whole test process; the pipeline's resource reuses it."""
    session = local_spark()
    yield session
    session.stop()
