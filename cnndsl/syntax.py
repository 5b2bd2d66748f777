"""Text -> AST. The only module that touches lark.

lark builds the LALR tables from ``grammar/cnndsl.lark``; they are stored, as plain
data, in the generated module :mod:`cnndsl.grammar_tables` (:func:`write_tables`
writes it; ``tests/test_lalr.py`` fails if it differs from a fresh build), and
:mod:`cnndsl.lalr` drives them to read a text straight into the AST. Where a text
fails, the reading says where and what lark's parser would have expected there
(:class:`cnndsl.lalr.Failure`); :func:`failure_diagnostic` turns that into a
SpecSyntaxError with positions and token names in the notation's own words. lark
itself is imported only to build the tables and, in tests, as the reference both
readings are held to (:func:`read_with_lark`, :func:`lark_failure`).
"""

from __future__ import annotations

import functools
import re
import sys

from cnndsl import ast, lalr
from cnndsl.errors import SYNTAX, Diagnostic, raise_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedInput

BLANKS = " \t\f\r\n\ufeff"
"""What the grammar's WHITESPACE ignores: blank text between tokens."""

MAX_NESTING = 64
"""Deepest nesting of parentheses a spec may use (a real spec uses 3)."""

MAX_SPEC_CHARS = 256 * 1024
"""Longest spec or spec file parsed, in characters: about 16,000 layers written out, checked
in 0.3 s (a real spec is under a kilobyte)."""

TOKEN_WORDS = {
    "ARROW": "'->'",
    "PIPE": "'|'",
    "ADD": "'ADD'",
    "CAT": "'CAT'",
    "MUL": "'MUL'",
    "ATT": "'ATT'",
    "OUT": "'OUT'",
    "DETECT": "'DETECT'",
    "STAR": "'*'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "DOTS": "'..'",
    "AS": "'as'",
    "AT": "'@'",
    "NAME": "a name",
    "NUMBER": "a number",
    "$END": "the end of the spec",
}


SPACE_TOKENS = frozenset({"LBRACE", "RBRACE", "DOTS"})
"""The tokens of search spaces (cnndsl.space)."""

GRAMMAR_FILE = "cnndsl.lark"


def grammar_path() -> Path:
    """``grammar/cnndsl.lark``: inside an installed wheel, or at the top of a checkout."""
    from pathlib import Path

    package = Path(__file__).resolve().parent
    installed = package / "grammar" / GRAMMAR_FILE
    return installed if installed.is_file() else package.parent / "grammar" / GRAMMAR_FILE


def grammar_text() -> str:
    return grammar_path().read_text("utf-8")


@functools.cache
def _parser(start: str) -> Lark:
    from lark import Lark

    # No propagate_positions: it costs more than the rest of parsing; _span reads tokens instead.
    return Lark(grammar_text(), start=start, parser="lalr", maybe_placeholders=False)


def parse(text: str) -> ast.Chain:
    """Parse one spec into its AST; raise SpecSyntaxError with a position on bad input."""
    return _read(text, "spec")


_last_file: list = []
"""The last text :func:`parse_file` read and its tree (a check, its summary and its canonical text each ask)."""


def parse_file(text: str) -> ast.SpecFile | ast.Chain:
    """Parse a spec file: named definitions, or one bare spec.

    Both readings are tried; when neither fits, the error reported is the one that
    got further into the text, so a bare spec keeps its plain diagnostics.
    """
    if _last_file and _last_file[0] == text:  # the trees are immutable: one text read twice in a row is read once
        return _last_file[1]
    _check_length(text)
    node, as_spec = _reader("spec").run(text, MAX_NESTING)
    if node is None:
        node, as_file = _reader("file").run(text, MAX_NESTING)
    if node is not None:
        _last_file[:] = [text, node]
        return node
    _check_nesting(text)
    first, second = failure_diagnostic(as_spec, text), failure_diagnostic(as_file, text)
    raise_errors([second if first.span.start < second.span.start else first], text)


def read_fast(text: str, start: str, max_depth: int = MAX_NESTING):
    """The fast reading alone (``start``: "spec" or "file"): the tree, or None where it declines.

    It declines a text with an error (which :func:`parse` and :func:`parse_file` would then
    have lark report), parentheses nested past ``max_depth``, or more than MAX_SPEC_CHARS.
    What needs a tree and no message (hints for a file mid-edit) reads this way: lark is
    never loaded.
    """
    if len(text) > MAX_SPEC_CHARS:
        return None
    return _reader(start).read(text, max_depth=max_depth)


def _read(text: str, start: str):
    """The fast reading (lark's tables, :mod:`cnndsl.lalr`); a located SpecSyntaxError where it stops."""
    _check_length(text)
    if "{" in text:  # the fast reading counts parentheses only; braces nest too
        _check_nesting(text)
    node, failure = _reader(start).run(text, MAX_NESTING)
    if node is None:
        _check_nesting(text)  # nesting past the limit is reported first, wherever it is
        raise_errors([failure_diagnostic(failure, text)], text)
    return node


