"""The syntax tree of a spec: frozen dataclasses, each carrying its source Span."""

from __future__ import annotations

import sys
from dataclasses import MISSING, dataclass, fields

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover

    def assert_never(value):
        raise AssertionError(f"unhandled node: {type(value).__name__}")


def record(cls):
    """``@dataclass(frozen=True)``, with an ``__init__`` that fills the instance's dict directly.

    A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__``,
    2.5 times slower; checking a large spec builds a node or span per token. Everything
    else (equality, hashing, repr, immutability) is the dataclass's.
    """
    cls = dataclass(frozen=True)(cls)
    names, defaults = [], {}
    for item in fields(cls):
        if item.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{item.name}: record() takes plain defaults only")
        if item.default is not MISSING:
            defaults[f"_default_{item.name}"] = item.default
            names.append(f"{item.name}=_default_{item.name}")
        else:
            names.append(item.name)
    body = "".join(f"\n    values[{item.name!r}] = {item.name}" for item in fields(cls))
    namespace = dict(defaults)
    exec(f"def __init__(self, {', '.join(names)}):\n    values = self.__dict__{body}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


@record
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


@record
class Number:
    value: int | float
    text: str
    span: Span


@record
class Word:
    name: str
    span: Span


@record
class Tuple:
    items: tuple[Value, ...]
    span: Span


Value = Number | Word | Tuple


@record
class Arg:
    """A positional (``name is None``) or keyword argument of a layer call."""

    name: str | None
    value: Value
    span: Span


@record
class Call:
    """A layer call such as ``CN(72,(7,7))``."""

    code: str
    args: tuple[Arg, ...]
    span: Span

    @property
    def code_span(self) -> Span:
        """The code's own span: the call starts with it, on one line."""
        span, width = self.span, len(self.code)
        return Span(span.start, span.start + width, span.line, span.column, span.line, span.column + width)


@record
class Merge:
    """``ADD(A | B, ...)``: branches from one input, joined by a merge layer.

    Each branch is a chain starting from the merge's input; ``args`` are the
    merge's own (keyword) arguments, such as CAT's ``axis``.
    """

    code: str
    branches: tuple[Chain, ...]
    args: tuple[Arg, ...]
    span: Span


@record
class Ref:
    """A bare name in a chain: a reference to a named block."""

    name: str
    span: Span


@record
class Repeat:
    """``body * count``: the body repeated in place."""

    body: Node
    count: Number | Choice | Range
    span: Span


@record
class Chain:
    """Elements joined by arrows."""

    elements: tuple[Node, ...]
    span: Span


Node = Call | Merge | Ref | Repeat | Chain


@record
class Definition:
    """``name = chain`` in a spec file; a ``block`` is only reused, never a model itself."""

    name: str
    chain: Chain
    is_block: bool
    span: Span
    name_span: Span


@record
class SpecFile:
    """A spec file's definitions, in order."""

    definitions: tuple[Definition, ...]


# --- search spaces: braces stand for a choice (cnndsl.space) ----------------------------


@record
class Choice:
    """``{a, b, ...}`` where a value or a repetition count goes: one of the values."""

    options: tuple[Value, ...]
    span: Span


@record
class Range:
    """``{low..high}``: one of the whole numbers from ``low`` to ``high``."""

    low: Number
    high: Number
    span: Span


@record
class Alternatives:
    """``{A | B | ...}`` in a chain: one of the chains."""

    options: tuple[Chain, ...]
    span: Span
