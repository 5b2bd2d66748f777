"""Specs embedded in Python: string literals passed to cnndsl's entry points.

``cnndsl check train.py`` finds calls such as ``compile_spec("CN(32)->FL()")`` or
``cnndsl.check(SPEC_TEXT_LITERAL, input_shape=(32, 32, 3))`` and checks each literal,
reporting positions in the Python file.
"""

from __future__ import annotations

import ast as pyast
from dataclasses import dataclass

from cnndsl.ast import Span
from cnndsl.syntax import span_at

ENTRY_POINTS = frozenset({"compile_spec", "check", "parse", "train"})
"""cnndsl functions whose first argument (or ``spec=``/``text=``) is a spec."""
SPEC_KEYWORDS = ("spec", "text")


@dataclass(frozen=True)
class EmbeddedSpec:
    """One spec literal in a Python file, and how to map its positions back."""

    text: str
    line: int
    offset: int | None
    """Where the spec's first character sits in the file, when positions map exactly."""
    literal: Span
    input_shape: tuple | None
    num_classes: int | None

    def locate(self, span: Span | None, source: str) -> Span:
        """A span in the spec -> the same text in the Python file (else the whole literal)."""
        if span is None or self.offset is None:
            return self.literal
        return span_at(source, self.offset + span.start, self.offset + span.end)


def find_specs(source: str) -> list[EmbeddedSpec]:
    """Every spec literal passed to a cnndsl entry point; SyntaxError if not Python."""
    tree = pyast.parse(source)
    functions, modules = _imports(tree)
    found = []
    for node in pyast.walk(tree):
        if isinstance(node, pyast.Call) and _is_entry_point(node.func, functions, modules):
            literal = _spec_argument(node)
            if literal is not None:
                found.append(_embedded(literal, node, source))
    return sorted(found, key=lambda spec: (spec.literal.start, spec.text))


def _imports(tree: pyast.AST) -> tuple[set[str], set[str]]:
    """Local names of imported entry points, and of the cnndsl module itself."""
    functions, modules = set(), set()
    for node in pyast.walk(tree):
        if isinstance(node, pyast.ImportFrom) and (node.module or "").split(".")[0] == "cnndsl":
            functions |= {alias.asname or alias.name for alias in node.names if alias.name in ENTRY_POINTS}
        elif isinstance(node, pyast.Import):
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "cnndsl"}
    return functions, modules


def _is_entry_point(func: pyast.expr, functions: set[str], modules: set[str]) -> bool:
    if isinstance(func, pyast.Name):
        return func.id in functions
    return (
        isinstance(func, pyast.Attribute)
        and func.attr in ENTRY_POINTS
        and isinstance(func.value, pyast.Name)
        and func.value.id in modules
    )


def _spec_argument(call: pyast.Call) -> pyast.Constant | None:
    candidates = call.args[:1] + [kw.value for kw in call.keywords if kw.arg in SPEC_KEYWORDS]
    for node in candidates:
        if isinstance(node, pyast.Constant) and isinstance(node.value, str):
            return node
    return None


def _embedded(literal: pyast.Constant, call: pyast.Call, source: str) -> EmbeddedSpec:
    start = _char_offset(source, literal.lineno, literal.col_offset)
    end = _char_offset(source, literal.end_lineno, literal.end_col_offset)
    body = _body(source[start:end])
    exact = body is not None and source[start + body[0] : start + body[1]] == literal.value
    return EmbeddedSpec(
        literal.value,
        literal.lineno,
        start + body[0] if exact else None,
        span_at(source, start, end),
        _literal_keyword(call, "input_shape"),
        _literal_keyword(call, "num_classes"),
    )


QUOTES = ('"' * 3, "'" * 3, '"', "'")


def _body(segment: str) -> tuple[int, int] | None:
    """Where a single string literal's body starts and ends, inside prefix and quotes."""
    prefix = len(segment) - len(segment.lstrip("rRuUbBfF"))
    for quote in QUOTES:
        if segment.startswith(quote, prefix) and segment.endswith(quote) and len(segment) >= prefix + 2 * len(quote):
            return prefix + len(quote), len(segment) - len(quote)
    return None


def _char_offset(source: str, line: int, byte_column: int) -> int:
    """Python's (line, UTF-8 byte column) -> a character offset into ``source``."""
    lines = source.split("\n")
    before = sum(len(text) + 1 for text in lines[: line - 1])
    return before + len(lines[line - 1].encode("utf-8")[:byte_column].decode("utf-8", errors="ignore"))


def _literal_keyword(call: pyast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            try:
                return pyast.literal_eval(keyword.value)
            except (ValueError, SyntaxError, TypeError):
                return None
    return None
