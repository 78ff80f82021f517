"""The Spark resource's set-up errors, written for the person who has to fix them, and the
Spark settings reaching it."""

import fcntl
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

from addon_okrs.defs.resources.spark import SparkResource, spark_resource
from addon_okrs.runtime import class_archive
from addon_okrs.runtime.java import JavaNotFoundError, find_java
from addon_okrs.runtime.spark import (
    GB,
    Machine,
    local_sizes,
    run_conf,
    session_conf,
    with_class_archive,
)
from addon_okrs.settings import Settings, SettingsError, parse_spark_conf
from addon_okrs.tools import cli
from addon_okrs.tools.generate import generate_days
from addon_okrs.tools.in_process import start_spark_early
from harness import spark_cds
from harness.servers import child_env, materialize_command
from harness.settings import small_spark


def test_no_java_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")

    with pytest.raises(
        JavaNotFoundError,
        match=r"Spark needs Java 17, 21 or 25 and none was found "
        r".*apt-get install -y openjdk-17-jre-headless",
    ):
        SparkResource(spark_config=session_conf("local[1]", None, {})).get_session()


def test_java_home_without_java_names_the_folder() -> None:
    with pytest.raises(JavaNotFoundError, match=r"^JAVA_HOME=/opt/no-such-jdk has no bin/java"):
        find_java("/opt/no-such-jdk")


def test_spark_conf_setting_takes_pairs_lines_or_json() -> None:
    assert parse_spark_conf("spark.a=1, spark.b = x=y") == {"spark.a": "1", "spark.b": "x=y"}
    assert parse_spark_conf("# cluster\nspark.a=1\n\nspark.b=2\n") == {
        "spark.a": "1",
        "spark.b": "2",
    }
    assert parse_spark_conf('{"spark.a": 1, "spark.b": true}') == {
        "spark.a": "1",
        "spark.b": "True",
    }
    assert parse_spark_conf("  ") == {}
    # On several lines, a value keeps its commas.
    assert parse_spark_conf("spark.jars.packages=a:b:1,c:d:2\nspark.x=1") == {
        "spark.jars.packages": "a:b:1,c:d:2",
        "spark.x": "1",
    }


def test_spark_conf_setting_says_what_is_wrong() -> None:
    with pytest.raises(SettingsError, match=r"ADDON_OKRS_SPARK_CONF: 'spark.a' is not key=value"):
        parse_spark_conf("spark.a")
    with pytest.raises(SettingsError, match="ADDON_OKRS_SPARK_CONF is not valid JSON"):
        parse_spark_conf("{spark.a: 1}")


def test_spark_settings_reach_the_resource() -> None:
    settings = Settings.from_env(
        {
            "ADDON_OKRS_SPARK_CONF": "spark.sql.shuffle.partitions=400",
            "ADDON_OKRS_SPARK_MASTER": "spark://m:7077",
            "JAVA_HOME": "/opt/jdk",
        }
    )

    resource = spark_resource(settings)

    # A cluster master gets the plan's defaults and the setting's override, not local mode's.
    assert resource.spark_config == {
        "spark.app.name": "addon_okrs",
        "spark.master": "spark://m:7077",
        "spark.sql.requireAllClusterKeysForCoPartition": "false",
        "spark.sql.shuffle.partitions": "400",
    }
    assert (resource.is_local, resource.java_home) == (False, "/opt/jdk")


def test_a_connect_remote_wins_over_the_master_and_overrides_win_over_defaults() -> None:
    assert session_conf("local[2]", "sc://h:15002", {"spark.a": "1"}) == {
        "spark.remote": "sc://h:15002",
        "spark.sql.requireAllClusterKeysForCoPartition": "false",
        "spark.a": "1",
    }
    local = session_conf("local[2]", None, {"spark.driver.memory": "6g"}, None, Machine(2, 24 * GB))
    assert (local["spark.master"], local["spark.driver.memory"]) == ("local[2]", "6g")
    assert local["spark.sql.shuffle.partitions"] == "8"


def sizes(master: str, cores: int, memory_gb: float) -> tuple[str, str]:
    found = local_sizes(master, Machine(cores, int(memory_gb * GB)))
    return found["spark.driver.memory"], found["spark.sql.shuffle.partitions"]


