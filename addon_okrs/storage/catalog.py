"""Every table of the graph, by asset name: which root it lives under, its path there, whether
the output file sizing applies, and how a day folder is named. Nothing else spells a table path.

Layout (docs/dataset.md): `<root>/<path>/submission_date_s3=YYYYMMDD/`, the production layout
of the telemetry tables; the same relative paths under a local warehouse.
"""

import enum
from dataclasses import dataclass

from addon_okrs.dataset.schema import DAY


class Root(enum.Enum):
    """The three roots a table can live under (settings: source, intermediate, output)."""

    SOURCE = "source"
    INTERMEDIATE = "intermediate"
    OUTPUT = "output"


DAY_PREFIX = f"{DAY}="


def day_folder(day: str) -> str:
    """The folder name of one day: `submission_date_s3=YYYYMMDD`."""
    return f"{DAY_PREFIX}{day}"


def day_of_folder(name: str) -> str | None:
    """The day a folder name stands for, or None for any other folder (`_staging`...)."""
    return name.removeprefix(DAY_PREFIX) if name.startswith(DAY_PREFIX) else None


@dataclass(frozen=True)
class TableSpec:
    """One day-partitioned parquet table: where it lives relative to its root."""

    name: str  # the asset name
    root: Root
    path: str  # below the root
    sized: bool = False  # each day written is cut into the dataset's file count (dataset/sizing.py)
    # Written bucketed by client id (storage/bucketing.py): a per-client intermediate.
    bucketed: bool = False

    def day_path(self, day: str) -> str:
        """`<path>/submission_date_s3=D`, relative to the table's root."""
        return f"{self.path}/{day_folder(day)}"

    @property
    def is_source(self) -> bool:
        return self.root is Root.SOURCE


ADDONS = TableSpec("addons", Root.SOURCE, "addons/v2")
MAIN_SUMMARY = TableSpec("main_summary", Root.SOURCE, "main_summary/v4")
ADDON_AGGREGATES = TableSpec("addon_aggregates", Root.OUTPUT, "addons/agg/v1", sized=True)
ADDON_OKR_METRICS = TableSpec("addon_okr_metrics", Root.OUTPUT, "addons/okr/v1", sized=True)

# The per-client intermediates are read by consumers that group or join them by client, so
# they are written bucketed; channel_counts is a few rows a day.
INTERMEDIATES = (
    *(
        TableSpec(name, Root.INTERMEDIATE, name, bucketed=True)
        for name in ("count_by_client_day", "user_types", "ms_has_theme", "ms_install_days")
    ),
    TableSpec("channel_counts", Root.INTERMEDIATE, "channel_counts"),
)

SOURCES: tuple[TableSpec, ...] = (ADDONS, MAIN_SUMMARY)
TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (*SOURCES, *INTERMEDIATES, ADDON_AGGREGATES, ADDON_OKR_METRICS)
}


@dataclass(frozen=True)
class ReportSpec:
    """A daily report: a folder of files per day, `<root>/<path>/YYYYMMDD/`."""

    name: str  # the asset name
    root: Root
    path: str

    def day_path(self, day: str) -> str:
        return f"{self.path}/{day}"


ADDON_OKR_REPORT = ReportSpec("addon_okr_report", Root.OUTPUT, "reports/addon_okrs")


class UnknownTableError(KeyError):
    pass


def table(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise UnknownTableError(
            f"no table {name!r} in the catalog; known: {', '.join(TABLES)}"
        ) from None
