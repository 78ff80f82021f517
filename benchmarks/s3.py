"""One day built with local roots and with S3 roots on a loopback S3 API (SeaweedFS), interleaved
round by round, each run a fresh `addon-okrs materialize` process; for the S3 runs the server's
own counters give the requests by kind and the bytes each way. Then the requests of one day's
staged write and swap alone, as the day's file count grows, with each of Spark's two ways to
commit a write to S3: the classic rename-based FileOutputCommitter, and the S3A magic committer.

    .venv/bin/python -m benchmarks.s3 [--clients 1000000] [--repeat 2] [--files 1,4,16,64]

The source day is the benchmarks' cached one (.cache/bench/data), uploaded object for object.
The magic committer needs Spark's spark-hadoop-cloud module, which Maven Central serves for
Spark 4.1.1 but not for the installed 4.3.0: it is fetched for this measurement only.
Prints markdown tables (docs/storage.md and docs/performance.md quote them)."""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from addon_okrs.settings import Settings
from benchmarks.run import FIRST_DAY, REPO, source_data
from harness.servers import S3Server, child_env, s3_counters, seaweedfs_server

BIN = Path(sys.executable).parent
BUCKET = "bench"
CLOUD = "org.apache.spark:spark-hadoop-cloud_2.13:4.1.1"
CLOUD_JAR = "repository/org/apache/spark/spark-hadoop-cloud_2.13/4.1.1"  # in the Maven cache
MAGIC = {
    "spark.sql.sources.commitProtocolClass": (
        "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol"
    ),
    "spark.sql.parquet.output.committer.class": (
        "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"
    ),
    "spark.hadoop.mapreduce.outputcommitter.factory.scheme.s3a": (
        "org.apache.hadoop.fs.s3a.commit.S3ACommitterFactory"
    ),
    "spark.hadoop.fs.s3a.committer.name": "magic",
    "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
}
KINDS = ("LIST", "HEAD", "GET", "PUT", "COPY", "DELETE", "POST")


def cloud_jar() -> str:
    repository = Settings.from_env().cache_folder() / "m2"
    jar = repository / CLOUD_JAR / "spark-hadoop-cloud_2.13-4.1.1.jar"
    if not jar.exists():
        subprocess.run(
            ["mvn", "-B", "-q", f"-Dmaven.repo.local={repository / 'repository'}",
             "dependency:get", f"-Dartifact={CLOUD}", "-Dtransitive=false"],
            check=True,
        )  # fmt: skip
    return str(jar)


def conf_text(conf: dict[str, str]) -> str:
    return json.dumps({"spark.ui.enabled": "false", **conf})


def upload(server: S3Server, folder: Path, prefix: str) -> int:
    client, count = server.client(), 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder)}")
            count += 1
    return count


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


def requests(counted: dict[str, float]) -> str:
    kinds = sorted(k.split(":", 1)[1] for k in counted if k.startswith("request:") and counted[k])
    return ", ".join(f"{kind} {counted['request:' + kind]:,.0f}" for kind in kinds)


