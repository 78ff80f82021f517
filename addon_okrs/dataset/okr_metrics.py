"""addons/okr/v1, the OKR numbers of a day, from the published addons/agg/v1 rows
(docs/dataset.md, "OKR metrics"). Nothing here knows about Dagster or storage."""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from addon_okrs.dataset.local_frame import local_frame
from addon_okrs.dataset.schema import ADDON_OKR_METRICS_SCHEMA, ALL_CHANNELS, DAY, NEW_PROFILE_DAYS


def okr_metrics(addon_aggregates: DataFrame, days: list[str]) -> DataFrame:
    """addons/okr/v1 from the published addons/agg/v1 rows of `days`: per day, one row per
    channel present and one `all` row whose counts are the channel rows' sums and whose
    ratios are recomputed from those sums (docs/dataset.md, "OKR metrics")."""
    day_number = F.datediff(F.to_date(F.col(DAY), "yyyyMMdd"), F.lit("1970-01-01"))
    self_installed = ~F.col("foreign_install")
    profile_age = day_number - F.col("profile_creation_date")
    is_new_profile = (profile_age >= F.lit(0)) & (profile_age <= F.lit(NEW_PROFILE_DAYS - 1))
    # One row per (day, channel, client) first, then plain sums per channel: four distinct
    # counts over the rows would each cost their own expansion of the rows.
    per_client = addon_aggregates.groupBy(DAY, "normalized_channel", "client_id").agg(
        F.max("n_clients").alias("n_clients"),
        F.max(self_installed.cast("int")).alias("self_installer"),
        F.sum(F.when(self_installed, F.col("count"))).alias("self_installed_addons"),
        F.max((self_installed & is_new_profile).cast("int")).alias("new_profile_self_installer"),
    )
    # A distinct count skips a null client id, and so do these counts (published rows have
    # none: keys_not_null).
    is_client = F.col("client_id").isNotNull()
    per_channel = per_client.groupBy(DAY, "normalized_channel").agg(
        F.max("n_clients").cast("long").alias("n_clients"),
        F.count(F.when(is_client, F.lit(1))).alias("n_clients_with_addons"),
        F.coalesce(F.sum(F.when(is_client, F.col("self_installer"))), F.lit(0)).alias(
            "self_installers"
        ),
        F.coalesce(F.sum("self_installed_addons"), F.lit(0)).alias("self_installed_addons"),
        F.coalesce(F.sum(F.when(is_client, F.col("new_profile_self_installer"))), F.lit(0)).alias(
            "new_profile_self_installers"
        ),
    )
    counts = [
        "n_clients",
        "n_clients_with_addons",
        "self_installers",
        "self_installed_addons",
        "new_profile_self_installers",
    ]
    # Every run day gets its `all` row, even a day without rows (all counts 0).
    run_days = local_frame(
        addon_aggregates.sparkSession,
        [(d,) for d in days],
        T.StructType([T.StructField(DAY, T.StringType())]),
    )
    summed = per_channel.groupBy(DAY).agg(*(F.sum(c).alias(c) for c in counts))
    all_channels = run_days.join(summed, on=DAY, how="left").select(
        DAY,
        F.lit(ALL_CHANNELS).alias("normalized_channel"),
        *(F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c) for c in counts),
    )
    rows = per_channel.select(DAY, "normalized_channel", *counts).unionByName(all_channels)

    def ratio(numerator: str) -> Column:
        # One double division of the two integers; no clients, no ratio.
        return F.when(
            F.col("n_clients") > 0,
            F.col(numerator).cast("double") / F.col("n_clients").cast("double"),
        )

    with_ratios = rows.withColumn("self_installer_share", ratio("self_installers")).withColumn(
        "addons_per_profile", ratio("self_installed_addons")
    )
    contract = [
        F.col(f.name).cast(f.dataType).alias(f.name) for f in ADDON_OKR_METRICS_SCHEMA.fields
    ]
    return with_ratios.select(DAY, *contract)
