"""What the Spark class archive (addon_okrs/runtime/class_archive.py) saves a run: one
small day (2,000 clients) through `dagster asset materialize` in a fresh process, as a
production run and the CLI, `dg` and `dagster dev` tests run it, alternately without the
archive (ADDON_OKRS_SPARK_CLASS_ARCHIVE=false) and with it (the default), each run on its own
Dagster home and output root.

    .venv/bin/python -m benchmarks.spark_start --repeat 6 \\
        --try 'C1 only=-XX:TieredStopAtLevel=1'

Each `--try` is `LABEL=JVM options`, run with the archive and those options (through
SPARK_SUBMIT_OPTS). Prints the wall time of each run and the medians as a markdown table
(docs/contributing.md quotes it).

`--bytecode` adds a contender with the archive but without the installed modules' bytecode
(PYTHONPYCACHEPREFIX pointed at an empty folder, PYTHONDONTWRITEBYTECODE set): what a run pays
where the environment was installed without `--compile-bytecode` and Python may not write any.
Each run's CPU time, its process and every process under it (the Spark driver's JVM, PySpark's
workers), is sampled from /proc every 0.1 s and printed beside its wall time."""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from addon_okrs.tools.generate import generate_day
from benchmarks.procs import measure
from harness import spark_cds
from harness.servers import child_env, materialize_command

DAY = "20170601"
REPO = Path(__file__).resolve().parents[1]


WITHOUT = "without"
NO_BYTECODE = "with the archive, no bytecode"


def one_run(base: Path, label: str, opts: str) -> tuple[float, float]:
    """One run of DAY in a fresh process: its wall time and the CPU time of its processes."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=base))
    no_bytecode = (
        {"PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="no-pyc-", dir=base),
         "PYTHONDONTWRITEBYTECODE": "1"}
        if label == NO_BYTECODE
        else {}
    )  # fmt: skip
    env = child_env(
        DAGSTER_HOME=str(home),
        ADDON_OKRS_SOURCE_ROOT=(base / "sources").as_uri(),
        ADDON_OKRS_OUTPUT_ROOT=(home / "output").as_uri(),
        ADDON_OKRS_SPARK_CLASS_ARCHIVE="false" if label == WITHOUT else "true",
        SPARK_SUBMIT_OPTS=opts,
        **no_bytecode,
    )
    log = base / "run.log"
    run = measure(materialize_command(DAY), env, log, cwd=REPO)
    if run.returncode != 0:
        sys.stderr.write(log.read_text(errors="replace")[-3000:])
        raise SystemExit(f"the {label!r} run of {DAY} failed ({run.returncode})")
    return run.wall_seconds, run.cpu_seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark_start", description=__doc__)
    parser.add_argument("--repeat", type=int, default=6, help="rounds; figures are medians")
    parser.add_argument(
        "--try", dest="tries", action="append", default=[], metavar="LABEL=OPTIONS",
        help="JVM options to try on top of the archive: LABEL=options (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--bytecode", action="store_true",
        help="add a contender without the installed modules' bytecode",
    )  # fmt: skip
    args = parser.parse_args(argv)
    tries = {}
    for given in args.tries:
        label, separator, options = given.partition("=")
        if not separator or not options:
            parser.error(f"--try {given!r}: write LABEL=options")
        tries[f"with the archive, {label}"] = options
    archive = spark_cds.ensure_archive()
    if archive is None:
        raise SystemExit("no class archive could be made here (see the message above)")
    contenders = {WITHOUT: "", "with the archive": "", **tries}
    if args.bytecode:
        contenders[NO_BYTECODE] = ""
    times: dict[str, list[float]] = {label: [] for label in contenders}
    cpu: dict[str, list[float]] = {label: [] for label in contenders}
    with tempfile.TemporaryDirectory(prefix="spark-start-") as scratch:
        base = Path(scratch)
        generate_day((base / "sources").as_uri(), DAY, clients=2000, seed=1, samples=2)
        for round_ in range(args.repeat):
            for label, opts in contenders.items():
                took, used = one_run(base, label, opts)
                times[label].append(took)
                cpu[label].append(used)
                print(f"round {round_ + 1}: {label} {took:.1f} s, {used:.1f} CPU-s", flush=True)
    print(
        "\n| one day, 2,000 clients, fresh process | median | runs | median CPU | CPU of the runs |"
        "\n|---|---|---|---|---|"
    )
    for label, taken in times.items():
        runs = ", ".join(f"{t:.1f}" for t in taken)
        cpus = ", ".join(f"{c:.1f}" for c in cpu[label])
        print(
            f"| {label} | {statistics.median(taken):.1f} s | {runs} "
            f"| {statistics.median(cpu[label]):.1f} s | {cpus} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