def materialize(env: dict[str, str], log: Path) -> float:
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(
            [str(BIN / "addon-okrs"), "materialize", "--date", FIRST_DAY],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the run failed; see {log}")
    return time.monotonic() - started


WRITE_PROBE = """
import json, sys, time
from addon_okrs.defs.resources.spark import spark_resource
from addon_okrs.settings import Settings
from addon_okrs.storage.table_store import TableStore
settings = Settings.from_env()
spark = spark_resource(settings).get_session()
store = TableStore(spark, settings.warehouse())
day, files, counters_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# Without its client_id column the day is written plain, not in 8 buckets: as many files as
# the probe asks for.
frame = store.read("count_by_client_day", [day]).withColumnRenamed("client_id", "client")
frame = frame.repartition(files).cache()
frame.count()
import urllib.request
def counters():
    return urllib.request.urlopen(counters_url).read().decode()
before = counters()
started = time.monotonic()
store.write("count_by_client_day", [day], frame, run_id=f"probe-{files}")
print(json.dumps({"seconds": time.monotonic() - started, "before": before, "after": counters()}))
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3", description=__doc__)
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients in the day")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; figures are medians")
    parser.add_argument("--files", default="1,4,16,64", help="file counts of the write probe")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args(argv)
    cache = args.cache.resolve()
    source = source_data(cache, args.clients, 1)
    work = Path(tempfile.mkdtemp(prefix="s3-", dir=cache))
    magic = {**MAGIC, "spark.jars": cloud_jar()}
    try:
        with seaweedfs_server(work / "seaweedfs", metrics=True) as server:
            server.client().create_bucket(Bucket=BUCKET)
            print(f"uploaded {upload(server, source, 'src')} source objects", flush=True)
            base = child_env(**server.env(), DAGSTER_HOME=str(work / "home"))
            (work / "home").mkdir()
            for unset in ("ADDON_OKRS_INTERMEDIATE_ROOT", "ADDON_OKRS_SPARK_CONF"):
                base.pop(unset, None)
            contenders = {
                "local roots": {
                    "ADDON_OKRS_SOURCE_ROOT": source.as_uri(),
                    "ADDON_OKRS_OUTPUT_ROOT": (work / "local").as_uri(),
                    "ADDON_OKRS_SPARK_CONF": conf_text({}),
                },
                "S3, classic committer": {
                    "ADDON_OKRS_SOURCE_ROOT": f"s3a://{BUCKET}/src",
                    "ADDON_OKRS_OUTPUT_ROOT": f"s3a://{BUCKET}/classic",
                    "ADDON_OKRS_SPARK_CONF": conf_text({}),
                },
                "S3, magic committer": {
                    "ADDON_OKRS_SOURCE_ROOT": f"s3a://{BUCKET}/src",
                    "ADDON_OKRS_OUTPUT_ROOT": f"s3a://{BUCKET}/magic",
                    "ADDON_OKRS_SPARK_CONF": conf_text(magic),
                },
            }
            walls: dict[str, list[float]] = {label: [] for label in contenders}
            counted: dict[str, dict[str, float]] = {}
            for round_ in range(1, args.repeat + 1):
                for label, env in contenders.items():
                    before = server.counters()
                    log = work / f"{label.replace(' ', '_').replace(',', '')}-{round_}.log"
                    walls[label].append(materialize({**base, **env}, log))
                    counted[label] = delta(before, server.counters())
                    print(f"round {round_}: {label}: {walls[label][-1]:.1f} s", flush=True)
            print(f"\nOne day of {args.clients:,} clients, `addon-okrs materialize` (every "
                  f"asset and check), {args.repeat} rounds interleaved:\n")  # fmt: skip
            print("| roots | wall s (median) | runs (s) | S3 requests (last run) | "
                  "MB to S3 | MB from S3 |")  # fmt: skip
            print("|---|---|---|---|---|---|")
            for label, runs in walls.items():
                c = counted[label]
                print(
                    f"| {label} | {statistics.median(runs):.1f} | "
                    f"{', '.join(f'{w:.1f}' for w in runs)} | {requests(c) or '-'} | "
                    f"{c.get('bytes:received', 0) / 1e6:,.1f} | "
                    f"{c.get('bytes:sent', 0) / 1e6:,.1f} |"
                )
            print("\nOne day's staged write and swap of `count_by_client_day` alone (the "
                  "frame cached first), by the day's file count:\n")  # fmt: skip
            print("| committer | files | seconds | S3 requests |")
            print("|---|---|---|---|")
            for label in ("S3, classic committer", "S3, magic committer"):
                env = {**base, **contenders[label]}
                for files in [int(f) for f in args.files.split(",")]:
                    done = subprocess.run(
                        [str(BIN / "python"), "-c", WRITE_PROBE, FIRST_DAY, str(files),
                         str(server.metrics_url)],
                        env=env, capture_output=True, text=True, cwd=REPO,
                    )  # fmt: skip
                    if done.returncode != 0:
                        raise RuntimeError(done.stderr[-3000:])
                    probe = json.loads(done.stdout.strip().splitlines()[-1])
                    c = delta(s3_counters(probe["before"]), s3_counters(probe["after"]))
                    print(f"| {label.split(', ')[1]} | {files} | {probe['seconds']:.1f} | "
                          f"{requests(c)} |", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