def read_with_lark(text: str, start: str = "spec"):
    """lark's parser and tree, converted: the reference the fast reading is held to (tests)."""
    tree = _parse_tree(text, start)
    return _chain(tree.children[0]) if start == "spec" else _spec_file(tree)


@functools.cache
def _reader(start: str) -> lalr.Reader:
    """The fast reader for ``start``, on the stored tables: neither lark nor the grammar is loaded."""
    return lalr.Reader(stored_tables(start), parentheses=("LPAR", "RPAR"))


STARTS = ("spec", "file")


def tables_module() -> Path:
    """``cnndsl/grammar_tables.py``, where :func:`write_tables` writes the tables."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "grammar_tables.py"


def stored_tables(start: str) -> lalr.Grammar:
    """The tables of :mod:`cnndsl.grammar_tables`, as :func:`tables` built them."""
    from cnndsl.grammar_tables import TABLES

    return lalr.unpack(TABLES[start])


def tables_source() -> str:
    """The text of :mod:`cnndsl.grammar_tables`, generated from the grammar by lark now."""
    import pprint

    packed = {start: lalr.pack(lalr.canonical(tables(start))) for start in STARTS}
    return (
        '"""The LALR(1) tables lark builds from grammar/cnndsl.lark, as plain data (see cnndsl.lalr.pack).\n\n'
        "Generated by cnndsl.syntax.write_tables(); do not edit:\n"
        'tests/test_lalr.py fails when this differs from a fresh build.\n"""\n\n'
        f"# fmt: off\nTABLES = {pprint.pformat(packed, width=120, sort_dicts=False)}\n"
    )


def tables(start: str) -> lalr.Grammar:
    """What lark built from the grammar for ``start``: terminals, rules and parse table."""
    from lark.lexer import PatternStr

    parser = _parser(start)
    table = parser.parser.parser.parser.parse_table  # not public API: tests/test_lalr.py notices a move
    terminals = tuple(
        lalr.Terminal(
            str(t.name),
            t.pattern.to_regexp(),
            t.priority,
            t.pattern.max_width,
            len(t.pattern.value),
            t.pattern.value if isinstance(t.pattern, PatternStr) else None,
        )
        for t in parser.terminals
    )
    rules = {rule: _rule(rule) for rule in parser.rules}
    states = {
        state: {
            str(symbol): (True, target) if action.name == "Shift" else (False, rules[target])
            for symbol, (action, target) in actions.items()
        }
        for state, actions in table.states.items()
    }
    return lalr.Grammar(
        terminals,
        frozenset(str(name) for name in parser.ignore_tokens),
        tuple(rules.values()),
        states,
        table.start_states[start],
        start,
    )


def _rule(rule) -> lalr.Rule:
    # str(): lark's names are Token objects, slower to compare than plain strings
    return lalr.Rule(str(rule.origin.name), tuple(str(symbol.name) for symbol in rule.expansion), rule.alias)


def _parse_tree(text: str, start: str) -> Tree:
    from lark.exceptions import UnexpectedInput

    _check_length(text)
    _check_nesting(text)
    try:
        return _parser(start).parse(text)
    except UnexpectedInput as exc:
        raise_errors([failure_diagnostic(lark_failure(exc), text)], text)
        raise  # unreachable: raise_errors always raises for an error diagnostic


def _check_length(text: str) -> None:
    """Refuse a text longer than MAX_SPEC_CHARS, before spending seconds parsing it."""
    if len(text) > MAX_SPEC_CHARS:
        span = span_at(text, MAX_SPEC_CHARS, MAX_SPEC_CHARS + 1)
        message = f"the spec is longer than {MAX_SPEC_CHARS:,} characters ({len(text):,})"
        hint = "repeat layers with '*': (CN(32)->BN())*100"
        raise_errors([Diagnostic(SYNTAX, message, span, hint=hint, code="too-long")], text)


def _check_nesting(text: str) -> None:
    """Refuse parentheses nested past MAX_NESTING, before the recursive passes meet them."""
    depth = 0
    for match in re.finditer(r"#[^\n]*|[(){}]", text):
        if match.group()[0] == "#":  # a comment's parentheses nest nothing
            continue
        depth += 1 if match.group() in "({" else -1
        if depth > MAX_NESTING:
            span = span_at(text, match.start(), match.end())
            message = f"parentheses nested deeper than {MAX_NESTING} levels"
            raise_errors([Diagnostic(SYNTAX, message, span, code="too-deep")], text)


# --- lark exceptions -> diagnostics -------------------------------------------------


