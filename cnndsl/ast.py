"""The syntax tree of a spec: frozen dataclasses, each carrying its source Span."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Where a node sits in the source: 1-based line and column, end exclusive.

    ``start`` and ``end`` are character offsets into the source text.
    """

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def text(self, source: str) -> str:
        return source[self.start : self.end]


@dataclass(frozen=True)
class Number:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True)
class Word:
    name: str
    span: Span


@dataclass(frozen=True)
class Tuple:
    items: tuple[Value, ...]
    span: Span


Value = Number | Word | Tuple


@dataclass(frozen=True)
class Arg:
    """A positional (``name is None``) or keyword argument of a layer call."""

    name: str | None
    value: Value
    span: Span


@dataclass(frozen=True)
class Call:
    """A layer call such as ``CN(72,(7,7))``."""

    code: str
    args: tuple[Arg, ...]
    span: Span
    code_span: Span


@dataclass(frozen=True)
class Ref:
    """A bare name in a chain: a reference to a named block."""

    name: str
    span: Span


@dataclass(frozen=True)
class Repeat:
    """``body * count``: the body repeated in place."""

    body: Node
    count: Number
    span: Span


@dataclass(frozen=True)
class Chain:
    """Elements joined by arrows."""

    elements: tuple[Node, ...]
    span: Span


Node = Call | Ref | Repeat | Chain


@dataclass(frozen=True)
class Definition:
    """``name = chain`` in a spec file; a ``block`` is only reused, never a model itself."""

    name: str
    chain: Chain
    is_block: bool
    span: Span
    name_span: Span


@dataclass(frozen=True)
class SpecFile:
    """A spec file's definitions, in order."""

    definitions: tuple[Definition, ...]
