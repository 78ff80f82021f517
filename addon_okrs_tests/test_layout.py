"""The house rules of the tree, as tests: the layers and what each may import, Dagster's
non-public API in one module, no import-time side effects, one owner for table paths (the
catalog) and for the environment (the settings module), and dependencies that point one way."""

import ast
import re
from pathlib import Path

import pytest

from harness.layers import (
    ALLOWED,
    DAGSTER_FREE,
    LAYERS,
    THIRD_PARTY_DAGSTER,
    imported_modules,
    layer_of,
    module_name,
    package_files,
    project_imports,
)

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_TREES = ("addon_okrs", "benchmarks", "scripts")


def python_files(*trees: str) -> list[Path]:
    return sorted(p for tree in trees for p in (ROOT / tree).rglob("*.py"))


def code_strings_and_names(path: Path) -> tuple[list[str], list[str]]:
    """The string constants of a module that are not docstrings, and its dotted names."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]
    names = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    return strings, names


TABLE_PATH = re.compile(r"addons/v2|main_summary/v4|addons/agg/v1")


def is_path(text: str) -> bool:
    """A string that spells a table path (prose for people, with spaces, names tables freely:
    descriptions shown in the UI, the README's table of settings)."""
    return bool(TABLE_PATH.search(text)) and not any(c.isspace() for c in text)


@pytest.mark.parametrize(
    "path", python_files(*PRODUCT_TREES), ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_catalog_spells_a_table_path(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    strings, _ = code_strings_and_names(path)
    spelled = sorted(s for s in strings if is_path(s))
    if relative == "addon_okrs/storage/catalog.py":
        assert spelled == ["addons/agg/v1", "addons/v2", "main_summary/v4"]
    else:
        assert spelled == []


@pytest.mark.parametrize(
    "path", python_files(*PRODUCT_TREES), ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_settings_module_reads_the_environment(path: Path) -> None:
    _, names = code_strings_and_names(path)
    readers = [n for n in names if n in ("os.environ", "os.getenv")]
    expected = 1 if path.relative_to(ROOT).as_posix() == "addon_okrs/settings.py" else 0
    assert len(readers) == expected, readers


@pytest.mark.parametrize(
    "path",
    python_files(*PRODUCT_TREES, "harness"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_nothing_outside_the_tests_imports_them(path: Path) -> None:
    assert not any(m.split(".")[0] == "addon_okrs_tests" for m in imported_modules(path))


@pytest.mark.parametrize("path", python_files("addon_okrs"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_imports_neither_the_harness_nor_the_benchmarks(path: Path) -> None:
    assert not any(m.split(".")[0] in ("harness", "benchmarks") for m in imported_modules(path))


def test_the_benchmark_modules_form_no_import_cycle() -> None:
    graph = {
        f"benchmarks.{p.stem}": {m for m in imported_modules(p) if m.startswith("benchmarks.")}
        for p in python_files("benchmarks")
    }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for module in graph.get(start, set()):
            if module == target or (
                module not in seen and reaches(module, target, seen | {module})
            ):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


PACKAGE_FILES = package_files()


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=relative)
def test_every_module_sits_in_a_layer(path: Path) -> None:
    module = module_name(path)
    assert module == "addon_okrs" or layer_of(module) in LAYERS, (
        f"{module} is in no layer: put it under one of {', '.join(LAYERS)}"
    )


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=relative)
def test_a_layer_imports_only_itself_and_the_layers_below(path: Path) -> None:
    layer = layer_of(module_name(path))
    if layer is None:
        return
    upward = sorted(
        m
        for m in project_imports(path)
        if (other := layer_of(m)) not in (None, layer) and other not in ALLOWED[layer]
    )
    assert upward == [], f"{layer} may import only {sorted(ALLOWED[layer]) or 'itself'}"


@pytest.mark.parametrize(
    "path", [p for p in PACKAGE_FILES if layer_of(module_name(p)) in DAGSTER_FREE], ids=relative
)
def test_the_dataset_storage_and_settings_never_import_dagster(path: Path) -> None:
    dagster = sorted(m for m in imported_modules(path) if m.split(".")[0] in THIRD_PARTY_DAGSTER)
    assert dagster == []


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=relative)
def test_only_the_compat_module_imports_dagsters_internals(path: Path) -> None:
    internal = sorted(
        m
        for m in imported_modules(path)
        if m.split(".")[0] in THIRD_PARTY_DAGSTER and "._" in f".{m.partition('.')[2]}"
    )
    if relative(path) == "addon_okrs/defs/_dagster_compat.py":
        assert internal != []
    else:
        assert internal == []


def test_the_compat_module_is_the_only_one_that_names_dagster_underscore() -> None:
    spelled = sorted(relative(p) for p in PACKAGE_FILES if "dagster._" in p.read_text())
    assert spelled == ["addon_okrs/defs/_dagster_compat.py"]


@pytest.mark.parametrize(
    "path", [p for p in PACKAGE_FILES if p.name != "definitions.py"], ids=relative
)
def test_importing_a_module_changes_nothing_outside_it(path: Path) -> None:
    """No call runs at module level (a warning filter, a backend choice, a session) but in
    definitions.py, which builds the code location."""
    tree = ast.parse(path.read_text())
    calls = [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    ]
    assert calls == []


def test_the_list_of_what_the_suite_proves_names_every_test_function() -> None:
    from harness.suite_facts import markdown

    text = (ROOT / "docs" / "contributing.md").read_text()
    listed = text.split("<!-- facts -->\n", 1)[1].split("<!-- /facts -->", 1)[0]
    assert listed == markdown(), "regenerate it: python -m harness.suite_facts"


def test_the_suite_is_dealt_out_by_file_longest_first_under_xdist() -> None:
    from addon_okrs_tests import conftest
    from harness.schedule import COST, LongestFirst, unit_of

    assert conftest.pytest_xdist_make_scheduler.__module__ == "addon_okrs_tests.conftest"
    assert issubclass(LongestFirst, object)
    assert unit_of("addon_okrs_tests/test_ui.py::test_a[x]") == "test_ui.py"
    assert unit_of("addon_okrs_tests/test_ui.py::test_a@ui-backfill") == "ui-backfill"
    # Every unit named in COST is a test file of the suite or an xdist group used in it.
    files = {p.name for p in (ROOT / "addon_okrs_tests").glob("test_*.py")}
    groups = set(
        re.findall(
            r'xdist_group\("([^"]+)"\)',
            "".join(p.read_text() for p in (ROOT / "addon_okrs_tests").glob("test_*.py")),
        )
    )
    assert sorted(set(COST) - files - groups) == []
