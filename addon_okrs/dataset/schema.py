"""Names and types shared by every layer: the day column, the source tables' add-on fields and
the output contract of addons/agg/v1 (docs/dataset.md, "Output")."""

from pyspark.sql import types as T

DAY = "submission_date_s3"
CLIENT_ID = "client_id"
# Every per-client frame of the graph is hash-partitioned by client id into this many parts
# (transforms.by_client), and the per-client intermediates are written bucketed alike
# (storage/bucketing.py), so that their consumers group and join them without another shuffle.
CLIENT_PARTITIONS = 8

DEFAULT_THEME_ID = "{972ce4c6-7e08-4474-a285-3208198ce6fd}"
UNKNOWN_CHANNEL = "Other"

# The flattened add-on fields of addons v2, which are also the struct fields of main_summary's
# active_addons elements and active_theme. The last two are missing in older files.
ADDON_FIELDS: tuple[tuple[str, T.DataType], ...] = (
    ("addon_id", T.StringType()),
    ("blocklisted", T.BooleanType()),
    ("name", T.StringType()),
    ("user_disabled", T.BooleanType()),
    ("app_disabled", T.BooleanType()),
    ("version", T.StringType()),
    ("scope", T.IntegerType()),
    ("type", T.StringType()),
    ("foreign_install", T.BooleanType()),
    ("has_binary_components", T.BooleanType()),
    ("install_day", T.IntegerType()),
    ("update_day", T.IntegerType()),
    ("signed_state", T.IntegerType()),
    ("is_system", T.BooleanType()),
    ("is_web_extension", T.BooleanType()),
    ("multiprocess_compatible", T.BooleanType()),
)
NEWER_ADDON_FIELDS = ("is_web_extension", "multiprocess_compatible")

ADDON_STRUCT = T.StructType([T.StructField(name, dtype) for name, dtype in ADDON_FIELDS])

ADDONS_SCHEMA = T.StructType(
    [
        T.StructField("document_id", T.StringType()),
        T.StructField("client_id", T.StringType()),
        T.StructField("subsession_start_date", T.StringType()),
        T.StructField("normalized_channel", T.StringType()),
        *ADDON_STRUCT.fields,
    ]
)

MAIN_SUMMARY_SCHEMA = T.StructType(
    [
        T.StructField("client_id", T.StringType()),
        T.StructField("normalized_channel", T.StringType()),
        T.StructField("profile_creation_date", T.LongType()),
        T.StructField("active_addons", T.ArrayType(ADDON_STRUCT)),
        T.StructField("active_theme", ADDON_STRUCT),
    ]
)

# addons/agg/v1, exactly these columns in this order (the day is the folder, not a column).
ADDON_AGGREGATES_SCHEMA = T.StructType(
    [
        T.StructField("normalized_channel", T.StringType()),
        T.StructField("client_id", T.StringType()),
        T.StructField("foreign_install", T.BooleanType()),
        T.StructField("count", T.LongType()),
        T.StructField("user_type", T.LongType()),
        T.StructField("profile_creation_date", T.LongType()),
        T.StructField("min_install_day", T.IntegerType()),
        T.StructField("has_custom_theme", T.LongType()),
        T.StructField("n_custom_theme_clients", T.IntegerType()),
        T.StructField("n_clients", T.IntegerType()),
    ]
)

# addons/okr/v1: the OKR numbers of one day, a row per channel and one for "all"
# (docs/dataset.md, "OKR metrics").
ALL_CHANNELS = "all"
ADDON_OKR_METRICS_SCHEMA = T.StructType(
    [
        T.StructField("normalized_channel", T.StringType()),
        T.StructField("n_clients", T.LongType()),
        T.StructField("n_clients_with_addons", T.LongType()),
        T.StructField("self_installers", T.LongType()),
        T.StructField("self_installer_share", T.DoubleType()),
        T.StructField("self_installed_addons", T.LongType()),
        T.StructField("addons_per_profile", T.DoubleType()),
        T.StructField("new_profile_self_installers", T.LongType()),
    ]
)
# A profile at most this many days old on day D counts as new (D - 13 <= created <= D).
NEW_PROFILE_DAYS = 14

# What the transformations need of each source, as dotted paths ("[]" is an array's element).
# A day whose files lack one of these, or carry another type, is refused before any work.
SOURCE_CONTRACTS: dict[str, dict[str, str]] = {
    "addons": {
        "client_id": "string",
        "normalized_channel": "string",
        "addon_id": "string",
        "foreign_install": "boolean",
        "is_system": "boolean",
        "user_disabled": "boolean",
        "app_disabled": "boolean",
    },
    "main_summary": {
        "client_id": "string",
        "normalized_channel": "string",
        "profile_creation_date": "bigint",
        "active_addons[].install_day": "int",
        "active_theme.addon_id": "string",
    },
}
