"""Errors no retry can fix, turned into a step failure that says so and is not retried."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from addon_okrs.runtime.spark import SparkStartError
from addon_okrs.storage.leases import LeaseHeldError
from addon_okrs.storage.locations import StorageAccessError
from addon_okrs.storage.s3a import ConnectorError
from addon_okrs.storage.source_days import SourceDayError

# An upstream day that is not there (the sensor starts the run once it is), and a day another
# live run is writing (its message names that run: wait for it, then run this day again).
# Retrying the step a minute later would only repeat the message, or race the other run.
# Spark's S3 connector missing, a root's bucket missing or refusing the credentials: the
# set-up or a setting fixes those, not a minute's wait; so does a local driver JVM that exits at
# its start (a JVM option it refuses, more memory than the machine has).
FINAL_ERRORS: tuple[type[Exception], ...] = (
    SourceDayError,
    LeaseHeldError,
    ConnectorError,
    StorageAccessError,
    SparkStartError,
)


@contextmanager
def failing_at_once() -> Iterator[None]:
    """Inside: a final error fails the step at once, with the error's own message."""
    try:
        yield
    except FINAL_ERRORS as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
