"""What the suite proves, one line a test function: its file, its name read as a sentence, and
what it starts (the markers it carries). docs/contributing.md keeps this list between its
`<!-- facts -->` markers, and test_layout.py fails when a test is added, renamed or removed
without the list following, so that a fact cannot drop out of the suite unnoticed.

    python -m harness.suite_facts            # the list as Markdown
"""

import ast
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "addon_okrs_tests"


def _marks(decorators: list[ast.expr]) -> list[str]:
    found = []
    for node in decorators:
        target = node.func if isinstance(node, ast.Call) else node
        text = ast.unparse(target)
        if text.startswith("pytest.mark.") and text != "pytest.mark.parametrize":
            found.append(text.removeprefix("pytest.mark."))
    return found


def _module_marks(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            value = node.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            return _marks(list(items))
    return []


def facts(folder: Path = TESTS) -> list[tuple[str, str, list[str]]]:
    """(file, test function, markers) for every test function, files in name order."""
    found = []
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        module = _module_marks(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = sorted({*module, *_marks(node.decorator_list)})
                found.append((path.name, node.name, marks))
    return found


def markdown(folder: Path = TESTS) -> str:
    lines = []
    current = ""
    for file, name, marks in facts(folder):
        if file != current:
            lines += ["", f"**{file}**", ""]
            current = file
        starts = f" ({', '.join(marks)})" if marks else ""
        lines.append(f"- `{name}`{starts}")
    return "\n".join(lines).strip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
