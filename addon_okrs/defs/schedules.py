"""The daily schedule: at 01:00 UTC, build yesterday, as the 2017 job did.

Off by default: the arrival sensor is the normal trigger (it builds a day as soon as both
inputs are there, and again when upstream rewrites it). Turn the schedule on instead where
listing the source bucket is not possible or not wanted.
"""

import dagster as dg

from addon_okrs.defs.jobs import daily_job

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=1,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
