"""``cnndsl fmt``: the canonical layout of specs and spec files.

One space after commas, `` -> `` between layers, ``name=value`` keywords, `` * N``
repetition, `` | `` between branches, and a chain on one line while it fits in
``WIDTH`` columns (else one layer per line, continuation lines indented; a merge
that does not fit puts each branch on its own line, indented, and closes on a line
of its own). Comments survive: a comment on a layer's line stays after that layer,
a comment on its own line stays above what follows it (a comment inside a merge
stays with the merge). Formatting never changes what a spec means, and formatting
twice changes nothing more.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.syntax import BLANKS, parse_file

WIDTH = 88
INDENT = "    "
ARROW = " -> "


@dataclass(frozen=True)
class Comment:
    start: int
    text: str
    own_line: bool
    """Nothing but whitespace before it on its line."""


@dataclass
class Slot:
    """The comments above an element, after it on its line, and (for the last) below it."""

    above: list[Comment] = field(default_factory=list)
    after: list[Comment] = field(default_factory=list)
    below: list[Comment] = field(default_factory=list)


def format_text(text: str) -> str:
    """The canonical form of a spec or spec file; raises SpecError if it does not parse."""
    parsed = parse_file(text)
    comments = _comments(text)
    newline = "\r\n" if text.count("\r\n") > text.count("\n") / 2 else "\n"
    if isinstance(parsed, ast.Chain):
        body = _file([_Entry("", parsed, parsed.span)], comments, text)
    else:
        entries = [_Entry(_header(d), d.chain, d.span) for d in parsed.definitions]
        entries += [_scale_entry(scale) for scale in parsed.scales]
        body = _file(sorted(entries, key=lambda entry: entry.span.start), comments, text)
    return newline.join(body) + newline


def layout(tree: ast.Chain) -> str:
    """A chain laid out as ``cnndsl fmt`` lays out a spec of it (no comments), without a newline at the end.

    >>> from cnndsl.syntax import parse
    >>> layout(parse("CN(8,3)->  MP(2)"))
    'CN(8, 3) -> MP(2)'
    """
    return "\n".join(_chain_lines("", tree, []))


@dataclass(frozen=True)
class _Entry:
    """One top-level chain: a bare spec (empty header) or a definition."""

    header: str
    chain: ast.Chain
    span: ast.Span


def _scale_entry(scale: ast.Scale) -> _Entry:
    """A scale line, laid out as a call after ``scale ``: ``scale n(0.50, 0.25, 1024)``."""
    name, whole = scale.name_span, scale.span
    span = ast.Span(name.start, whole.end, name.line, name.column, whole.end_line, whole.end_column)
    return _Entry("scale ", ast.Chain((ast.Call(scale.name, scale.args, span),), whole), whole)


def _header(definition: ast.Definition) -> str:
    return f"{'block ' if definition.is_block else ''}{definition.name} = "


def _comments(text: str) -> list[Comment]:
    found = []
    for match in re.finditer(r"#[^\n]*", text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        own_line = not text[line_start : match.start()].strip(BLANKS)
        found.append(Comment(match.start(), match.group().rstrip("\r").rstrip(), own_line))
    return found


def _file(entries: list[_Entry], comments: list[Comment], text: str) -> list[str]:
    """Entries and the comments between them, in order, keeping single blank lines."""
    lines: list[str] = []
    pending = list(comments)
    items: list[tuple[int, list[str]]] = []
    for index, entry in enumerate(entries):
        limit = entries[index + 1].span.start if index + 1 < len(entries) else len(text) + 1
        mine = [
            c for c in pending if entry.span.start <= c.start < limit and (c.start < entry.span.end or not c.own_line)
        ]
        pending = [c for c in pending if c not in mine]
        items.append((entry.span.start, _chain_lines(entry.header, entry.chain, mine)))
    items += [(c.start, [c.text]) for c in pending]
    for start, block in sorted(items, key=lambda item: item[0]):
        if lines and _blank_line_before(text, start):
            lines.append("")
        lines += block
    return lines


def _blank_line_before(text: str, offset: int) -> bool:
    """Whether the line above the one holding ``offset`` is blank."""
    line_start = text.rfind("\n", 0, offset) + 1
    if line_start == 0:
        return False
    above = text[: line_start - 1]
    return not above[above.rfind("\n") + 1 :].strip(BLANKS)


def _chain_lines(header: str, chain: ast.Chain, comments: list[Comment]) -> list[str]:
    parts = [element(e) for e in chain.elements]
    slots = _attach(chain, comments)
    lines = [c.text for c in slots[0].above]
    below = [c.text for c in slots[-1].below]
    one_line = header + ARROW.join(parts)
    inside = any(slot.after for slot in slots[:-1]) or any(slot.above for slot in slots[1:])
    if len(one_line) <= WIDTH and not inside:
        return [*lines, _with_trailing(one_line, slots[-1]), *below]
    for index, node in enumerate(chain.elements):
        if index:
            lines += [INDENT + c.text for c in slots[index].above]
        lead = header if index == 0 else f"{INDENT}-> "
        block = _element_lines(node, WIDTH - len(lead))
        rest = [(INDENT if index else "") + line for line in block[1:]]
        placed = [lead + block[0], *rest]
        placed[-1] = _with_trailing(placed[-1], slots[index])
        lines += placed
    return [*lines, *below]


def _element_lines(node: ast.Node, width: int) -> list[str]:
    """One element over as many lines as it needs: only a merge breaks across lines."""
    text = element(node)
    if len(text) <= width:
        return [text]
    if isinstance(node, ast.Merge):
        return _merge_lines(node, width)
    if isinstance(node, ast.Repeat) and isinstance(node.body, ast.Merge):
        lines = _merge_lines(node.body, width)
        return [*lines[:-1], f"{lines[-1]} * {print_value(node.count)}"]
    if isinstance(node, ast.Named) and not isinstance(node.body, ast.Named):
        lines = _element_lines(node.body, width)
        return [*lines[:-1], f"{lines[-1]} as {node.name}"]
    return [text]


def _merge_lines(node: ast.Merge, width: int) -> list[str]:
    """``ADD(`` / a branch per line, ``| `` before all but the first / its keywords / ``)``."""
    lines = [f"{node.code}("]
    for index, branch in enumerate(node.branches):
        mark = "| " if index else ""
        block = _branch_lines(branch, width - len(INDENT) - len(mark))
        lines.append(INDENT + mark + block[0])
        lines += [INDENT + " " * len(mark) + line for line in block[1:]]
    if node.args:
        lines[-1] += ","
        lines.append(INDENT + ", ".join(_argument(arg) for arg in node.args))
    lines.append(")")
    return lines


def _branch_lines(branch: ast.Chain, width: int) -> list[str]:
    """A branch on one line while it fits, else one element per line after ``-> ``."""
    text = chain(branch)
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    for index, node in enumerate(branch.elements):
        lead = "-> " if index else ""
        block = _element_lines(node, width - len(lead))
        lines.append(lead + block[0])
        lines += [" " * len(lead) + line for line in block[1:]]
    return lines


def _with_trailing(line: str, slot: Slot) -> str:
    return "  ".join([line, *(c.text for c in slot.after)])


def _attach(chain: ast.Chain, comments: list[Comment]) -> list[Slot]:
    """Give each comment in a chain to the element it follows on its line, or precedes.

    An element keeps one comment after it on its line; any further one moves to its
    own line below it, so that formatting again finds the same comments.
    """
    elements = chain.elements
    slots = [Slot() for _ in elements]
    for comment in comments:
        index = max([i for i, e in enumerate(elements) if e.span.start <= comment.start] or [0])
        follows = comment.start >= elements[index].span.end
        if comment.own_line and follows and index + 1 < len(elements):
            slots[index + 1].above.append(comment)
        elif comment.own_line:
            slots[index].above.append(comment)
        elif not slots[index].after:
            slots[index].after.append(comment)
        elif index + 1 < len(elements):
            slots[index + 1].above.append(comment)
        else:
            slots[index].below.append(comment)
    return slots


# --- elements -------------------------------------------------------------------------


def element(node: ast.Node, tight: bool = False) -> str:
    """One chain element in canonical form, on one line.

    ``tight`` writes a tuple without spaces, ``(1,2)``, as the readers' text has it
    (:mod:`cnndsl.writer`); ``cnndsl fmt`` writes ``(1, 2)``.
    """
    match node:
        case ast.Call():
            return f"{node.code}({', '.join(_argument(arg, tight) for arg in node.args)})"
        case ast.Merge():
            branches = " | ".join(chain(branch, tight) for branch in node.branches)
            args = "".join(", " + _argument(arg, tight) for arg in node.args)
            return f"{node.code}({branches}{args})"
        case ast.Ref():
            return node.name
        case ast.Repeat():
            body = node.body
            inner = f"({chain(body, tight)})" if isinstance(body, ast.Chain) else _bracketed(body, tight)
            return f"{inner} * {print_value(node.count, tight)}"
        case ast.Named():
            return f"{_bracketed(node.body, tight)} as {node.name}"
        case ast.Tensor():
            return f"@{node.name}"
        case ast.Chain():
            return f"({chain(node, tight)})"
        case ast.Alternatives():
            return "{" + " | ".join(chain(option, tight) for option in node.options) + "}"
        case _:
            assert_never(node)


def _bracketed(node: ast.Node, tight: bool = False) -> str:
    """An element that ``* N`` or ``as name`` follows: a named one in parentheses, as the grammar needs."""
    return f"({element(node, tight)})" if isinstance(node, ast.Named) else element(node, tight)


def chain(node: ast.Chain, tight: bool = False) -> str:
    return ARROW.join(element(e, tight) for e in node.elements)


def _argument(arg: ast.Arg, tight: bool = False) -> str:
    return f"{arg.name}={print_value(arg.value, tight)}" if arg.name else print_value(arg.value, tight)


def print_value(node: ast.Value, tight: bool = False) -> str:
    """A value as written: a number's own text, a word, a tuple, a choice or a range of a space."""
    if isinstance(node, ast.Number):
        return node.text
    if isinstance(node, ast.Word):
        return node.name
    if isinstance(node, ast.Choice):
        return "{" + ", ".join(print_value(option, tight) for option in node.options) + "}"
    if isinstance(node, ast.Range):
        return f"{{{node.low.text}..{node.high.text}}}"
    items = [print_value(item, tight) for item in node.items]
    if tight:  # the readers' text, as it has always been written: a tuple of one item is ``(x)``
        return f"({','.join(items)})"
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