def test_local_mode_sizes_follow_the_cores_and_memory_found() -> None:
    # A quarter of the memory found, to the nearest GB, for the driver's heap; 4 shuffle
    # partitions per core the master runs tasks on ...
    assert sizes("local[*]", 2, 23.54) == ("6g", "8")  # the machine the project is measured on
    assert sizes("local[*]", 6, 64) == ("16g", "24")
    assert sizes("local[3]", 16, 30) == ("8g", "12")  # 7.5 rounds up
    assert sizes("local[4,2]", 16, 29.9) == ("7g", "16")
    assert sizes("local", 8, 64) == ("16g", "8")
    # ... at least 2 GB and 8 partitions, the fixed sizes of earlier rounds, however small the
    # machine ...
    assert sizes("local[*]", 1, 4) == ("2g", "8")
    assert sizes("local[1]", 1, 6) == ("2g", "8")
    # ... and at most 31 GB, where the JVM's compressed object pointers end.
    assert sizes("local[*]", 96, 512) == ("31g", "384")


def young(master: str, cores: int, memory_gb: float) -> str:
    options = local_sizes(master, Machine(cores, int(memory_gb * GB)))
    assert options["spark.driver.extraJavaOptions"].startswith("-XX:+UseParallelGC ")
    return options["spark.driver.extraJavaOptions"].removeprefix("-XX:+UseParallelGC ")


def test_local_mode_caps_the_young_generation_per_two_cores() -> None:
    # 683 MB (the third of the 2 GB floor's heap) per 2 cores the master runs tasks on ...
    assert young("local[*]", 2, 23.54) == "-XX:MaxNewSize=683m"  # 6 GB heap
    assert young("local[*]", 6, 64) == "-XX:MaxNewSize=2049m"  # 16 GB heap
    assert young("local[3]", 16, 30) == "-XX:MaxNewSize=1024m"
    assert young("local", 8, 64) == "-XX:MaxNewSize=683m"  # 1 core counts as 2
    # ... never above the third of the heap the collector would take itself.
    assert young("local[*]", 1, 4) == "-XX:MaxNewSize=682m"  # 2 GB heap
    assert young("local[*]", 96, 512) == "-XX:MaxNewSize=10581m"  # 31 GB heap


@pytest.mark.process
def test_the_young_generation_cap_is_the_one_the_driver_s_jvm_takes() -> None:
    conf = session_conf("local[*]", None, {}, None, Machine(2, int(23.54 * GB)))
    options = conf["spark.driver.extraJavaOptions"].split()
    done = subprocess.run(
        [find_java(os.environ.get("JAVA_HOME")), f"-Xmx{conf['spark.driver.memory']}", *options,
         "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    flags = {
        line.split()[1]: line.split()[3]
        for line in done.stdout.splitlines()
        if line.split()[1:2] in (["MaxNewSize"], ["MaxHeapSize"], ["UseParallelGC"])
    }
    assert flags == {
        "MaxHeapSize": str(6 * GB),
        "MaxNewSize": str(683 << 20),
        "UseParallelGC": "true",
    }


def test_local_mode_sizes_reach_the_session_and_lose_to_overrides() -> None:
    machine = Machine(cores=6, memory_bytes=64 * GB)
    conf = session_conf("local[*]", None, {"spark.sql.shuffle.partitions": "3"}, None, machine)
    assert (conf["spark.driver.memory"], conf["spark.sql.shuffle.partitions"]) == ("16g", "3")
    # Neither a cluster master nor a Connect remote gets local mode's sizes.
    for master, remote in (("spark://m:7077", None), ("local[*]", "sc://h:15002")):
        conf = session_conf(master, remote, {}, None, machine)
        assert {"spark.driver.memory", "spark.sql.shuffle.partitions"} & set(conf) == set()


def test_the_machine_found_is_this_process_s() -> None:
    found = Machine.found()
    assert found.cores == len(os.sched_getaffinity(0))
    assert 0 < found.memory_bytes <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_the_suites_own_sessions_take_extra_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ADDON_OKRS_TEST_SPARK_CONF", "spark.plugins=p.Plugin,spark.sql.shuffle.partitions=3"
    )

    assert small_spark() == {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "3",
        "spark.driver.memory": "2g",
        "spark.plugins": "p.Plugin",
    }


def test_a_bad_extra_setting_for_the_suite_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADDON_OKRS_TEST_SPARK_CONF", "spark.plugins")

    with pytest.raises(
        SettingsError, match=r"^ADDON_OKRS_TEST_SPARK_CONF: 'spark.plugins' is not key=value"
    ):
        small_spark()


