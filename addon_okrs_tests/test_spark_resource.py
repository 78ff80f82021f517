"""The Spark resource's set-up errors, written for the person who has to fix them."""

import pytest

from addon_okrs.resources.spark import JavaNotFoundError, SparkResource, find_java


def test_no_java_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")

    with pytest.raises(
        JavaNotFoundError,
        match=r"Spark needs Java 17, 21 or 25 and none was found "
        r".*apt-get install -y openjdk-17-jre-headless",
    ):
        SparkResource(master="local[1]").get_session()


def test_java_home_without_java_names_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("JAVA_HOME", "/opt/no-such-jdk")

    with pytest.raises(JavaNotFoundError, match=r"^JAVA_HOME=/opt/no-such-jdk has no bin/java"):
        find_java()
