"""Reading a text again after an edit: only the layer call the edit falls in.

An editor sends the language server a new text on every keystroke, and nearly every
keystroke lands inside one layer call (``CN(20,(5,5))`` becoming ``CN(32,(5,5))``).
Reading a thousand-layer file again costs more than checking it; re-reading the one
call and moving the spans after it costs a fraction of that.

:func:`reparse_file` returns exactly what :func:`cnndsl.syntax.parse_file` would return
for the new text, or None when it cannot say so cheaply (the edit is not inside one call,
the call no longer reads as one call, the text holds braces): the caller then reads the
whole text. A Hypothesis property holds the two equal on random files and edits.
"""

from __future__ import annotations

import re

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.syntax import MAX_NESTING, MAX_SPEC_CHARS, read_fast, span_at

_PARENTHESES = re.compile(r"#[^\n]*|[()]")


def reparse_file(old_text: str, old_tree: ast.SpecFile | ast.Chain, new_text: str) -> ast.SpecFile | ast.Chain | None:
    """``parse_file(new_text)``, given that ``old_tree`` is ``parse_file(old_text)``; None to read it all."""
    if new_text == old_text:
        return old_tree
    if len(new_text) > MAX_SPEC_CHARS or "{" in new_text:  # too long, or a space: the full reading says
        return None
    start, old_end, new_end = edited_region(old_text, new_text)
    call = _call_around(old_tree, start, old_end)
    if call is None:
        return None
    grown = new_end - old_end
    region = new_text[call.span.start : call.span.end + grown]
    depth = _depth_before(old_text, call.span.start)
    read = read_fast(region, "spec", max_depth=MAX_NESTING - depth)
    if not (
        isinstance(read, ast.Chain)
        and len(read.elements) == 1
        and isinstance(read.elements[0], ast.Call)
        and read.elements[0].span.start == 0
        and read.elements[0].span.end == len(region)
    ):
        return None
    placed = _Shift(0, call.span.start, call.span.line - 1, 1, call.span.column - 1)
    new_call = placed.node(read.elements[0])
    old, new = span_at(old_text, old_end, old_end), span_at(new_text, new_end, new_end)
    after = _Shift(old_end, grown, new.line - old.line, old.line, new.column - old.column, call, new_call)
    return after.tree(old_tree)


def placed(tree: ast.SpecFile | ast.Chain, offset: int, line: int) -> ast.SpecFile | ast.Chain:
    """``tree``, read from a text that stands at ``offset``, the start of line ``line``, of a longer one."""
    return _Shift(0, offset, line - 1, 1, 0).tree(tree)


