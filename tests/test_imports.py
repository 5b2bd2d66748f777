"""The import rule: the house is a stack, and imports run one way.

Every module of ``cnndsl/`` is read (not imported) and each ``import`` in it is followed, those
inside functions included. A module may import one of its own rank or of a lower rank, never
one of a higher rank, and the graph has no circle. ``RANKS`` is the one table of ranks; the
architecture page (docs/architecture.md) shows the same table, and a test holds them equal.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from docs_pages import page
from helpers import ROOT

PACKAGE = ROOT / "cnndsl"

RANKS: dict[int, tuple[str, str, tuple[str, ...]]] = {
    0: ("foundation", "the syntax, the tree, errors, records and files every stage shares", (
        "records", "shapes", "ast", "errors", "grammar_tables", "lalr", "syntax", "reparse", "specfile",
        "splits", "interrupts", "outputs", "synthetic", "data", "hooks", "version")),
    1: ("meaning", "what a code, a model and a task mean", ("layers", "layers.*", "model", "tasks")),
    2: ("checking", "text to a checked model, and what reads or prints the tree", (
        "passes", "passes.*", "checker", "formatter", "writer", "space", "report", "budgets", "settings",
        "embedded", "inputs", "search", "yolo")),
    3: ("building", "a checked model to a framework's model, a source or a picture, and back", (
        "backends", "backends.*", "compiler", "emit")),
    4: ("data and training", "data sets, and training a checked model on them", (
        "images", "masks", "datasets", "callbacks", "training", "training.*")),
    5: ("sweeps", "a search space's trials, their storage and their board", ("sweeps", "sweeps.*")),
    6: ("faces", "what a user meets: the command line, the notebook, the editor, the playground, the package", (
        "cli", "cli.*", "notebook", "lsp", "lsp.*", "playground", "__init__", "__main__")),
}  # fmt: skip
"""rank -> (name, what it holds, its modules, named from ``cnndsl``). ``X.*`` is every module of the
package ``X``; ``X`` alone is the package's ``__init__``; ``__init__`` is the package ``cnndsl``."""


def module_name(path: Path) -> str:
    """``cnndsl/passes/infer.py`` -> ``passes.infer``; a package is named by its folder."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def rank_of(name: str) -> int | None:
    """A module's rank in ``RANKS``, or None when the table does not name it."""
    for rank, (_, _, names) in RANKS.items():
        for pattern in names:
            if name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
                return rank
    return None


def imported(text: str, package: str, known: set[str]) -> set[str]:
    """The cnndsl modules a module's text imports anywhere (inside functions too).

    ``package`` is the module's package (``""`` for ``cnndsl``), from which relative imports
    start. ``from cnndsl.x import y`` imports ``x.y`` when that is a module, else ``x``;
    ``import cnndsl`` and ``from cnndsl import name`` import the package root unless ``name``
    is a module.
    """
    tree = ast.parse(text)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {_local(alias.name) for alias in node.names if _local(alias.name) is not None}
        elif isinstance(node, ast.ImportFrom):
            found |= _from_import(node, package, known)
    return found


def _local(dotted: str) -> str | None:
    """``cnndsl.x.y`` -> ``x.y``; ``cnndsl`` -> ``__init__``; another package's module -> None."""
    if dotted == "cnndsl":
        return "__init__"
    return dotted.removeprefix("cnndsl.") if dotted.startswith("cnndsl.") else None


def _from_import(node: ast.ImportFrom, package: str, known: set[str]) -> set[str]:
    if node.level:
        parts = package.split(".") if package else []
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])]) or "__init__"
    else:
        base = _local(node.module or "")
        if base is None:
            return set()
    found = set()
    for alias in node.names:
        child = alias.name if base == "__init__" else f"{base}.{alias.name}"
        found.add(child if child in known else base)
    return found


def package_of(path: Path) -> str:
    """The package a module's relative imports start from: ``passes`` for ``passes/infer.py``."""
    parts = path.relative_to(PACKAGE).parent.parts
    return ".".join(parts)


def graph() -> dict[str, set[str]]:
    """module -> the cnndsl modules it imports (itself left out)."""
    found = modules()
    known = set(found)
    return {name: imported(path.read_text("utf-8"), package_of(path), known) - {name} for name, path in found.items()}


def upward_imports(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every (importer, imported) whose imported module ranks above its importer."""
    return {(source, target) for source, targets in edges.items() for target in targets
            if rank_of(target) > rank_of(source)}  # fmt: skip


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected parts of more than one module (Tarjan's walk), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return parts


def rank_table() -> str:
    """``RANKS`` as the Markdown table that the architecture page shows."""
    rows = ["| rank | name | what it holds | modules |", "|---|---|---|---|"]
    for rank, (name, role, names) in RANKS.items():
        rows.append(f"| {rank} | {name} | {role} | {', '.join(f'`{module}`' for module in names)} |")
    return "\n".join(rows)


def test_every_module_has_a_rank():
    unranked = sorted(name for name in modules() if rank_of(name) is None)
    assert unranked == [], f"add these modules to RANKS (and to docs/architecture.md): {unranked}"


def test_no_module_imports_one_of_a_higher_rank():
    upward = upward_imports(graph())
    listed = [f"{source} (rank {rank_of(source)}) imports {target} (rank {rank_of(target)})"
              for source, target in sorted(upward)]  # fmt: skip
    assert listed == [], "imports run one way (docs/architecture.md):\n" + "\n".join(listed)


def test_the_module_graph_has_no_circle():
    found = circles(graph())
    assert found == [], "circular imports:\n" + "\n".join(" <-> ".join(part) for part in found)


def test_the_architecture_page_shows_the_rank_table():
    assert rank_table() in page("docs/architecture.md"), "copy rank_table() into docs/architecture.md"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import cnndsl", {"__init__"}),
        ("import cnndsl.notebook", {"notebook"}),
        ("from cnndsl import model", {"model"}),
        ("from cnndsl import check", {"__init__"}),
        ("from cnndsl.passes.infer import Inferrer", {"passes.infer"}),
        ("from cnndsl.backends import keras", {"backends.keras"}),
        ("from . import model", {"model"}),
        ("from .model import CheckedModel", {"model"}),
        ("def f():\n    from cnndsl.notebook import draw_spec", {"notebook"}),
        ("import json\nfrom keras import layers", set()),
    ],
)
def test_imports_are_read_inside_functions_and_relative_ones_too(text, expected):
    known = {"__init__", "model", "notebook", "passes.infer", "backends", "backends.keras", "space"}
    assert imported(text, "", known) == expected


def test_a_relative_import_starts_from_the_modules_package():
    known = {"__init__", "backends", "backends.keras", "model"}
    assert imported("from . import keras\nfrom ..model import CheckedModel", "backends", known) == {
        "backends.keras", "model"}  # fmt: skip


def test_an_upward_import_and_a_circle_are_found():
    edges = {"model": {"notebook"}, "notebook": {"model"}, "passes.infer": {"layers.pooling"}}
    assert upward_imports(edges) == {("model", "notebook")}
    assert circles(edges) == [["model", "notebook"]]
    assert rank_of("layers.pooling") == 1 and rank_of("cli.check") == 6 and rank_of("nowhere") is None


def test_the_package_root_is_the_face():
    assert rank_of("__init__") == rank_of("__main__") == rank_of("notebook") == max(RANKS)
