"""The Spark session resource: local mode by default, a cluster master or a Spark Connect
server by configuration, and one session per run process however many assets use it. Built on
dagster-pyspark's public API only; what the session is built with is the runtime layer's
(`runtime/spark.py`)."""

import sys
from pathlib import Path

from dagster_pyspark import LazyPySparkResource
from pydantic import Field, PrivateAttr
from pyspark import SparkContext
from pyspark.errors import PySparkRuntimeError
from pyspark.sql import SparkSession

from addon_okrs.runtime import class_archive
from addon_okrs.runtime.class_archive import Pending
from addon_okrs.runtime.jars import fetch_connector
from addon_okrs.runtime.java import find_java
from addon_okrs.runtime.spark import SparkStartError, run_conf, runs_locally
from addon_okrs.settings import Settings
from addon_okrs.storage.s3a import ConnectorError


class SparkResource(LazyPySparkResource):
    """Builds (lazily, on first use) the run's SparkSession from `spark_config`, as
    dagster-pyspark's LazyPySparkResource does, with checks of its own in local mode: a Java
    runtime is there before Spark tries to start one, Python UDF workers run this interpreter,
    and a driver told to write the class archive at its exit gets it placed then."""

    java_home: str | None = Field(
        default=None, description="the Java runtime for local Spark (else java on PATH)"
    )
    connector_error: str | None = Field(
        default=None, description="why an S3 root cannot be reached: the connector is missing"
    )
    fetch_jars_into: str | None = Field(
        default=None, description="the Maven repository the S3 connector is fetched into first"
    )
    archive_partial: str | None = Field(
        default=None, description="where this run's driver writes the class archive at its exit"
    )
    archive_target: str | None = Field(
        default=None, description="where that archive is placed once the driver has exited"
    )
    start_failure: str | None = Field(
        default=None, description="what to say if local Spark's driver JVM exits at its start"
    )
    _writes_archive: bool = PrivateAttr(default=False)

    @property
    def is_local(self) -> bool:
        return runs_locally(self.spark_config)

    @property
    def spark_session(self) -> SparkSession:
        if self.connector_error:
            raise ConnectorError(self.connector_error)
        if self.fetch_jars_into:
            fetch_connector(Path(self.fetch_jars_into))
        starts_jvm = False
        if self.is_local:
            find_java(self.java_home)
            starts_jvm = SparkContext._gateway is None  # type: ignore[attr-defined]
        try:
            session: SparkSession = super().spark_session
        except PySparkRuntimeError as error:
            if starts_jvm and error.getCondition() == "JAVA_GATEWAY_EXITED":
                raise SparkStartError(self.start_failure or str(error)) from error
            raise
        if self.is_local:
            # A Python UDF's workers run on this machine: give them this interpreter, not the
            # first `python3` on PATH, which may lack this environment's packages (PySpark reads
            # only PYSPARK_PYTHON, at start-up, for this).
            session.sparkContext.pythonExec = sys.executable
        writes = starts_jvm and self.archive_partial and self.archive_target
        if writes and not self._writes_archive:
            self._writes_archive = True
            archive = Pending(Path(self.archive_partial or ""), Path(self.archive_target or ""))
            class_archive.write_at_exit(session, archive)
        return session

    def get_session(self) -> SparkSession:
        return self.spark_session


def spark_resource(settings: Settings) -> SparkResource:
    """The Spark resource of these settings: master or Connect remote, S3 access, extra conf,
    and in local mode the class archive."""
    run = run_conf(settings)
    return SparkResource(
        spark_config=run.conf,
        java_home=settings.java_home,
        connector_error=run.connector_error,
        fetch_jars_into=str(run.fetch_jars_into) if run.fetch_jars_into else None,
        archive_partial=str(run.archive.partial) if run.archive else None,
        archive_target=str(run.archive.target) if run.archive else None,
        start_failure=run.start_failure,
    )
