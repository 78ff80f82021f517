"""Run one command as a fresh process tree and measure it: wall time and peak memory (the sum
of the resident sets of the process and all its descendants, the JVM included)."""

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Measured:
    wall_seconds: float
    peak_rss_bytes: int
    returncode: int


def tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def measure(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Measured:
    """Run `command` to completion, its output into `log`; the whole tree is killed if we are
    interrupted, so no JVM outlives a benchmark."""
    with log.open("w") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
        watched = psutil.Process(process.pid)
        peak = 0
        try:
            while process.poll() is None:
                peak = max(peak, tree_rss(watched))
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        wall = time.monotonic() - started
    return Measured(wall_seconds=wall, peak_rss_bytes=peak, returncode=process.returncode)
