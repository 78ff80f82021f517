"""Whether a source day can be built from, before Spark reads it: the folder is there, ready
(its `_SUCCESS` markers), every file's footer readable, and the columns of the dataset's source
contract (`dataset.schema.SOURCE_CONTRACTS`) there with their types; and the narrow schema
Spark then reads the day with.

The check runs on the parquet footers of the day's files (read anyway to find broken files),
so Spark never infers or merges a schema: it is given the contract's columns and reads only
those, as it would a production day of thousands of files. Every error says what to fix;
retrying does not help."""

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import types as T

from addon_okrs.dataset.schema import DAY
from addon_okrs.storage.locations import MARKER, Location, is_data_file


class SourceDayError(RuntimeError):
    """A source day that cannot be built from: missing, not ready, unreadable or off-contract.
    Retrying does not help; the message says what to fix."""


class MissingSourceDayError(SourceDayError):
    pass


class SourceNotReadyError(SourceDayError):
    pass


class CorruptSourceFileError(SourceDayError):
    pass


class EmptySourceDayError(SourceDayError):
    pass


class SourceSchemaError(SourceDayError, ValueError):
    """A day whose files lack a contract column, or carry it with another type."""


# Arrow's names for the types the contracts use, as Spark prints them.
_ARROW_TO_SPARK = {
    pa.string(): "string",
    pa.large_string(): "string",
    pa.bool_(): "boolean",
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.binary(): "binary",
    pa.date32(): "date",
}


def _arrow_type_name(dtype: pa.DataType) -> str:
    if pa.types.is_struct(dtype):
        inner = ",".join(f"{f.name}:{_arrow_type_name(f.type)}" for f in dtype)
        return f"struct<{inner}>"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return f"array<{_arrow_type_name(dtype.value_type)}>"
    return _ARROW_TO_SPARK.get(dtype, str(dtype))


def _arrow_field_type(schema: pa.Schema, path: str) -> tuple[pa.DataType | None, str]:
    """The type at a dotted path of a parquet file's Arrow schema ("a[].b" steps into an
    array's elements); when a step is missing, None and the path up to that step."""
    fields: list[pa.Field] = list(schema)
    current: pa.DataType | None = None
    walked: list[str] = []
    for part in path.split("."):
        name, into_array = (part[:-2], True) if part.endswith("[]") else (part, False)
        match = next((f for f in fields if f.name == name), None)
        if match is None:
            return None, ".".join([*walked, name])
        walked.append(part)
        current = match.type
        if into_array:
            if not (pa.types.is_list(current) or pa.types.is_large_list(current)):
                return current, path
            current = current.value_type
        fields = list(current) if pa.types.is_struct(current) else []
    return current, path


def check_source_files(
    table: str,
    days: Sequence[str],
    where: str,
    files: Mapping[str, pa.Schema],
    contract: dict[str, str],
) -> None:
    """The contract against the footers of a day's files (URI -> schema), as a merged schema:
    each required column must be in some file, and every file that has it must have the
    contract's type (a file without it, e.g. written before it existed, reads as nulls)."""
    context = f"table {table}, day(s) {', '.join(days)} ({where})"
    for path, expected in contract.items():
        in_some_file = False
        for uri, schema in files.items():
            actual, _ = _arrow_field_type(schema, path)
            if actual is None:
                continue
            in_some_file = True
            name = _arrow_type_name(actual)
            if name != expected:
                raise SourceSchemaError(
                    f"{context}: column {path} should be {expected}, found {name}. File: {uri}"
                )
        if files and not in_some_file:
            missing = min(
                (_arrow_field_type(schema, path)[1] for schema in files.values()), key=len
            )
            found: list[str] = []
            for schema in files.values():
                found.extend(n for n in schema.names if n not in found and n != DAY)
            raise SourceSchemaError(
                f"{context}: required column {missing} is missing. "
                f"Columns found: {', '.join(found)}."
            )


def check_ready_day(
    name: str, day: str, folder: Location, min_success_markers: int, allow_unready: bool
) -> dict[str, pa.Schema]:
    """Ready (enough _SUCCESS markers) and every file's footer readable, before Spark.
    Returns each data file's schema, by URI."""
    files = folder.files()
    markers = sum(1 for f in files if f.base_name == MARKER)
    if markers < min_success_markers and not allow_unready:
        raise SourceNotReadyError(
            f"table {name}, day {day}: not ready, {markers} _SUCCESS marker(s) under "
            f"{folder.uri}, {min_success_markers} needed. Upstream may still be "
            "writing it; wait for the arrival sensor, or set "
            "ADDON_OKRS_ALLOW_UNREADY_SOURCES=true to build it as it is."
        )
    data_files = list(filter(is_data_file, files))
    if not data_files:
        raise EmptySourceDayError(
            f"table {name}, day {day}: no data files under {folder.uri} (only "
            f"{len(files)} marker or hidden file(s)). Upstream wrote an empty day; rewrite "
            "it upstream, then run the day again."
        )
    footers: dict[str, pa.Schema] = {}
    for info in data_files:
        uri = f"{folder.uri}{info.path[len(folder.path) :]}"
        try:
            footers[uri] = pq.read_metadata(
                info.path, filesystem=folder.fs
            ).schema.to_arrow_schema()
        except Exception as error:
            raise CorruptSourceFileError(
                f"table {name}, day {day}: {uri} is not a readable parquet file ({error}). "
                "Rewrite or remove it upstream, then run the day again."
            ) from error
    return footers


# The contracts' leaf types (SOURCE_CONTRACTS), as Spark types.
_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "boolean": T.BooleanType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
}


def read_schema(contract: dict[str, str]) -> T.StructType:
    """The narrowest schema that holds the contract's paths (`a[].b` as an array of structs
    with field b), plus the day as a string: what Spark reads of a source day, nothing else."""
    root: dict[str, object] = {}
    for path, type_name in contract.items():
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[parts[-1]] = _SPARK_TYPES[type_name]

    def build(node: dict[str, object]) -> T.StructType:
        fields = []
        for part, child in node.items():
            name, into_array = (part[:-2], True) if part.endswith("[]") else (part, False)
            dtype = build(child) if isinstance(child, dict) else child
            assert isinstance(dtype, T.DataType)
            fields.append(T.StructField(name, T.ArrayType(dtype) if into_array else dtype))
        return T.StructType(fields)

    return T.StructType([*build(root).fields, T.StructField(DAY, T.StringType())])
