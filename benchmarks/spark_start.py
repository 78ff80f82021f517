"""What the Spark class archive (addon_okrs/runtime/class_archive.py) saves a run: one
small day (2,000 clients) through `dagster asset materialize` in a fresh process, as a
production run and the CLI, `dg` and `dagster dev` tests run it, alternately without the
archive (ADDON_OKRS_SPARK_CLASS_ARCHIVE=false) and with it (the default), each run on its own
Dagster home and output root.

    .venv/bin/python -m benchmarks.spark_start --repeat 6 \\
        --try 'C1 only=-XX:TieredStopAtLevel=1'

Each `--try` is `LABEL=JVM options`, run with the archive and those options (through
SPARK_SUBMIT_OPTS). Prints the wall time of each run and the medians as a markdown table
(docs/contributing.md quotes it)."""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from addon_okrs.tools.generate import generate_day
from harness import spark_cds
from harness.servers import child_env, materialize_command

DAY = "20170601"
REPO = Path(__file__).resolve().parents[1]


WITHOUT = "without"


def one_run(base: Path, label: str, opts: str) -> float:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=base))
    env = child_env(
        DAGSTER_HOME=str(home),
        ADDON_OKRS_SOURCE_ROOT=(base / "sources").as_uri(),
        ADDON_OKRS_OUTPUT_ROOT=(home / "output").as_uri(),
        ADDON_OKRS_SPARK_CLASS_ARCHIVE="false" if label == WITHOUT else "true",
        SPARK_SUBMIT_OPTS=opts,
    )
    started = time.monotonic()
    done = subprocess.run(materialize_command(DAY), env=env, capture_output=True, cwd=REPO)
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"the {label!r} run of {DAY} failed ({done.returncode})")
    return took


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark_start", description=__doc__)
    parser.add_argument("--repeat", type=int, default=6, help="rounds; figures are medians")
    parser.add_argument(
        "--try", dest="tries", action="append", default=[], metavar="LABEL=OPTIONS",
        help="JVM options to try on top of the archive: LABEL=options (repeatable)",
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
    times: dict[str, list[float]] = {label: [] for label in contenders}
    with tempfile.TemporaryDirectory(prefix="spark-start-") as scratch:
        base = Path(scratch)
        generate_day((base / "sources").as_uri(), DAY, clients=2000, seed=1, samples=2)
        for round_ in range(args.repeat):
            for label, opts in contenders.items():
                times[label].append(one_run(base, label, opts))
                print(f"round {round_ + 1}: {label} {times[label][-1]:.1f} s", flush=True)
    print("\n| one day, 2,000 clients, fresh process | median | runs |\n|---|---|---|")
    for label, taken in times.items():
        runs = ", ".join(f"{t:.1f}" for t in taken)
        print(f"| {label} | {statistics.median(taken):.1f} s | {runs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
