"""Run one command as a fresh process tree and measure it: wall time and peak memory (the sum
over the process and all its descendants, the JVM included, of each one's proportional set
size: its resident memory with shared pages divided among the processes that share them).

Not the plain sum of resident sets: the JVM forks short-lived children (Hadoop's local file
system runs shell commands while the output is committed), and a fork that has not yet exec'd
shows the JVM's whole resident set again although it shares every page. Summing RSS counted
the 2 GB JVM twice at such moments: peaks of 4.6 GB for a tree that held 2.4 GB."""

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


def proportional_set_size(process: psutil.Process) -> int:
    """Pss from /proc/<pid>/smaps_rollup (Linux 4.14+); the resident set where unavailable."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss


def tree_memory(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            total += proportional_set_size(process)
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
                peak = max(peak, tree_memory(watched))
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        wall = time.monotonic() - started
    return Measured(wall_seconds=wall, peak_rss_bytes=peak, returncode=process.returncode)