def spark_classes_loaded_by(session: str, env: dict[str, str], log: Path) -> dict[str, str]:
    """Where the driver of the Python `session`, run with `env`, loaded SparkSession and
    SparkContext from, by its class-loading log `log`."""
    subprocess.run([sys.executable, "-c", session], env=env, check=True, capture_output=True)
    sources = {
        line.split()[1]: line.split(" source: ", 1)[1]
        for line in log.read_text().splitlines()
        if " source: " in line
    }
    wanted = ("org.apache.spark.sql.SparkSession", "org.apache.spark.SparkContext")
    return {name: sources[name] for name in wanted}


@pytest.mark.process
def test_the_suites_spark_drivers_load_spark_from_the_class_archive(tmp_path: Path) -> None:
    archive = spark_cds.ensure_archive()
    assert archive is not None
    assert archive.name.startswith(f"pyspark-{pyspark.__version__}-")
    log = tmp_path / "classes.log"
    opts = spark_cds.submit_opts(archive, f"-Xlog:class+load=info:file={log}")
    session = (
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false')"
        ".getOrCreate()\n"
        "assert spark.range(10).count() == 10\n"
    )
    env = child_env(SPARK_SUBMIT_OPTS=opts)
    assert spark_classes_loaded_by(session, env, log) == {
        "org.apache.spark.sql.SparkSession": "shared objects file (top)",
        "org.apache.spark.SparkContext": "shared objects file (top)",
    }


def test_a_local_run_s_driver_is_given_the_class_archive_made_for_its_java_and_class_path(
    tmp_path: Path,
) -> None:
    java = find_java(os.environ.get("JAVA_HOME"))
    conf = {"spark.master": "local[2]", "spark.driver.extraJavaOptions": "-XX:+UseParallelGC"}
    archive = class_archive.archive_path(tmp_path, java)
    assert archive is not None and archive.parent == tmp_path
    # None made in that folder: the driver writes it at its exit, to a file of this process's.
    partial = tmp_path / f".{archive.name}.{os.getpid()}"
    assert with_class_archive(conf, tmp_path, None) == (
        {
            "spark.master": "local[2]",
            "spark.driver.extraJavaOptions": f"-XX:+UseParallelGC -XX:ArchiveClassesAtExit="
            f"{partial} -Xlog:cds=off -Xlog:cds+dynamic=off",
        },
        class_archive.Pending(partial, archive),
    )
    assert with_class_archive(conf, tmp_path, None, write=False) == (conf, None)
    archive.write_bytes(b"")  # only its presence counts here; the JVM checks the contents
    assert with_class_archive(conf, tmp_path, None) == (
        {
            "spark.master": "local[2]",
            "spark.driver.extraJavaOptions": f"-XX:+UseParallelGC -XX:SharedArchiveFile="
            f"{archive} -Xlog:cds=off -Xlog:cds+dynamic=off",
        },
        None,
    )
    # Another class path (the S3 connector's jars, say) is another archive, not made yet.
    with_jars = {**conf, "spark.driver.extraClassPath": "/jars/hadoop-aws.jar"}
    assert class_archive.archive_path(tmp_path, java, "/jars/hadoop-aws.jar") != archive
    assert with_class_archive(with_jars, tmp_path, None, write=False) == (with_jars, None)
    # No Java: nothing added; the session's start says what to install.
    assert with_class_archive(conf, tmp_path, str(tmp_path / "no-jdk")) == (conf, None)


def test_the_class_archive_setting_reaches_local_mode_only(tmp_path: Path) -> None:
    assert spark_cds.ensure_archive() is not None  # made for local runs without extra jars
    roots = {"source_root": str(tmp_path), "output_root": str(tmp_path / "out")}
    roots["intermediate_root"] = str(tmp_path / "mid")

    def options(**given: object) -> str:
        conf = spark_resource(Settings(**roots, **given)).spark_config  # type: ignore[arg-type]
        return str(conf.get("spark.driver.extraJavaOptions", ""))

    assert "-XX:SharedArchiveFile=" in options()
    assert "-XX:SharedArchiveFile=" not in options(spark_class_archive=False)
    assert options(spark_master="spark://m:7077") == ""
    assert options(spark_remote="sc://h:15002") == ""