def lark_failure(exc: UnexpectedInput) -> lalr.Failure:
    """lark's error as a :class:`cnndsl.lalr.Failure`: the fast reading's own terms."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF

    expected = frozenset(getattr(exc, "expected", ()) or ())
    if isinstance(exc, UnexpectedCharacters):
        return lalr.Failure("character", exc.pos_in_stream, exc.pos_in_stream + 1, None, frozenset())
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or token is None or token.type == "$END":
        return lalr.Failure("end", -1, -1, "$END", expected)
    return lalr.Failure("token", token.start_pos, token.end_pos, str(token.type), expected)


def failure_diagnostic(failure: lalr.Failure, text: str) -> Diagnostic:
    """The syntax error a reading stopped at, in words: what was expected and what was found."""
    if _is_blank(text):
        span = span_at(text, 0, 0)
        hint = "write layers joined by '->': CN(32)->FL()->DN(10)"
        return Diagnostic(SYNTAX, "the spec is empty", span, hint=hint, code="empty-spec")
    if failure.kind == "character":
        char = text[failure.start] if 0 <= failure.start < len(text) else ""
        span = span_at(text, failure.start, failure.start + 1)
        message = f"unexpected character {describe_char(char)}"
        return Diagnostic(SYNTAX, message, span, hint=_char_hint(char), code="unexpected-character")
    if failure.kind == "depth":  # _check_nesting reports it before any failure is rendered
        raise AssertionError("nesting past the limit is reported by _check_nesting")
    expected = set(failure.expected)
    if "{" not in text:  # a spec without braces is not a search space: leave them out of the advice
        expected -= SPACE_TOKENS
    found, token = failure.found, None
    if failure.kind == "end":
        span = span_at(text, len(text.rstrip()), len(text.rstrip()))
        words = "the end of the spec"
    else:
        token = text[failure.start : failure.end]
        span = span_at(text, failure.start, failure.end)
        words = f"{TOKEN_WORDS.get(found, found)} {token!r}"
        if found in ("ARROW", "PIPE", "STAR", "LPAR", "RPAR", "COMMA", "EQUAL", "LBRACE", "RBRACE", "DOTS", "AT"):
            words = TOKEN_WORDS[found]
    message = f"expected {_expected_words(expected)}, found {words}"
    hint = _token_hint(expected, found if token is not None else None)
    return Diagnostic(SYNTAX, message, span, hint=hint, code="unexpected-end" if token is None else "unexpected-token")


def _token_hint(expected: set[str], found: str | None) -> str | None:
    if found is None:
        return None
    if found == "PIPE" and "PIPE" not in expected:
        return "'|' separates the branches of a merge: ADD(A | B), CAT(A | B), MUL(A | B)"
    if "ARROW" in expected and found in ("NAME", "LPAR"):
        return "layers are joined by '->'"
    if expected == {"EQUAL"} and found == "LPAR":
        return "layers are joined by '->'; a new definition starts with 'name ='"
    return None


def _is_blank(text: str) -> bool:
    """Nothing but whitespace, byte-order marks and comments."""
    return not re.sub(r"#[^\n]*", "", text).strip(BLANKS)


def _expected_words(expected: set[str]) -> str:
    if "NAME" in expected and expected <= {
        "NAME",
        "LPAR",
        "ADD",
        "CAT",
        "MUL",
        "ATT",
        "OUT",
        "RSZTO",
        "DETECT",
        "LBRACE",
        "AT",
    }:
        return "a layer such as CN(32)"
    words = sorted({TOKEN_WORDS.get(name, name.lower()) for name in expected})
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def describe_char(char: str) -> str:
    """``'@'``, or the code point and name of a character that does not print plainly."""
    if not char:
        return "(none)"
    if char.isascii() and char.isprintable():
        return repr(char)
    import unicodedata

    name = unicodedata.name(char, "unnamed character")
    return f"U+{ord(char):04X} {name}"


def _char_hint(char: str) -> str | None:
    if char in "-–—" or char == ">":
        return "layers are joined by '->' (or '→')"
    if char in "[]{}":
        return "tuples are written with parentheses: (3,3)"
    if char in "'\"":
        return "words need no quotes: activation=relu"
    return None


def span_at(text: str, start: int, end: int) -> ast.Span:
    """The Span of ``text[start:end]``, counting lines by '\\n' as lark does."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = line + text.count("\n", start, end)
    end_column = end - (text.rfind("\n", 0, end) + 1) + 1
    return ast.Span(start, end, line, column, end_line, end_column)


# --- lark tree -> AST -------------------------------------------------------------


def _span(node: Tree | Token) -> ast.Span:
    """A token's span, or a subtree's from its first token to its last."""
    first, last = _edge_token(node, 0), _edge_token(node, -1)
    if first is None or last is None:
        raise ValueError(f"no tokens under {node.data!r} to locate it")
    return ast.Span(first.start_pos, last.end_pos, first.line, first.column, last.end_line, last.end_column)


