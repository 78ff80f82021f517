"""How many files a day of output is written as (docs/dataset.md, "File sizing")."""

import math

TARGET_FILE_MB = 280  # the size each output file aims at (settings: ADDON_OKRS_TARGET_FILE_MB)
FALLBACK_BYTES_PER_RECORD = 39.0  # the notebook's estimate, used until a day has been written
BYTES_PER_MB = 1_000_000


def file_count(rows: int, bytes_per_record: float, target_file_mb: float) -> int:
    return max(1, math.ceil(rows * bytes_per_record / (target_file_mb * BYTES_PER_MB)))


def bytes_per_record(total_bytes: int, rows: int) -> float:
    return total_bytes / rows if rows > 0 and total_bytes > 0 else FALLBACK_BYTES_PER_RECORD