def test_a_local_session_starts_early_on_a_thread_and_the_run_s_resource_gets_it(
    tmp_path: Path, spark: SparkSession
) -> None:
    roots = {"source_root": str(tmp_path), "output_root": str(tmp_path / "out")}
    roots["intermediate_root"] = str(tmp_path / "mid")
    local = Settings(**roots, spark_master="local[2]", spark_conf=small_spark())  # type: ignore[arg-type]

    thread = start_spark_early(local)

    assert thread is not None and thread.name == "spark-start"
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert spark_resource(local).get_session() is spark
    # Nothing to start here for a cluster, a Connect server, or an S3 root without its connector.
    assert start_spark_early(Settings(**roots, spark_master="spark://m:7077")) is None  # type: ignore[arg-type]
    assert start_spark_early(Settings(**roots, spark_remote="sc://h:15002")) is None  # type: ignore[arg-type]
    on_s3 = {**roots, "output_root": "s3a://bucket/out"}
    no_connector = Settings(**on_s3, spark_jars=("/no/such/hadoop-aws.jar",))  # type: ignore[arg-type]
    assert start_spark_early(no_connector) is None


def test_a_class_archive_named_by_spark_submit_s_own_options_is_left_to_itself(
    tmp_path: Path,
) -> None:
    roots = {"source_root": str(tmp_path), "output_root": str(tmp_path / "out")}
    roots["intermediate_root"] = str(tmp_path / "mid")
    cache = str(tmp_path / "cache")  # no archive there: the run's driver would write one

    def options(submit_opts: str | None) -> tuple[str, object]:
        given = Settings(**roots, cache_dir=cache, spark_submit_opts=submit_opts)  # type: ignore[arg-type]
        run = run_conf(given)
        return str(run.conf["spark.driver.extraJavaOptions"]), run.archive

    written, pending = options(None)
    assert "-XX:ArchiveClassesAtExit=" in written and pending is not None
    for named in ("-XX:SharedArchiveFile=/a.jsa", "-Xmx1g -XX:ArchiveClassesAtExit=/b.jsa"):
        assert options(named) == ("-XX:+UseParallelGC " + written.split(" ")[1], None)


# A run's session as the pipeline builds it: the resource of the settings in the environment.
RESOURCE_SESSION = (
    "from addon_okrs.defs.resources.spark import spark_resource\n"
    "from addon_okrs.settings import Settings\n"
    "resource = spark_resource(Settings.from_env())\n"
    "spark = resource.process_config_and_initialize().get_session()\n"
    "assert spark.range(10).count() == 10\n"
)


@pytest.mark.process
def test_a_run_s_driver_started_by_the_spark_resource_loads_spark_from_the_archive(
    tmp_path: Path,
) -> None:
    log = tmp_path / "classes.log"
    session = RESOURCE_SESSION
    env = child_env(
        SPARK_SUBMIT_OPTS="",  # not the suite's way: the archive comes from the resource's conf
        ADDON_OKRS_WAREHOUSE=tmp_path.as_uri(),
        ADDON_OKRS_SPARK_MASTER="local[1]",
        ADDON_OKRS_SPARK_CONF=(
            "spark.ui.enabled=false,spark.driver.memory=1g,"
            f"spark.driver.extraJavaOptions=-Xlog:class+load=info:file={log}"
        ),
    )
    assert spark_classes_loaded_by(session, env, log) == {
        "org.apache.spark.sql.SparkSession": "shared objects file (top)",
        "org.apache.spark.SparkContext": "shared objects file (top)",
    }


