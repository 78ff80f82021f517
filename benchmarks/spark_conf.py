"""Spark settings measured alone: `materialize` of one day (the graph up to addon_aggregates
and its checks) with the project's defaults against the same run with other settings,
interleaved round by round, each run a fresh process tree on the same cached day.

    .venv/bin/python -m benchmarks.spark_conf --clients 4000000 --repeat 3 \\
        --try 'memory 6g=spark.driver.memory=6g'

Each `--try` is `LABEL=key=value,key=value` (the form of ADDON_OKRS_SPARK_CONF); each
`--try-env` is `LABEL=VARIABLE=value,VARIABLE=value`, other settings of the project, e.g.
`--try-env 'no archive=ADDON_OKRS_SPARK_CLASS_ARCHIVE=false'`. Prints a markdown table
(docs/performance.md quotes it)."""

import argparse
import sys
from pathlib import Path

from benchmarks.results import runs_table
from benchmarks.run import REPO, materialize_rounds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark_conf", description=__doc__)
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients in the day")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument(
        "--try", dest="tries", action="append", default=[], metavar="LABEL=CONF",
        help="settings to try against the defaults: LABEL=key=value,key=value (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--try-env", dest="envs", action="append", default=[], metavar="LABEL=ENV",
        help="project settings to try: LABEL=VARIABLE=value[,VARIABLE=value] (repeatable)",
    )  # fmt: skip
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args(argv)
    contenders: dict[str, tuple[str, dict[str, str]]] = {"defaults": ("", {})}
    for option, given in [("--try", t) for t in args.tries] + [("--try-env", e) for e in args.envs]:
        label, separator, text = given.partition("=")
        if not separator or "=" not in text:
            parser.error(f"{option} {given!r}: write LABEL=key=value[,key=value]")
        if option == "--try":
            contenders[label] = (text, {"ADDON_OKRS_SPARK_CONF": text})
        else:
            pairs = (item.partition("=") for item in text.split(","))
            contenders[label] = (text, {key.strip(): value.strip() for key, _, value in pairs})
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    how = {label: {"extra_env": env} for label, (_, env) in contenders.items()}
    samples = materialize_rounds(cache, args.clients, args.repeat, "spark_conf", how)
    print(f"\n`materialize`, one day of {args.clients:,} clients, {args.repeat} rounds:\n")
    print(runs_table(samples, "settings"))
    for label, (text, _) in contenders.items():
        print(f"- {label}: {text or 'the project defaults'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
