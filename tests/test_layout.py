"""The package's layers: every import goes downwards, and no two modules import each other.

Every module of `crosslmm_cli` is parsed (`ast`, so imports inside functions and under
`TYPE_CHECKING` count too) and each import of our own code becomes an edge between two units: a
package directly under `crosslmm_cli/` (`video`, `engine`, ...) or a ground-floor module (`errors`,
`units`). `MAY_IMPORT` is the layer table that docs/architecture.md draws; an edge it does not
allow fails, and so does any cycle between modules, within a package or across packages.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "crosslmm_cli"

#: unit -> the units it may import. Top to bottom, as docs/architecture.md draws it.
GROUND = {"errors", "units", "lazy"}  # the ground floor: every package may import these
MAY_IMPORT: dict[str, set[str]] = {
    "__main__": {"cli"},
    "cli": GROUND | {"video", "modeling", "checkpoints", "engine", "batch", "tasks", "training", "synthetic", "bench",
                     "serve", "distributed", "client", "crosslmm_cli"},
    "bench": GROUND | {"video", "modeling", "checkpoints", "engine", "batch", "tasks", "training", "distributed", "client"},
    "serve": GROUND | {"video", "modeling", "checkpoints", "engine", "batch", "tasks", "client"},
    "distributed": GROUND | {"video", "modeling", "checkpoints", "engine", "batch", "tasks"},
    "tasks": GROUND | {"video", "modeling", "checkpoints", "engine", "batch"},
    "training": GROUND | {"video", "modeling", "checkpoints", "engine"},
    "engine": GROUND | {"video", "modeling", "checkpoints"},
    "checkpoints": GROUND | {"modeling"},
    "synthetic": GROUND | {"video"},
    "batch": GROUND,
    "client": GROUND,
    "video": GROUND,
    "modeling": {"errors"},  # the model imports nothing of ours but the errors it raises
    "units": {"errors"},
    "lazy": set(),
    "errors": set(),
    "crosslmm_cli": set(),  # the package's own __init__: the version, nothing else
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that `name` imports anywhere in its file (a `from X import y` of a submodule y counts as X.y)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import crosslmm_cli.video.sampling as s`, attribute paths
                target = target.rpartition(".")[0]
            if target.startswith("crosslmm_cli") and target != name:
                found.add(target)
    return found


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported_modules(name, path, known) for name, path in found.items()}


def test_every_unit_is_in_the_layer_table():
    units = {unit_of(name) for name in modules()}
    assert units == set(MAY_IMPORT), f"not in MAY_IMPORT: {units - set(MAY_IMPORT)}; gone: {set(MAY_IMPORT) - units}"


def test_the_layer_table_has_no_cycle():
    order: list[str] = []
    while len(order) < len(MAY_IMPORT):
        ready = [unit for unit, deps in MAY_IMPORT.items() if unit not in order and deps <= set(order)]
        assert ready, f"MAY_IMPORT is circular among {sorted(set(MAY_IMPORT) - set(order))}"
        order += sorted(ready)


def test_imports_only_go_downwards():
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        if unit_of(target) != unit_of(name) and unit_of(target) not in MAY_IMPORT[unit_of(name)]
    )
    assert not upward, "imports the layer table does not allow:\n" + "\n".join(upward)


def test_no_module_cycle():
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "modules that import each other:\n" + "\n".join(cycles)


def test_bench_holds_only_what_crosslmm_bench_runs():
    """Every module of `crosslmm_cli.bench` is reached from the `crosslmm bench` commands (cli/bench*.py)."""
    graph = import_graph()
    reached, todo = set(), [name for name in graph if re.fullmatch(r"crosslmm_cli\.cli\.bench\w*", name)]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += graph[name]
    unreached = sorted(name for name in graph if name.startswith("crosslmm_cli.bench.") and name not in reached)
    assert not unreached, f"bench modules `crosslmm bench` never runs: {unreached}"


def test_the_product_never_imports_the_demo_research_code():
    """models/demo/build.py and models/demo/research/ build the demo model; the package stands without them."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name} imports {target}" for target in names if target.split(".")[0] in ("research", "build")]
    assert not found, found


def test_architecture_doc_draws_the_layer_table():
    """docs/architecture.md has one line per unit saying what it may import, as MAY_IMPORT says."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    drawn = {}
    for match in re.finditer(r"^[│├└─ ]*(\w+)(?:/|\.py)\s.*?may import: (.+)$", text, re.M):
        unit = "crosslmm_cli" if match.group(1) == "__init__" else match.group(1)
        drawn[unit] = {word.strip("` ") for word in match.group(2).split(",")} - {"nothing"}

    def as_drawn(deps: set[str]) -> set[str]:  # the drawing says "the ground floor" for errors, units and lazy
        deps = deps - {"crosslmm_cli"}
        return (deps - GROUND) | {"the ground floor"} if GROUND <= deps else deps

    expected = {unit: as_drawn(deps) for unit, deps in MAY_IMPORT.items()}
    assert drawn == expected
