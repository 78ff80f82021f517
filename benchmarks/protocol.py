"""The write protocol's cost: `materialize` of one day (the graph up to addon_aggregates and
its checks) with this checkout's code against the same run with the code of the commit before
the protocol (leases, recovery of dead runs only), interleaved round by round, each run a fresh
process tree on the same cached day.

    .venv/bin/python -m benchmarks.protocol [--before 0d848dd] [--clients 1000000] [--repeat 3]

The other commit is checked out as a git worktree under .cache/bench/. Prints a markdown
table (docs/performance.md quotes it)."""

import argparse
import subprocess
import sys
from pathlib import Path

from benchmarks.results import runs_table
from benchmarks.run import REPO, materialize_rounds

BEFORE = "0d848dd"  # the last commit before the lease protocol (6acbcea)


def worktree(cache: Path, commit: str) -> Path:
    """A checkout of `commit` under the cache, made once."""
    folder = cache / f"worktree-{commit}"
    if not folder.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), commit],
            check=True,
        )
    return folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.protocol", description=__doc__)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients in the day")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument(
        "--select",
        default="*addon_aggregates",
        help="the assets each run builds (dagster's selection syntax; '*' for every asset)",
    )
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args(argv)
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    checkouts = {f"before ({args.before})": worktree(cache, args.before), "after": REPO}
    contenders = {label: {"repo": repo} for label, repo in checkouts.items()}
    samples = materialize_rounds(
        cache, args.clients, args.repeat, "protocol", contenders, args.select
    )
    print(
        f"\n`materialize --select '{args.select}'`, one day of {args.clients:,} clients, "
        f"{args.repeat} rounds:\n"
    )
    print(runs_table(samples, "code"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
