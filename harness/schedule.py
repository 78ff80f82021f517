"""How `pytest -n N` deals the suite out to its workers (pytest-xdist): a test file is one unit,
so that its module fixtures (a `dagster dev`, a cluster) start once, unless a test is marked
`xdist_group("name")`, which makes the tests of that name a unit of their own (a test with a
server of its own, split off a long file). Units go out longest first, from the durations
measured in COST, and a worker gets its next unit only as it reaches the last test of the one
before, so that no long unit waits behind another on a busy worker while one sits idle.

Run with `--dist loadgroup` (it adds the group to the test ids this reads)."""

from typing import Any

from xdist.scheduler.loadscope import LoadScopeScheduling

# Seconds a unit took on the 2-core machine (pytest --durations=0, summed per unit; the
# command and the date are in docs/contributing.md). A unit not listed counts as 5 s.
COST: dict[str, float] = {
    "daemon-kill": 160,
    "test_concurrent_runs.py": 390,
    "test_spark_s3.py": 290,
    "s3-arrival": 85,
    "test_ui.py": 340,
    "test_daemon.py": 220,
    "test_materialize.py": 115,
    "test_cluster.py": 380,
    "test_dg.py": 60,
    "test_bad_input.py": 58,
    "test_crash.py": 50,
    "test_publish.py": 42,
    "test_okrs.py": 22,
    "test_sensor.py": 20,
    "test_spark_resource.py": 15,
    "test_swap_on_object_store.py": 12,
    "test_leases.py": 11,
    "test_notebook.py": 9,
    "test_bucketing.py": 8,
    "test_table_store.py": 7,
    "test_transforms.py": 6,
    "test_generate.py": 6,
    "test_production_instance.py": 6,
}


def unit_of(nodeid: str) -> str:
    """The unit of a test id: its xdist group when it has one, else its file's name."""
    if "@" in nodeid:
        return nodeid.rsplit("@", 1)[1]
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def unit_of_item(item: Any) -> str:
    """The unit of a collected test (a pytest.Item): its xdist group, else its file's name."""
    for mark in item.iter_markers("xdist_group"):
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    return str(item.path.name)


def longest_first(items: list[Any]) -> None:
    """Reorder collected tests in place: units by COST, longest first, each unit's tests
    together and in their file's order (every worker collects the same order, which is the
    order the units are dealt out in)."""
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(unit_of_item(item), len(first_seen))
    items.sort(key=lambda i: (-COST.get(unit_of_item(i), 5.0), first_seen[unit_of_item(i)]))


class LongestFirst(LoadScopeScheduling):
    """LoadScopeScheduling over the units above, in collection order, none queued behind
    another."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _reschedule(self, node: Any) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        # A worker holds back the last test it was sent until it knows the next (for the
        # fixtures' teardown), so the next unit goes out when one test is left.
        if self._pending_of(self.assigned_work[node]) > 1:
            return
        self._assign_work_unit(node)
