"""Run one command as a fresh process tree and measure it: wall time, peak memory (the sum
of the resident sets of the process and all its descendants, the JVM included) and CPU time
(each process's own user and system time, the last sampled before it ended).

A child that is a fork of its parent not yet turned into another program (same command
line) is left out: the JVM forks short-lived children (Hadoop's local file system runs shell
commands while the output is committed), and such a fork shows the JVM's whole resident set
again although it shares every page. Counting it made peaks of 4.6 GB for a tree holding
2.4 GB. (Proportional set sizes would handle it too, but reading a 2 GB JVM's smaps_rollup
takes about 37 ms: polled every 0.1 s, that slowed the run it measured by 10%.)"""

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
    cpu_seconds: float


def tree(root: psutil.Process) -> list[psutil.Process]:
    """`root` and every process under it; none once it is gone."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory(root: psutil.Process, processes: list[psutil.Process]) -> int:
    """The resident memory of `processes`, the tree of `root`."""
    commands: dict[int, list[str]] = {}
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            commands[process.pid] = process.cmdline()
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            if process.pid != root.pid and commands.get(process.pid) == commands.get(
                process.ppid()
            ):
                continue  # a fork that has not exec'd: its pages are its parent's
            total += process.memory_info().rss
    return total


def tree_cpu(processes: list[psutil.Process], seen: dict[int, float]) -> None:
    """The CPU seconds so far of each of `processes` itself, into `seen` by pid. Not its
    children's times: a child reaped by its parent is in the parent's children times and, once
    sampled, in `seen` under its own pid too, so adding both counted it twice (a parent waiting
    for a 2.2 CPU-s child read as 4.0). A process that lives less than a poll is missed."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            t = process.cpu_times()
            seen[process.pid] = t.user + t.system


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
        cpu: dict[int, float] = {}
        try:
            while process.poll() is None:
                processes = tree(watched)
                peak = max(peak, tree_memory(watched, processes))
                tree_cpu(processes, cpu)
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        wall = time.monotonic() - started
    return Measured(
        wall_seconds=wall,
        peak_rss_bytes=peak,
        returncode=process.returncode,
        cpu_seconds=sum(cpu.values()),
    )
