"""Every setting of the project in one typed object, read from the environment in one place
(`Settings.from_env`, called once when the code location loads or a command starts) and passed
to whatever needs it. `SETTINGS` documents each variable; the README's table is its rendering
(`addon-okrs settings --markdown`), and a test keeps the two equal.

A default is written once, as the field's default in `Settings`; the table shows it from there.
A value is checked with the rule of the layer that uses it (a root by the storage layer's
`normalise_root`, a day by the dataset's `parse_day`), so this module imports those two layers
and neither of them imports it."""

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from addon_okrs.dataset.days import InvalidDayError, parse_day
from addon_okrs.dataset.report import DEFAULT_BASELINE_DAYS
from addon_okrs.dataset.sizing import TARGET_FILE_MB
from addon_okrs.storage.leases import DEFAULT_LEASE_SECONDS
from addon_okrs.storage.locations import S3_SCHEMES, S3Options, normalise_root
from addon_okrs.storage.warehouse import ROOT_SETTINGS, Warehouse


class SettingsError(ValueError):
    """A setting with a value the project cannot use; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    """One environment variable and what it does. Its default is the `Settings` field named
    `field`, shown as `` `value` ``; `default` describes one that is not a plain value."""

    env: str
    default: str | None
    description: str
    fallbacks: tuple[str, ...] = ()  # read, in order, when `env` is unset
    field: str | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ADDON_OKRS_WAREHOUSE",
        "`file://$PWD/warehouse`",
        "the default of the three roots below",
    ),
    Setting(
        "ADDON_OKRS_SOURCE_ROOT",
        "the warehouse",
        "where `addons/v2` and `main_summary/v4` are (production: `s3://telemetry-parquet`)",
    ),
    Setting(
        "ADDON_OKRS_OUTPUT_ROOT",
        "the warehouse",
        "where `addons/agg/v1` is written",
    ),
    Setting(
        "ADDON_OKRS_INTERMEDIATE_ROOT",
        "`<output root>/intermediate`",
        "where the intermediate assets are kept",
    ),
    Setting(
        "ADDON_OKRS_SPARK_MASTER",
        None,
        "Spark master: `spark://host:7077`, `yarn`, `k8s://https://host:443`",
        field="spark_master",
    ),
    Setting(
        "ADDON_OKRS_SPARK_REMOTE",
        "unset",
        "Spark Connect URL (`sc://host:15002`); when set, the master is unused",
    ),
    Setting(
        "ADDON_OKRS_SPARK_CONF",
        "unset",
        "extra Spark settings: `key=value` per line (or comma-separated on one line), or a "
        "JSON object; they override the project's defaults",
    ),
    Setting(
        "ADDON_OKRS_SPARK_S3",
        None,
        "who gives Spark its S3 access for `s3://`/`s3a://` roots: `project` (the pinned S3A "
        "jars and `fs.s3a.*` settings from the S3 settings below) or `cluster` (the cluster's "
        "own, e.g. EMR's EMRFS; nothing added). Over Spark Connect the server's own is used",
        field="spark_s3",
    ),
    Setting(
        "ADDON_OKRS_SPARK_JARS",
        "the set-up's `.cache/m2`",
        "Spark's S3 connector jars (`hadoop-aws`, the AWS SDK bundle), comma-separated paths "
        "or URLs, for a mirror or a cluster image that has them",
    ),
    Setting(
        "ADDON_OKRS_SPARK_CLASS_ARCHIVE",
        None,
        "in local mode, start the driver from the class archive the set-up makes in "
        "`.cache/spark-cds` (`addon-okrs class-archive`) when there is one for its Java and "
        "class path; `false`: never",
        field="spark_class_archive",
    ),
    Setting(
        "ADDON_OKRS_EXECUTOR",
        "`in_process`; `multiprocess` with a Spark Connect remote",
        "how a run executes its steps: `in_process` or `multiprocess`",
    ),
    Setting(
        "ADDON_OKRS_MIN_SUCCESS_MARKERS",
        None,
        "`_SUCCESS` files a source day needs before it is built (production: `100`)",
        field="min_success_markers",
    ),
    Setting(
        "ADDON_OKRS_ALLOW_UNREADY_SOURCES",
        None,
        "build a source day even without its `_SUCCESS` markers (an operator's override)",
        field="allow_unready_sources",
    ),
    Setting(
        "ADDON_OKRS_TARGET_FILE_MB",
        None,
        "the size each output file aims at",
        field="target_file_mb",
    ),
    Setting(
        "ADDON_OKRS_BACKFILL_DAYS_PER_RUN",
        None,
        "a backfill runs as runs of at most this many days, each one Spark application; "
        "`0`: the whole range in one run (the report always backfills in one run)",
        field="backfill_days_per_run",
    ),
    Setting(
        "ADDON_OKRS_OKR_BASELINE",
        f"the first {DEFAULT_BASELINE_DAYS} days with data in the report's window",
        "the days whose mean is each OKR's baseline: `YYYYMMDD...YYYYMMDD`",
    ),
    Setting(
        "ADDON_OKRS_LEASE_SECONDS",
        None,
        "how long a writer's lease on a day lasts unless renewed (every third of it); a dead "
        "run's leftovers are cleaned up once its leases expire",
        field="lease_seconds",
    ),
    Setting(
        "ADDON_OKRS_LOOKBACK_DAYS",
        None,
        "how many recent days each sensor tick checks",
        field="lookback_days",
    ),
    Setting(
        "ADDON_OKRS_SENSOR_INTERVAL_SECONDS",
        None,
        "time between sensor ticks",
        field="sensor_interval_seconds",
    ),
    Setting(
        "ADDON_OKRS_S3_ENDPOINT_URL",
        "unset (AWS)",
        "an S3-compatible endpoint (path-style addressing), for Spark and the folder work "
        "outside it",
        fallbacks=("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    ),
    Setting(
        "AWS_REGION",
        "unset",
        "the S3 region, for Spark and the folder work outside it (`us-east-1` with an endpoint)",
        fallbacks=("AWS_DEFAULT_REGION",),
    ),
    Setting(
        "ADDON_OKRS_CACHE_DIR",
        "the checkout's `.cache/` when run from one, else the user's cache folder "
        "(`$XDG_CACHE_HOME/addon_okrs`, `~/.cache/addon_okrs`)",
        "where downloads and machine-made files go: the S3 connector's jars (`m2/`), the "
        "class archive (`spark-cds/`), local Spark's catalog folder (`spark-warehouse/`)",
    ),
    Setting(
        "SPARK_SUBMIT_OPTS",
        "unset",
        "JVM options `spark-submit` gives every driver it starts; one that names a class "
        "archive (`-XX:SharedArchiveFile`, `-XX:ArchiveClassesAtExit`) is left to itself: "
        "local runs then neither map nor write the project's",
    ),
    Setting(
        "JAVA_HOME",
        "`java` on `PATH`",
        "the Java runtime local Spark starts (17, 21 or 25)",
    ),
    Setting(
        "DAGSTER_HOME",
        "`.dagster_home` (set by `make`)",
        "Dagster's instance folder: run history, sensors; `make` puts `deploy/dagster.yaml` there",
    ),
)

EXECUTORS = ("in_process", "multiprocess")
SPARK_S3 = ("project", "cluster")
_DECLARED = {s.env: s for s in SETTINGS}


def parse_baseline(text: str | None) -> tuple[str, str] | None:
    """`YYYYMMDD...YYYYMMDD` (ADDON_OKRS_OKR_BASELINE), or None for the default."""
    if not text:
        return None
    first, sep, last = text.partition("...")
    try:
        if not sep:
            raise InvalidDayError(text)
        start, end = first.strip(), last.strip()
        parse_day(start), parse_day(end)
    except InvalidDayError:
        raise SettingsError(
            f"ADDON_OKRS_OKR_BASELINE={text!r}: write the first and last day as "
            "YYYYMMDD...YYYYMMDD, e.g. 20170501...20170528"
        ) from None
    if end < start:
        raise SettingsError(f"ADDON_OKRS_OKR_BASELINE={text!r}: the last day is before the first")
    return start, end


def parse_spark_conf(text: str, setting: str = "ADDON_OKRS_SPARK_CONF") -> dict[str, str]:
    """`key=value` pairs, one per line (values may hold commas, e.g. spark.jars.packages) or,
    on a single line, separated by commas; or a JSON object. Blank lines and lines starting
    with # are skipped."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(f"{setting} is not valid JSON: {error}") from error
        if not isinstance(loaded, dict):
            raise SettingsError(f"{setting} must be a JSON object of Spark settings")
        return {str(k): str(v) for k, v in loaded.items()}
    conf: dict[str, str] = {}
    items = text.splitlines() if "\n" in text else text.split(",")
    for item in items:
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(
                f"{setting}: {item!r} is not key=value "
                "(example: spark.executor.memory=4g,spark.sql.shuffle.partitions=400)"
            )
        conf[key.strip()] = value.strip()
    return conf


