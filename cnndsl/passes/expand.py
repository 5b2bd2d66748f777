"""Expand repetition and block references: a tree of layer calls and merges.

The result is a chain: a list of items, each an ``ast.Call`` or an :class:`Expanded`
merge whose branches are chains again. Sizes are computed before anything is
expanded, so ``CN(8)*1000000000`` is refused in microseconds instead of exhausting
memory.
"""

from __future__ import annotations

from collections.abc import Mapping

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import VALUE, Diagnostic, Edit, Fix
from cnndsl.layers import LAYERS, MERGES, suggest
from cnndsl.records import record

MAX_LAYERS = 100_000
"""Most layers a spec may expand to (the largest real networks have a few thousand)."""
MAX_BLOCK_DEPTH = 64
"""Deepest chain of blocks referring to blocks (a real spec uses two or three)."""


@record
class Expanded:
    """A merge with its branches expanded; the same object stands for every copy a repeat makes."""

    merge: ast.Merge
    branches: tuple[list[Item], ...]


Item = ast.Call | Expanded


class Expander:
    """Flattens one chain; ``blocks`` maps names to the chains they stand for."""

    def __init__(self, blocks: Mapping[str, ast.Chain] | None = None):
        self.blocks = dict(blocks or {})
        self.diagnostics: list[Diagnostic] = []
        self._sizes: dict[str, int] = {}
        self._sizing: list[str] = []
        self._outermost: ast.Ref | None = None
        """The reference in the chain being checked that the current nesting of blocks started from."""

    def expand(self, chain: ast.Chain) -> list[Item]:
        total = self._size(chain)
        if total > MAX_LAYERS:
            message = f"the spec expands to {total:,} layers; the limit is {MAX_LAYERS:,}"
            self._error(message, chain.span, code="too-many-layers")
        if self.diagnostics:
            return []
        items: list[Item] = []
        self._emit(chain, items)
        return items

    def _size(self, node: ast.Node) -> int:
        match node:
            case ast.Call():
                return 1
            case ast.Merge():
                return 1 + sum(self._size(branch) for branch in node.branches)
            case ast.Chain():
                return sum(self._size(element) for element in node.elements)
            case ast.Ref():
                return self._block_size(node)
            case ast.Repeat():
                return self._repeat_size(node)
            case _:
                assert_never(node)

    def _block_size(self, ref: ast.Ref) -> int:
        """A block's size, computed once per name; cycles and deep chains are errors."""
        if ref.name in self._sizes:
            return self._sizes[ref.name]
        block = self._block(ref)
        if block is None:
            return 0
        if ref.name in self._sizing:
            path = " -> ".join([*self._sizing[-5:], ref.name])
            self._error(f"{ref.name!r} refers to itself ({path})", ref.span, code="self-reference")
            return 0
        if len(self._sizing) >= MAX_BLOCK_DEPTH:
            outer = self._outermost or ref
            path = " -> ".join([*self._sizing[:3], "...", *self._sizing[-2:], ref.name])
            message = (
                f"blocks nested too deep: {outer.name!r} uses blocks more than {MAX_BLOCK_DEPTH} levels deep ({path})"
            )
            hint = f"the limit is passed where {self._sizing[-1]!r} uses {ref.name!r}"
            self._error(message, outer.span, hint, code="blocks-too-deep")
            return 0
        if not self._sizing:
            self._outermost = ref
        self._sizing.append(ref.name)
        self._sizes[ref.name] = self._size(block)
        self._sizing.pop()
        return self._sizes[ref.name]

    def _repeat_size(self, node: ast.Repeat) -> int:
        times = _repeat_count(node.count)
        if isinstance(times, str):
            self._error(times, node.count.span, code="bad-repeat")
            return 0
        total = times * self._size(node.body)
        if total > MAX_LAYERS:
            message = f"this repetition expands to {total:,} layers; the limit is {MAX_LAYERS:,}"
            self._error(message, node.span, code="too-many-layers")
            return 0
        return total

    def _block(self, ref: ast.Ref) -> ast.Chain | None:
        if ref.name in self.blocks:
            return self.blocks[ref.name]
        if ref.name.upper() in LAYERS:
            close = ref.name.upper()
            hint = (
                f"a merge takes branches: {close}(A | B)"
                if close in MERGES
                else f"a layer takes parentheses: {close}()"
            )
        else:
            close = suggest(ref.name, [*LAYERS, *self.blocks])
            hint = f"did you mean {close}?" if close else None
        self._error(f"unknown name {ref.name!r}", ref.span, hint, code="unknown-name", fixes=_name_fixes(ref, close))
        return None

    def _emit(self, node: ast.Node, out: list[Item]) -> None:
        match node:
            case ast.Call():
                out.append(node)
            case ast.Merge():
                branches = tuple(self._emitted(branch) for branch in node.branches)
                out.append(Expanded(node, branches))
            case ast.Chain():
                for element in node.elements:
                    self._emit(element, out)
            case ast.Ref():
                self._emit(self.blocks[node.name], out)
            case ast.Repeat():
                start = len(out)
                self._emit(node.body, out)
                out.extend(out[start:] * (int(node.count.value) - 1))
            case _:
                assert_never(node)

    def _emitted(self, node: ast.Node) -> list[Item]:
        items: list[Item] = []
        self._emit(node, items)
        return items

    def _error(self, message: str, span: ast.Span, hint: str | None = None, code: str | None = None, fixes=()) -> None:
        self.diagnostics.append(Diagnostic(VALUE, message, span, hint=hint, code=code, fixes=fixes))


def _name_fixes(ref: ast.Ref, close: str | None) -> tuple[Fix, ...]:
    """An unknown name close to a block's name (or a layer's code) becomes that block (or layer)."""
    if close is None or close in MERGES:
        return ()
    new = f"{close}()" if close in LAYERS else close
    return (Fix(f"Change {ref.name} to {new}", (Edit(ref.span, new),)),)


def _repeat_count(count: ast.Number) -> int | str:
    """The repetition count, or the message saying why it is not one."""
    if isinstance(count.value, float) and count.value != float("inf"):
        return f"a repetition count must be a whole number, not {count.text}"
    if count.value < 1:
        return f"a repetition count must be at least 1, not {count.text}"
    if count.value == float("inf"):
        return f"a repetition count must be at most {MAX_LAYERS:,}, not {count.text[:12]}..."
    return int(count.value)
