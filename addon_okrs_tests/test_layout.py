"""The house rules of the tree, as tests: one owner for table paths (the catalog) and for the
environment (the settings module), and dependencies that point one way."""

import ast
import re
from pathlib import Path

import pytest

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


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


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
    if relative == "addon_okrs/catalog.py":
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