@dataclass(frozen=True)
class Settings:
    """The values in force. Built by `from_env`; tests and tools build it directly."""

    source_root: str
    output_root: str
    intermediate_root: str
    spark_master: str = "local[*]"
    spark_remote: str | None = None
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    spark_s3: str = "project"
    spark_jars: tuple[str, ...] = ()
    spark_class_archive: bool = True
    executor: str = "in_process"
    min_success_markers: int = 1
    allow_unready_sources: bool = False
    target_file_mb: float = TARGET_FILE_MB
    backfill_days_per_run: int = 7
    okr_baseline: tuple[str, str] | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    lookback_days: int = 7
    sensor_interval_seconds: int = 60
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    java_home: str | None = None
    dagster_home: str | None = None
    cache_dir: str | None = None  # None: default_cache_dir() of this process
    spark_submit_opts: str | None = None

    def __post_init__(self) -> None:
        for name in ("source_root", "output_root", "intermediate_root"):
            setting = f"ADDON_OKRS_{name.upper()}"
            object.__setattr__(self, name, normalise_root(getattr(self, name), setting))
        if self.spark_s3 not in SPARK_S3:
            raise SettingsError(
                f"ADDON_OKRS_SPARK_S3={self.spark_s3!r}: choose one of {', '.join(SPARK_S3)}"
            )
        if self.executor not in EXECUTORS:
            raise SettingsError(
                f"ADDON_OKRS_EXECUTOR={self.executor!r}: choose one of {', '.join(EXECUTORS)}"
            )
        if (
            self.executor == "multiprocess"
            and not self.spark_remote
            and self.spark_master.startswith("local")
        ):
            raise SettingsError(
                f"ADDON_OKRS_EXECUTOR=multiprocess with Spark in local mode ({self.spark_master}) "
                "would start one Spark per step, each unable to see the others' session. Use it "
                "with ADDON_OKRS_SPARK_REMOTE (Spark Connect) or a cluster ADDON_OKRS_SPARK_MASTER."
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> "Settings":
        """The settings of this process: each variable of SETTINGS, else its default."""
        env = _environ() if environ is None else environ

        def get(name: str) -> str | None:
            for candidate in (name, *_DECLARED[name].fallbacks):
                value = env.get(candidate, "").strip()
                if value:
                    return value
            return None

        def number(name: str) -> int:
            text = get(name)
            if text is None:
                return int(_field_default(_DECLARED[name]))
            try:
                value = int(text)
            except ValueError:
                raise SettingsError(f"{name}={text!r} is not a whole number") from None
            if value < 0:
                raise SettingsError(f"{name}={value} must not be negative")
            return value

        def flag(name: str) -> bool:
            text = get(name)
            if text is None:
                return bool(_field_default(_DECLARED[name]))
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise SettingsError(
                f"{name}={text!r} is not a yes/no value: write one of "
                f"{', '.join((*_TRUE, *_FALSE))}"
            )

        warehouse = (
            get("ADDON_OKRS_WAREHOUSE")
            or (cwd or Path.cwd()).joinpath("warehouse").absolute().as_uri()
        )
        output_root = normalise_root(
            get("ADDON_OKRS_OUTPUT_ROOT") or warehouse, "ADDON_OKRS_OUTPUT_ROOT"
        )
        remote = get("ADDON_OKRS_SPARK_REMOTE")

        def positive(name: str) -> float:
            text = get(name)
            if text is None:
                return float(_field_default(_DECLARED[name]))
            try:
                value = float(text)
            except ValueError:
                raise SettingsError(f"{name}={text!r} is not a number") from None
            if not value > 0:
                raise SettingsError(f"{name}={text} must be more than 0")
            return value

        return cls(
            source_root=get("ADDON_OKRS_SOURCE_ROOT") or warehouse,
            output_root=output_root,
            intermediate_root=get("ADDON_OKRS_INTERMEDIATE_ROOT") or output_root + "/intermediate",
            spark_master=get("ADDON_OKRS_SPARK_MASTER") or cls.spark_master,
            spark_remote=remote,
            spark_conf=parse_spark_conf(get("ADDON_OKRS_SPARK_CONF") or ""),
            spark_s3=(get("ADDON_OKRS_SPARK_S3") or cls.spark_s3).strip().lower(),
            spark_jars=tuple(
                j.strip() for j in (get("ADDON_OKRS_SPARK_JARS") or "").split(",") if j.strip()
            ),
            spark_class_archive=flag("ADDON_OKRS_SPARK_CLASS_ARCHIVE"),
            executor=(get("ADDON_OKRS_EXECUTOR") or ("multiprocess" if remote else "in_process"))
            .strip()
            .lower(),
            min_success_markers=number("ADDON_OKRS_MIN_SUCCESS_MARKERS"),
            allow_unready_sources=flag("ADDON_OKRS_ALLOW_UNREADY_SOURCES"),
            target_file_mb=positive("ADDON_OKRS_TARGET_FILE_MB"),
            lease_seconds=positive("ADDON_OKRS_LEASE_SECONDS"),
            backfill_days_per_run=number("ADDON_OKRS_BACKFILL_DAYS_PER_RUN"),
            okr_baseline=parse_baseline(get("ADDON_OKRS_OKR_BASELINE")),
            lookback_days=number("ADDON_OKRS_LOOKBACK_DAYS"),
            sensor_interval_seconds=number("ADDON_OKRS_SENSOR_INTERVAL_SECONDS"),
            s3_endpoint_url=get("ADDON_OKRS_S3_ENDPOINT_URL"),
            s3_region=get("AWS_REGION"),
            java_home=get("JAVA_HOME"),
            dagster_home=get("DAGSTER_HOME"),
            cache_dir=get("ADDON_OKRS_CACHE_DIR") or str(default_cache_dir(env, cwd or Path.cwd())),
            spark_submit_opts=get("SPARK_SUBMIT_OPTS"),
        )

    def cache_folder(self) -> Path:
        """The cache folder (ADDON_OKRS_CACHE_DIR, or its default for this process)."""
        if self.cache_dir:
            return Path(self.cache_dir)
        return default_cache_dir(_environ(), Path.cwd())

    def s3_roots(self) -> dict[str, str]:
        """The roots on S3, by the variable that sets each (the warehouse's ROOT_SETTINGS)."""
        roots = {name: getattr(self, f"{root.value}_root") for root, name in ROOT_SETTINGS.items()}
        return {k: v for k, v in roots.items() if urlparse(v).scheme in S3_SCHEMES}

    @property
    def uses_s3(self) -> bool:
        """Whether any root is on S3."""
        return bool(self.s3_roots())

    @property
    def s3(self) -> S3Options:
        return S3Options(self.s3_endpoint_url, self.s3_region)

    def warehouse(self) -> Warehouse:
        """The warehouse of these settings' roots and S3 options."""
        return Warehouse(self.source_root, self.output_root, self.intermediate_root, self.s3)


def _environ() -> Mapping[str, str]:
    """This process's environment: the settings' one reader of it."""
    return os.environ


def checkout_of(folder: Path) -> Path | None:
    """The checkout of this project that `folder` is in (a pyproject.toml naming the
    project's package at it or above), if any."""
    for candidate in (folder, *folder.parents):
        project = candidate / "pyproject.toml"
        if project.is_file() and 'name = "addon_okrs"' in project.read_text(errors="replace"):
            return candidate
    return None


def default_cache_dir(environ: Mapping[str, str], cwd: Path) -> Path:
    """ADDON_OKRS_CACHE_DIR's default: the checkout's `.cache/` when run from one, else the
    platform's cache folder for the user ($XDG_CACHE_HOME, `~/Library/Caches` on macOS,
    `~/.cache`), so that an installed package writes nothing beside its code."""
    checkout = checkout_of(cwd.absolute())
    if checkout is not None:
        return checkout / ".cache"
    base = environ.get("XDG_CACHE_HOME", "").strip()
    if base:
        return Path(base) / "addon_okrs"
    home = Path(environ.get("HOME") or Path.home())
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "addon_okrs"
    return home / ".cache" / "addon_okrs"


_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def _field_default(setting: Setting) -> Any:
    assert setting.field is not None, f"{setting.env} names no Settings field"
    [declared] = [f for f in fields(Settings) if f.name == setting.field]
    assert declared.default is not MISSING, f"Settings.{setting.field} has no default"
    return declared.default


def default_text(setting: Setting) -> str:
    """A setting's default as the README's table shows it."""
    if setting.default is not None:
        return setting.default
    value = _field_default(setting)
    shown = (
        str(value).lower()
        if isinstance(value, bool)
        else f"{value:g}"
        if isinstance(value, float)
        else value
    )
    return f"`{shown}`"


def markdown_table() -> str:
    """The README's configuration table, from SETTINGS."""
    lines = ["| environment variable | default | what |", "|---|---|---|"]
    for s in SETTINGS:
        name = f"`{s.env}`" + "".join(f", else `{f}`" for f in s.fallbacks)
        lines.append(f"| {name} | {default_text(s)} | {s.description} |")
    return "\n".join(lines)