# --- a printed tree, placed in its text ---------------------------------------------------


def placed(tree: ast.Chain, text: str) -> ast.Chain:
    """``tree`` with every span moved into ``text``, its printing (:func:`layout` or :func:`chain`).

    The nodes keep their order and kind, so that a node of the result stands for the node of
    ``tree`` at the same place: an error about the printed text is mapped back by node, and
    the text is never parsed again. Spans follow the parser's: a chain in parentheses spans
    inside them, a repetition or a name spans its body's parentheses too.
    """
    return _Placer(text).chain(tree)


class _Placer:
    """Walks a tree in printing order, finding each of its tokens in the printed text."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0
        self.lines = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def chain(self, node: ast.Chain) -> ast.Chain:
        start = self._skip()
        elements = self._separated(node.elements, "->", self.element)
        return ast.Chain(elements, self._span(start))

    def element(self, node: ast.Node) -> ast.Node:
        start = self._skip()
        match node:
            case ast.Call():
                self._token(node.code + "(")
                args = self._arguments(node.args)
                self._token(")")
                return ast.Call(node.code, args, self._span(start))
            case ast.Merge():
                self._token(node.code + "(")
                branches = self._separated(node.branches, "|", self.chain)
                args = []
                for arg in node.args:
                    self._token(",")
                    args.append(self._argument(arg))
                self._token(")")
                return ast.Merge(node.code, branches, tuple(args), self._span(start))
            case ast.Ref():
                self._token(node.name)
                return ast.Ref(node.name, self._span(start))
            case ast.Tensor():
                self._token("@" + node.name)
                return ast.Tensor(node.name, self._span(start))
            case ast.Repeat():
                body = self._bracketed(node.body)
                self._token("*")
                count = self.value(node.count)
                return ast.Repeat(body, count, self._span(start))
            case ast.Named():
                body = self._bracketed(node.body)
                self._token("as")
                name_start = self._skip()
                self._token(node.name)
                return ast.Named(body, node.name, self._span(start), self._span(name_start))
            case ast.Chain():
                self._token("(")
                inner = self.chain(node)
                self._token(")")
                return inner
            case ast.Alternatives():
                self._token("{")
                options = self._separated(node.options, "|", self.chain)
                self._token("}")
                return ast.Alternatives(options, self._span(start))
            case _:
                assert_never(node)

    def _separated(self, items, separator: str, place) -> tuple:
        """``items`` placed one after another, ``separator`` found between each two."""
        placed_items = []
        for index, item in enumerate(items):
            if index:
                self._token(separator)
            placed_items.append(place(item))
        return tuple(placed_items)

    def _bracketed(self, node: ast.Node) -> ast.Node:
        """What ``* N`` or ``as name`` follows: a named element in parentheses (a chain has its own)."""
        if not isinstance(node, ast.Named):
            return self.element(node)
        self._token("(")
        inner = self.element(node)
        self._token(")")
        return inner

    def _arguments(self, args: tuple[ast.Arg, ...]) -> tuple[ast.Arg, ...]:
        return self._separated(args, ",", self._argument)

    def _argument(self, arg: ast.Arg) -> ast.Arg:
        start = self._skip()
        if arg.name:
            self._token(arg.name)
            self._token("=")
        value = self.value(arg.value)
        return ast.Arg(arg.name, value, self._span(start))

    def value(self, node):
        start = self._skip()
        match node:
            case ast.Number():
                self._token(node.text)
                return ast.Number(node.value, node.text, self._span(start))
            case ast.Word():
                self._token(node.name)
                return ast.Word(node.name, self._span(start))
            case ast.Tuple():
                self._token("(")
                items = self._separated(node.items, ",", self.value)
                if len(items) == 1:
                    self._token(",")
                self._token(")")
                return ast.Tuple(items, self._span(start))
            case ast.Choice():
                self._token("{")
                options = self._separated(node.options, ",", self.value)
                self._token("}")
                return ast.Choice(options, self._span(start))
            case ast.Range():
                self._token("{")
                low = self.value(node.low)
                self._token("..")
                high = self.value(node.high)
                self._token("}")
                return ast.Range(low, high, self._span(start))
            case _:
                assert_never(node)

    def _skip(self) -> int:
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1
        return self.at

    def _token(self, token: str) -> None:
        start = self._skip()
        if not self.text.startswith(token, start):
            raise ValueError(f"the text is not the tree's printing: {token!r} expected at {start}")
        self.at = start + len(token)

    def _span(self, start: int) -> ast.Span:
        return ast.Span(start, self.at, *self._position(start), *self._position(self.at))

    def _position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.lines, offset)
        return line, offset - self.lines[line - 1] + 1
