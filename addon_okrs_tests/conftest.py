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
    (harness/spark_cds.py), made on the first run on a machine unless the set-up made it."""
    given = os.environ.get("SPARK_SUBMIT_OPTS", "")
    archive = spark_cds.ensure_archive()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_SUBMIT_OPTS", spark_cds.submit_opts(archive, given))
        if archive is None:
            patch.setenv("ADDON_OKRS_SPARK_CLASS_ARCHIVE", "false")
        yield


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One Spark session for the whole test process; the pipeline's resource reuses it."""
    session = local_spark()
    yield session
    session.stop()
