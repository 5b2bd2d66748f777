"""The syntax tree of a spec: immutable records (cnndsl.records), each carrying its source Span."""

from __future__ import annotations

from cnndsl.records import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without loading typing on the check path
if TYPE_CHECKING:
    from typing import NoReturn


def assert_never(value: object) -> NoReturn:
    """The end of an exhaustive ``match``: a node of a kind the walk does not know is a bug."""
    raise AssertionError(f"unhandled node: {type(value).__name__}")


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
class Named:
    """``body as name``: the body's output, named so that ``@name`` can use it again."""

    body: Node
    name: str
    span: Span
    name_span: Span


@record
class Tensor:
    """``@name``: the tensor a ``... as name`` named; a chain it begins goes on from it."""

    name: str
    span: Span


@record
class Chain:
    """Elements joined by arrows."""

    elements: tuple[Node, ...]
    span: Span


Node = Call | Merge | Ref | Repeat | Chain | Named | Tensor


@record
class Definition:
    """``name = chain`` in a spec file; a ``block`` is only reused, never a model itself."""

    name: str
    chain: Chain
    is_block: bool
    span: Span
    name_span: Span


@record
class Scale:
    """``scale NAME(depth, width, cap, ...)`` in a spec file: one member of the file's family of scales."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


@record
class SpecFile:
    """A spec file's definitions, in order, and its scale lines, in order."""

    definitions: tuple[Definition, ...]
    scales: tuple[Scale, ...] = ()


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