def edited_region(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: ``old[start:old_end]`` became ``new[start:new_end]``, the rest is equal."""
    shortest = min(len(old), len(new))
    low, high = 0, shortest  # the common prefix's length, by halving (slices compare at C speed)
    while low < high:
        middle = (low + high + 1) // 2
        if old[:middle] == new[:middle]:
            low = middle
        else:
            high = middle - 1
    start = low
    low, high = 0, shortest - start  # the common suffix's, not overlapping the prefix
    while low < high:
        middle = (low + high + 1) // 2
        if old[len(old) - middle :] == new[len(new) - middle :]:
            low = middle
        else:
            high = middle - 1
    return start, len(old) - low, len(new) - low


def _depth_before(text: str, offset: int) -> int:
    """Parentheses open at ``offset``, counted as the reader counts them (not in comments)."""
    depth = 0
    for match in _PARENTHESES.finditer(text, 0, offset):
        token = match.group()
        depth += 1 if token == "(" else -1 if token == ")" else 0
    return depth


def _call_around(tree: ast.SpecFile | ast.Chain, start: int, end: int) -> ast.Call | None:
    """The layer call whose text strictly holds ``[start, end)``: its code's first letter and
    its closing parenthesis untouched, so that no token outside it can change."""
    node = tree
    while True:
        match node:
            case ast.SpecFile(definitions):
                inner = [d.chain for d in definitions]
            case ast.Chain(elements):
                inner = list(elements)
            case ast.Merge(branches=branches):
                inner = list(branches)
            case ast.Repeat(body=body) | ast.Named(body=body):
                inner = [body]
            case ast.Call():
                return node if node.span.start < start and end < node.span.end else None
            case ast.Ref() | ast.Tensor() | ast.Alternatives():
                return None
            case _:
                assert_never(node)
        node = next((child for child in inner if child.span.start < start and end < child.span.end), None)
        if node is None:
            return None


class _Shift:
    """Moves every position at or past ``offset`` by ``by`` characters and ``lines`` lines, and
    by ``columns`` columns when on line ``line``; ``old`` is replaced by ``new`` where met."""

    def __init__(self, offset, by, lines, line, columns, old=None, new=None):
        self.offset, self.by, self.lines, self.line, self.columns = offset, by, lines, line, columns
        self.old, self.new = old, new
        self.moves = bool(by or lines or columns)  # else only the nodes holding ``old`` change

    def tree(self, tree: ast.SpecFile | ast.Chain) -> ast.SpecFile | ast.Chain:
        if isinstance(tree, ast.SpecFile):
            scales = tuple(self.scale(scale) for scale in tree.scales)
            return ast.SpecFile(tuple(self.definition(d) for d in tree.definitions), scales)
        return self.node(tree)

    def scale(self, scale: ast.Scale) -> ast.Scale:
        if scale.span.end < self.offset or not self.moves:
            return scale
        args = tuple(self.node(arg) for arg in scale.args)
        return ast.Scale(scale.name, args, self.span(scale.span), self.span(scale.name_span))

    def definition(self, definition: ast.Definition) -> ast.Definition:
        if definition.span.end < self.offset or not (self.moves or self._holds_old(definition.span)):
            return definition
        return ast.Definition(definition.name, self.node(definition.chain), definition.is_block,
                              self.span(definition.span), self.span(definition.name_span))  # fmt: skip

    def _holds_old(self, span: ast.Span) -> bool:
        return self.old is not None and span.start <= self.old.span.start and self.old.span.end <= span.end

    def span(self, span: ast.Span) -> ast.Span:
        start, line, column = span.start, span.line, span.column
        if start >= self.offset:
            start, line = start + self.by, line + self.lines
            column += self.columns if span.line == self.line else 0
        end, end_line, end_column = span.end, span.end_line, span.end_column
        if end >= self.offset:
            end, end_line = end + self.by, end_line + self.lines
            end_column += self.columns if span.end_line == self.line else 0
        return ast.Span(start, end, line, column, end_line, end_column)

    def node(self, node):
        """A chain's element, an argument or a value, moved (itself when wholly before the offset)."""
        if node is self.old:
            return self.new
        if node.span.end < self.offset or not (self.moves or self._holds_old(node.span)):
            return node
        match node:
            case ast.Call(code, args, span):
                return ast.Call(code, tuple(self.node(arg) for arg in args), self.span(span))
            case ast.Chain(elements, span):
                return ast.Chain(tuple(self.node(element) for element in elements), self.span(span))
            case ast.Merge(code, branches, args, span):
                return ast.Merge(code, tuple(self.node(b) for b in branches), tuple(self.node(a) for a in args),
                                 self.span(span))  # fmt: skip
            case ast.Repeat(body, count, span):
                return ast.Repeat(self.node(body), self.node(count), self.span(span))
            case ast.Ref(name, span):
                return ast.Ref(name, self.span(span))
            case ast.Named(body, name, span, name_span):
                return ast.Named(self.node(body), name, self.span(span), self.span(name_span))
            case ast.Tensor(name, span):
                return ast.Tensor(name, self.span(span))
            case ast.Arg(name, value, span):
                return ast.Arg(name, self.node(value), self.span(span))
            case ast.Number(value, text, span):
                return ast.Number(value, text, self.span(span))
            case ast.Word(name, span):
                return ast.Word(name, self.span(span))
            case ast.Tuple(items, span):
                return ast.Tuple(tuple(self.node(item) for item in items), self.span(span))
            case ast.Choice(options, span):  # a space's parts: only placed(), as an edit re-reads them whole
                return ast.Choice(tuple(self.node(option) for option in options), self.span(span))
            case ast.Range(low, high, span):
                return ast.Range(self.node(low), self.node(high), self.span(span))
            case ast.Alternatives(options, span):
                return ast.Alternatives(tuple(self.node(option) for option in options), self.span(span))
            case _:
                assert_never(node)
