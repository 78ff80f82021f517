"""The package's layers and its import graph, read from the source (no module is imported):
what test_layout.py enforces, and what `python -m harness.layers` prints.

Bottom to top: dataset -> storage -> settings -> runtime -> defs -> tools, and definitions.py,
the code location Dagster loads, on top. A module may import its own layer and the ones below it.
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "addon_okrs"

LAYERS: tuple[str, ...] = (
    "dataset", "storage", "settings", "runtime", "defs", "tools", "definitions",
)  # fmt: skip
# What each layer may import of the project (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    layer: frozenset(LAYERS[:index]) for index, layer in enumerate(LAYERS)
}
# Layers that never import Dagster or its integrations.
DAGSTER_FREE = frozenset({"dataset", "storage", "settings", "runtime"})
THIRD_PARTY_DAGSTER = ("dagster", "dagster_pyspark", "dagster_aws", "dagster_spark")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer of a project module (`addon_okrs.storage.catalog` -> storage); None for the
    package itself and for anything outside it."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (a function's local import counts too); for
    `from package import name`, `package.name` as well, since it may be a module."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def package_files() -> list[Path]:
    return sorted((ROOT / PACKAGE).rglob("*.py"))


def project_imports(path: Path) -> set[str]:
    """The project modules a file imports (only names that are modules of the package)."""
    known = {module_name(p) for p in package_files()}
    found = {m for m in imported_modules(path) if m in known}
    # `from addon_okrs.dataset import sizing` names the module, not its package.
    return {m for m in found if not any(other.startswith(m + ".") for other in found)}


def layer_edges() -> dict[tuple[str, str], int]:
    """(importing layer, imported layer) -> how many module imports cross that way."""
    edges: dict[tuple[str, str], int] = defaultdict(int)
    for path in package_files():
        source = layer_of(module_name(path))
        if source is None:
            continue
        for module in project_imports(path):
            target = layer_of(module)
            if target is not None and target != source:
                edges[source, target] += 1
    return dict(edges)


def main() -> int:
    """Each layer's modules with what they import from other layers, then the counts."""
    by_layer: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for path in package_files():
        module = module_name(path)
        layer = layer_of(module) or "(package)"
        across = sorted(m for m in project_imports(path) if layer_of(m) not in (None, layer))
        by_layer[layer].append((module, across))
    for layer in (*LAYERS, "(package)"):
        print(f"{layer}: {len(by_layer[layer])} module(s)")
        for module, across in by_layer[layer]:
            print(f"  {module}" + (f"  -> {', '.join(across)}" if across else ""))
    print("\nimports between layers (importing -> imported: module imports):")
    order = {layer: i for i, layer in enumerate(LAYERS)}
    for (source, target), count in sorted(
        layer_edges().items(), key=lambda e: (order[e[0][0]], order[e[0][1]])
    ):
        print(f"  {source} -> {target}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
