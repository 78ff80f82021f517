"""Where configuration comes from: environment variables, with defaults that work locally."""

import os
from pathlib import Path

import dagster as dg

ENV_WAREHOUSE = "ADDON_OKRS_WAREHOUSE"
ENV_SOURCE_ROOT = "ADDON_OKRS_SOURCE_ROOT"
ENV_OUTPUT_ROOT = "ADDON_OKRS_OUTPUT_ROOT"
ENV_INTERMEDIATE_ROOT = "ADDON_OKRS_INTERMEDIATE_ROOT"
ENV_MIN_SUCCESS_MARKERS = "ADDON_OKRS_MIN_SUCCESS_MARKERS"
ENV_LOOKBACK_DAYS = "ADDON_OKRS_LOOKBACK_DAYS"
ENV_S3_ENDPOINT_URL = "ADDON_OKRS_S3_ENDPOINT_URL"
ENV_ALLOW_UNREADY_SOURCES = "ADDON_OKRS_ALLOW_UNREADY_SOURCES"
ENV_EXECUTOR = "ADDON_OKRS_EXECUTOR"


def warehouse_uri() -> str:
    """The local default for every root: ./warehouse of the directory Dagster runs from."""
    return os.environ.get(ENV_WAREHOUSE) or Path.cwd().joinpath("warehouse").absolute().as_uri()


def setting(env_var: str, default: str) -> str | dg.EnvVar:
    """The env var (shown as such in the UI) when it is set, else the default."""
    return dg.EnvVar(env_var) if os.environ.get(env_var) else default


def flag(env_var: str) -> bool:
    return os.environ.get(env_var, "").strip().lower() in ("1", "true", "yes")


def resolve(value: str | dg.EnvVar) -> str:
    """The value a setting has now (an EnvVar read from the environment)."""
    if isinstance(value, dg.EnvVar):
        return value.get_value() or ""
    return value


def int_setting(env_var: str, default: int) -> int:
    """As `setting`, for whole numbers (Dagster's IntEnvVar is an int to type checkers)."""
    return dg.EnvVar.int(env_var) if os.environ.get(env_var) else default


def source_root() -> str | dg.EnvVar:
    return setting(ENV_SOURCE_ROOT, warehouse_uri())


def output_root() -> str | dg.EnvVar:
    return setting(ENV_OUTPUT_ROOT, warehouse_uri())


def intermediate_root() -> str | dg.EnvVar:
    """Intermediates follow the output root unless they have a root of their own."""
    output = os.environ.get(ENV_OUTPUT_ROOT) or warehouse_uri()
    return setting(ENV_INTERMEDIATE_ROOT, output.rstrip("/") + "/intermediate")


def dagster_home_is_set() -> bool:
    return bool(os.environ.get("DAGSTER_HOME"))
