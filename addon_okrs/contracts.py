"""Checks that a source day's schema carries what the transformations need (SOURCE_CONTRACTS)."""

from collections.abc import Sequence

from pyspark.sql import types as T

from addon_okrs.schema import DAY


class SourceSchemaError(ValueError):
    pass


def _field_type(schema: T.DataType, path: str) -> tuple[T.DataType | None, str]:
    """The type at a dotted path ("a[].b" steps into an array's elements); when a step is
    missing, None and the path up to that step."""
    current: T.DataType = schema
    walked: list[str] = []
    for part in path.split("."):
        name, into_array = (part[:-2], True) if part.endswith("[]") else (part, False)
        if not isinstance(current, T.StructType) or name not in current.fieldNames():
            return None, ".".join([*walked, name])
        walked.append(part)
        current = current[name].dataType
        if into_array:
            if not isinstance(current, T.ArrayType):
                return current, path
            current = current.elementType
    return current, path


def check_source_schema(
    table: str, days: Sequence[str], where: str, schema: T.StructType, contract: dict[str, str]
) -> None:
    """Raise SourceSchemaError naming the table, day(s), path and column when the contract fails."""
    context = f"table {table}, day(s) {', '.join(days)} ({where})"
    found = ", ".join(f.name for f in schema.fields if f.name != DAY)
    for path, expected in contract.items():
        actual, missing = _field_type(schema, path)
        if actual is None:
            raise SourceSchemaError(
                f"{context}: required column {missing} is missing. Columns found: {found}."
            )
        if actual.simpleString() != expected:
            raise SourceSchemaError(
                f"{context}: column {path} should be {expected}, found {actual.simpleString()}."
            )