@pytest.mark.process
def test_the_first_local_run_writes_the_class_archive_at_its_exit_and_the_next_maps_it(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    session = RESOURCE_SESSION
    conf = "spark.ui.enabled=false,spark.driver.memory=1g"
    env = child_env(
        SPARK_SUBMIT_OPTS="",
        ADDON_OKRS_WAREHOUSE=tmp_path.as_uri(),
        ADDON_OKRS_CACHE_DIR=str(cache),
        ADDON_OKRS_SPARK_MASTER="local[1]",
        ADDON_OKRS_SPARK_CONF=conf,
    )

    subprocess.run([sys.executable, "-c", session], env=env, check=True, capture_output=True)

    [archive] = (cache / "spark-cds").iterdir()  # placed whole; no partial file left
    assert archive.name.startswith(f"pyspark-{pyspark.__version__}-")
    assert archive.suffix == ".jsa" and archive.stat().st_size > 50_000_000
    log = tmp_path / "classes.log"
    env["ADDON_OKRS_SPARK_CONF"] = (
        f"{conf},spark.driver.extraJavaOptions=-Xlog:class+load=info:file={log}"
    )
    assert spark_classes_loaded_by(session, env, log) == {
        "org.apache.spark.sql.SparkSession": "shared objects file (top)",
        "org.apache.spark.SparkContext": "shared objects file (top)",
    }


def test_the_class_archive_command_says_what_it_made_or_why_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    made = spark_cds.ensure_archive()
    assert made is not None
    monkeypatch.setenv("ADDON_OKRS_WAREHOUSE", tmp_path.as_uri())
    assert cli.main(["class-archive"]) == 0  # made already: found, not made again
    size = f"{made.stat().st_size / 1e6:.0f} MB"
    assert re.fullmatch(rf"class-archive: {made} \({size}, \d+\.\d s\)\n", capsys.readouterr().out)

    monkeypatch.setenv("ADDON_OKRS_SPARK_CLASS_ARCHIVE", "false")
    assert cli.main(["class-archive"]) == 0
    assert capsys.readouterr().out == (
        "class-archive: ADDON_OKRS_SPARK_CLASS_ARCHIVE is false; nothing to make\n"
    )
    monkeypatch.delenv("ADDON_OKRS_SPARK_CLASS_ARCHIVE")
    monkeypatch.setenv("ADDON_OKRS_SPARK_MASTER", "spark://m:7077")
    assert cli.main(["class-archive"]) == 0
    assert capsys.readouterr().out == (
        "class-archive: Spark runs outside this process tree here; nothing to make\n"
    )
    monkeypatch.delenv("ADDON_OKRS_SPARK_MASTER")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert cli.main(["class-archive"]) == 2
    assert capsys.readouterr().err.startswith(
        f"addon-okrs: JAVA_HOME={tmp_path}/no-jdk has no bin/java"
    )


def test_no_class_archive_is_made_for_a_java_that_does_not_run(tmp_path: Path) -> None:
    with pytest.raises(
        class_archive.ClassArchiveError,
        match=r"^/bin/false does not run, so no Spark class archive can be made for it$",
    ):
        class_archive.make(tmp_path, "/bin/false")
    assert list(tmp_path.iterdir()) == []


def test_a_maker_that_finds_another_making_the_archive_waits_and_makes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = find_java(os.environ.get("JAVA_HOME"))
    target = class_archive.archive_path(tmp_path, java)
    assert target is not None
    jobs: list[Path] = []
    monkeypatch.setattr(class_archive, "_run_job", lambda t, *_: jobs.append(t))
    made: list[Path] = []
    with open(tmp_path / f".{target.name}.lock", "a") as other:  # another maker, mid-job
        fcntl.flock(other, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: made.append(class_archive.make(tmp_path, java)))
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and made == []  # waiting on the lock
        target.write_bytes(b"archive")  # the other maker's archive, placed whole
    waiter.join(timeout=10)

    assert made == [target] and jobs == []
    assert target.read_bytes() == b"archive"


@pytest.mark.process
def test_a_driver_jvm_that_exits_at_its_start_fails_the_run_at_once_naming_its_options(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "sources"
    generate_days(sources.as_uri(), "20170501", 1, clients=50, seed=3, samples=1)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").touch()
    env = child_env(
        SPARK_SUBMIT_OPTS="",
        DAGSTER_HOME=str(tmp_path / "home"),
        ADDON_OKRS_SOURCE_ROOT=sources.as_uri(),
        ADDON_OKRS_OUTPUT_ROOT=(tmp_path / "out").as_uri(),
        ADDON_OKRS_SPARK_MASTER="local[1]",
        ADDON_OKRS_SPARK_CLASS_ARCHIVE="false",
        ADDON_OKRS_SPARK_CONF=(
            "spark.ui.enabled=false,spark.driver.memory=1g,"
            "spark.driver.extraJavaOptions=-Xss1k"  # a stack too small for any thread
        ),
    )

    done = subprocess.run(
        materialize_command("20170501"), env=env, capture_output=True, text=True, timeout=300
    )

    output = done.stdout + done.stderr
    (tmp_path / "run.log").write_text(output)
    assert done.returncode == 1
    assert "The Java thread stack size specified is too small" in output  # the JVM's own words
    assert (
        "local Spark's driver JVM exited before it started, with spark.driver.memory='1g', "
        "spark.driver.extraJavaOptions='-Xss1k' (ADDON_OKRS_SPARK_CONF and SPARK_SUBMIT_OPTS set "
        "these;"
    ) in output
    assert "STEP_UP_FOR_RETRY" not in output and "RetryRequestedFromPolicy" not in output
    # The two steps that read the sources each fail once, at their first use of Spark.
    failed = re.findall(r'STEP_FAILURE - Execution of step "(\w+)" failed', output)
    assert failed == ["count_by_client_day", "ms_has_theme"]
