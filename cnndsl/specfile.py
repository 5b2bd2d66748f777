"""Spec files: named definitions, blocks reused by name, models checked on their own.

    # a comment
    block stem = CN(32,3) -> BN()
    small = stem*2 -> MP(2) -> FL() -> DN(128)

A definition may use any definition above it. Unknown names, names used before
their definition, cycles and redefinitions are value errors with positions. A name
may look like a layer code (``block up = ...``): a code is a code only before ``(``,
so a bare name is always a definition.
"""

from __future__ import annotations

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import VALUE, Diagnostic
from cnndsl.records import record


@record
class Model:
    """One model of a file: its name and the chain to check."""

    name: str
    chain: ast.Chain


@record
class Definitions:
    """What a spec file defines: its models in order, every chain by name, and problems."""

    models: tuple[Model, ...]
    chains: dict[str, ast.Chain]
    diagnostics: tuple[Diagnostic, ...]


def resolve_definitions(spec_file: ast.SpecFile) -> Definitions:
    """Check names across definitions; every definition is visible to those after it."""
    seen: dict[str, ast.Definition] = {}
    problems: list[Diagnostic] = []
    for definition in spec_file.definitions:
        problems += _name_problems(definition, seen)
        seen.setdefault(definition.name, definition)
    order = {d.name: i for i, d in reversed(list(enumerate(spec_file.definitions)))}
    for index, definition in enumerate(spec_file.definitions):
        problems += _reference_problems(definition, index, seen, order)
    models = tuple(Model(d.name, d.chain) for d in spec_file.definitions if not d.is_block)
    chains = {name: d.chain for name, d in seen.items()}
    return Definitions(models, chains, tuple(problems))


def _name_problems(definition: ast.Definition, seen: dict[str, ast.Definition]) -> list[Diagnostic]:
    if definition.name in seen:
        first = seen[definition.name].name_span.line
        message = f"{definition.name!r} is already defined on line {first}"
        return [_error(message, definition.name_span, "duplicate-definition")]
    if definition.name == "block":
        message = "'block' is a reserved word; give the definition another name"
        return [_error(message, definition.name_span, "reserved-word")]
    return []


def _reference_problems(definition, index: int, everything: dict, order: dict) -> list[Diagnostic]:
    problems = []
    for ref in references(definition.chain):
        if ref.name not in everything:
            continue  # the expander reports unknown names, with a suggestion
        cycle = _cycle(ref.name, definition.name, everything)
        if cycle:
            message = "definitions refer to each other in a cycle: " + " -> ".join(cycle)
            problems.append(_error(message, ref.span, "cycle"))
        elif order[ref.name] >= index:
            line = everything[ref.name].name_span.line
            message = f"{ref.name!r} is used before its definition on line {line}"
            problems.append(_error(message, ref.span, "used-before-definition"))
    return problems


def _cycle(start: str, target: str, everything: dict) -> list[str] | None:
    """The path ``target -> start -> ... -> target`` if ``start`` leads back to ``target``."""
    stack, parents = [start], {start: target}
    while stack:
        name = stack.pop()
        if name == target:
            path = [name]
            while path[-1] != target or len(path) == 1:
                path.append(parents[path[-1]])
            return [*reversed(path)]
        for ref in references(everything[name].chain):
            if ref.name in everything and ref.name not in parents:
                parents[ref.name] = name
                stack.append(ref.name)
    return None


def references(node: ast.Node) -> list[ast.Ref]:
    """Every name a chain uses, in order."""
    return [leaf for leaf in leaves(node) if isinstance(leaf, ast.Ref)]


def leaves(node: ast.Node) -> list[ast.Call | ast.Ref]:
    """The layer calls and names a chain writes, in order (names are not followed)."""
    match node:
        case ast.Ref() | ast.Call():
            return [node]
        case ast.Chain():
            return [leaf for element in node.elements for leaf in leaves(element)]
        case ast.Merge():
            return [leaf for branch in node.branches for leaf in leaves(branch)]
        case ast.Repeat() | ast.Named():
            return leaves(node.body)
        case ast.Tensor():  # a named tensor of this definition: no name of the file
            return []
        case ast.Alternatives():  # a search space's `{A | B}` (cnndsl.space)
            return [leaf for option in node.options for leaf in leaves(option)]
        case _:
            assert_never(node)


def _error(message: str, span: ast.Span, code: str) -> Diagnostic:
    return Diagnostic(VALUE, message, span, code=code)