def _edge_token(node: Tree | Token, side: int) -> Token | None:
    """The first (``side=0``) or last (``side=-1``) token under a node, if any."""
    if isinstance(node, str):  # a lark Token (a str); a Tree is not
        return node
    for child in node.children if side == 0 else reversed(node.children):
        token = _edge_token(child, side)
        if token is not None:
            return token
    return None


def _spec_file(tree: Tree) -> ast.SpecFile:
    definitions = tuple(_definition(child) for child in tree.children if child.data == "definition")
    return ast.SpecFile(definitions, tuple(_scale(child) for child in tree.children if child.data == "scale"))


def _scale(tree: Tree) -> ast.Scale:
    _keyword, name, _lpar, arguments, _rpar = tree.children
    args = tuple(_argument(child) for child in arguments.children if not _is_punct(child))
    return ast.Scale(str(name), args, _span(tree), _span(name))


def _definition(tree: Tree) -> ast.Definition:
    *keyword, name, _eq, chain = tree.children
    return ast.Definition(str(name), _chain(chain), bool(keyword), _span(tree), _span(name))


def _chain(tree: Tree) -> ast.Chain:
    elements = tuple(_element(child) for child in tree.children if not isinstance(child, str) or child.type == "NAME")
    return ast.Chain(elements, _span(tree))


def _element(node: Tree | Token) -> ast.Node:
    if isinstance(node, str):  # a lone NAME Token folded into the chain by ?atom
        return ast.Ref(str(node), _span(node))
    kind = node.data
    if kind == "call":
        name, _lpar, arguments, _rpar = node.children
        args = tuple(_argument(child) for child in arguments.children if not _is_punct(child))
        return ast.Call(str(name), args, _span(node))
    if kind == "merge":
        branches = tuple(
            _chain(child) for child in node.children if not isinstance(child, str) and child.data == "chain"
        )
        args = tuple(
            _argument(child) for child in node.children if not isinstance(child, str) and child.data != "chain"
        )
        return ast.Merge(str(node.children[0]), branches, args, _span(node))
    if kind == "group":
        inner = _chain(node.children[1])
        return inner.elements[0] if len(inner.elements) == 1 else inner
    if kind == "repeat":
        body, _star, count = node.children
        return ast.Repeat(_element(body), _number(count), _span(node))
    if kind == "ref":
        return ast.Ref(str(node.children[0]), _span(node))
    if kind == "named":
        body, _as, name = node.children
        return ast.Named(_element(body), str(name), _span(node), _span(name))
    if kind == "tensor":
        return ast.Tensor(str(node.children[1]), _span(node))
    if kind in _SPACE_ELEMENTS:
        return _SPACE_ELEMENTS[kind](node)
    return _chain(node)


def _argument(node: Tree) -> ast.Arg:
    if node.data == "keyword":
        name, _eq, value = node.children
        return ast.Arg(str(name), _value(value), _span(node))
    return ast.Arg(None, _value(node), _span(node))


def _value(node: Tree) -> ast.Value:
    kind = node.data
    if kind == "number":
        return _number(node.children[0])
    if kind == "word":
        return ast.Word(str(node.children[0]), _span(node))
    if kind in _SPACE_VALUES:
        return _SPACE_VALUES[kind](node)
    items = tuple(_value(child) for child in node.children if not _is_punct(child))
    if len(items) == 1 and not any(isinstance(c, str) and c.type == "COMMA" for c in node.children):
        return items[0]  # (5) is 5, as in Python
    return ast.Tuple(items, _span(node))


def _is_punct(node: Tree | Token) -> bool:
    return isinstance(node, str) and node.type in ("COMMA", "LPAR", "RPAR", "EQUAL")


def _number(token: Token) -> ast.Number:
    return ast.Number(lalr.number_value(str(token)), str(token), _span(token))


# --- search spaces (cnndsl.space) -------------------------------------------------------

_SPACE_ELEMENTS = {
    "alternatives": lambda node: ast.Alternatives(
        tuple(_chain(c) for c in node.children if not isinstance(c, str)), _span(node)
    ),
    "repeat_options": lambda node: ast.Repeat(_element(node.children[0]), _value(node.children[2]), _span(node)),
}
_SPACE_VALUES = {
    "choice": lambda node: ast.Choice(tuple(_value(c) for c in node.children if not isinstance(c, str)), _span(node)),
    "range": lambda node: ast.Range(_number(node.children[1]), _number(node.children[3]), _span(node)),
}


def write_tables() -> None:
    """Regenerate :mod:`cnndsl.grammar_tables` after a change to the grammar."""
    path = tables_module()
    path.write_text(tables_source(), "utf-8")
    print(f"wrote {path}", file=sys.stderr)
