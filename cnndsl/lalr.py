"""The fast reading of a spec: lark's own LALR(1) tables, driven by a tight loop that
builds the AST directly.

The grammar stays the single source of the syntax: the terminals' patterns, the
parse table and the rules all come from the parser lark builds from
``grammar/cnndsl.lark`` (:func:`cnndsl.syntax.tables`). What this module saves is
lark's per-token machinery: Token objects, line counting, a parse tree and its
conversion. Tokens are the scanner's own match objects, and line and column are
worked out only for the spans the AST keeps.

On any input it cannot take as it stands (an unexpected token or character, nesting
past the limit), :meth:`Reader.read` returns None, and :meth:`Reader.run` says where it
stopped and what it expected there, as lark's parser would (:class:`Failure`):
:mod:`cnndsl.syntax` makes the diagnostic from that, without loading lark.
``tests/test_lalr.py`` holds the two readings to the same AST, and to the same
diagnostic for every text lark refuses.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import chain

from cnndsl import ast
from cnndsl.records import record

MAX_NUMBER_DIGITS = 30
"""Integers with more digits than this are read as infinitely large (and rejected by bounds)."""

Builder = Callable[[list, re.Match, re.Match, "_Lines"], object]


@record
class Terminal:
    """A terminal as lark's lexer sees it: name, regular expression, and sort key."""

    name: str
    regexp: str
    priority: int
    max_width: int
    length: int
    literal: str | None
    """The string a string terminal stands for (``"block"``); None for a regular expression."""


@record
class Rule:
    """One production: ``origin: expansion``, with its ``-> alias`` if any."""

    origin: str
    expansion: tuple[str, ...]
    alias: str | None


@record
class Failure:
    """Where the reading stopped, as lark's parser would report it.

    ``kind`` is "character" (no terminal matches at ``start``), "token" (the token
    ``found`` is not expected there), "end" (the text ended early) or "depth"
    (parentheses nested past the limit). ``expected`` is the set of terminals lark's
    error lists: the parser state's terminals; when lark's contextual lexer is the one that
    stops (before any reduction on the token), those its lexer for the state scans for:
    not the end of the text, nor a keyword (``ADD``) where the state also takes a name.
    """

    kind: str
    start: int
    end: int
    found: str | None
    """The terminal of the unexpected token, as lark's lexer names it (``BLOCK`` for ``block``)."""
    expected: frozenset[str]


@record
class Grammar:
    """What lark built from the grammar for one start rule, as plain data."""

    terminals: tuple[Terminal, ...]
    ignore: frozenset[str]
    rules: tuple[Rule, ...]
    states: dict[int, dict[str, tuple[bool, int | Rule]]]
    """state -> symbol -> (is_shift, next state or rule to reduce)."""
    start_state: int
    top: str
    """The start rule's name."""


def canonical(grammar: Grammar) -> Grammar:
    """The same automaton with its states numbered in one fixed order.

    lark numbers states in an order that varies with Python's hash seed; numbered
    breadth-first from the start state, symbols in sorted order, the tables come out
    the same on every run, so a stored copy can be compared with a fresh build.
    """
    order = [grammar.start_state]
    number = {grammar.start_state: 0}
    for state in order:
        for symbol in sorted(grammar.states[state]):
            is_shift, target = grammar.states[state][symbol]
            if is_shift and target not in number:
                number[target] = len(order)
                order.append(target)
    states = {
        number[state]: {
            symbol: (True, number[target]) if is_shift else (False, target)
            for symbol, (is_shift, target) in sorted(grammar.states[state].items())
        }
        for state in order
    }
    terminals = tuple(sorted(grammar.terminals, key=lambda t: t.name))
    return Grammar(terminals, grammar.ignore, grammar.rules, states, 0, grammar.top)


def pack(grammar: Grammar) -> tuple:
    """A canonical grammar as nested tuples of str, int and None: what a generated module stores."""
    rules = {rule: index for index, rule in enumerate(grammar.rules)}
    states = tuple(
        tuple((symbol, target if is_shift else ~rules[target]) for symbol, (is_shift, target) in actions.items())
        for _, actions in sorted(grammar.states.items())
    )
    terminals = tuple(tuple(vars(t).values()) for t in grammar.terminals)
    rule_data = tuple((r.origin, r.expansion, r.alias) for r in grammar.rules)
    return (terminals, tuple(sorted(grammar.ignore)), rule_data, states, grammar.start_state, grammar.top)


def unpack(data: tuple) -> Grammar:
    """:func:`pack`'s inverse."""
    terminal_data, ignore, rule_data, state_data, start_state, top = data
    rules = tuple(Rule(*rule) for rule in rule_data)
    states = {
        state: {symbol: (True, action) if action >= 0 else (False, rules[~action]) for symbol, action in actions}
        for state, actions in enumerate(state_data)
    }
    terminals = tuple(Terminal(*terminal) for terminal in terminal_data)
    return Grammar(terminals, frozenset(ignore), rules, states, start_state, top)


class Reader:
    """Reads one start rule's texts into the AST, or declines (returns None)."""

    def __init__(self, grammar: Grammar, parentheses: tuple[str, str]):
        """``parentheses``: the terminals that open and close a nesting level."""
        terminals = sorted(grammar.terminals, key=lambda t: (-t.priority, -t.max_width, -t.length, t.name))
        self.keywords = _keywords(grammar.terminals)
        # lark's basic lexer matches these alternatives in this order; words that are
        # also string terminals (`block`) come out as names and are retyped per state.
        retyped = {keyword for words in self.keywords.values() for keyword in words.values()}
        alternatives = [t for t in terminals if t.name not in retyped]
        pattern = "|".join(f"(?P<{t.name}>{t.regexp})" for t in alternatives)
        self.scanner = re.compile(f"{pattern}|(?P<_UNEXPECTED>.)", re.DOTALL)
        self.ignore = frozenset(grammar.ignore)
        rules = {rule: index for index, rule in enumerate(grammar.rules)}
        missing = sorted({_builder_key(r) for r in grammar.rules} - set(BUILDERS))
        if missing:
            raise ValueError(f"no AST builder for the grammar's rule(s) {', '.join(missing)}")
        self.rules = [(len(r.expansion), r.origin, BUILDERS[_builder_key(r)]) for r in grammar.rules]
        if any(build is None and length != 1 for length, _, build in self.rules):
            raise ValueError("only a rule of one symbol can pass its child through")
        self.table: list[dict[str, int]] = [{} for _ in range(max(grammar.states) + 1)]
        for state, actions in grammar.states.items():
            for symbol, (is_shift, target) in actions.items():
                self.table[state][symbol] = target if is_shift else ~rules[target]
        self.start_state = grammar.start_state
        self.top = grammar.top
        self.opening, self.closing = parentheses

    def read(self, text: str, max_depth: int) -> object | None:
        """The AST of ``text``, or None when the fast reading declines it.

        It declines parentheses nested deeper than ``max_depth``, counted as
        :func:`cnndsl.syntax._check_nesting` counts them.
        """
        return self.run(text, max_depth)[0]

    def run(self, text: str, max_depth: int) -> tuple[object | None, Failure | None]:
        """``(AST, None)``, or ``(None, where and why the reading stopped)``."""
        lines = _Lines(text)
        table, rules, ignore, top = self.table, self.rules, self.ignore, self.top
        keywords = self.keywords
        states = [self.start_state]
        values: list = []  # one per state after the first: a token, a list or an AST node
        firsts: list = []  # the first token each value covers
        last = None  # the last token shifted: the last one any reduction covers
        depth, opening, closing = 0, self.opening, self.closing
        actions = table[self.start_state]
        for match in chain(self.scanner.finditer(text), _END_OF_TEXT):
            kind = match.lastgroup
            if keywords and kind in keywords:
                keyword = keywords[kind].get(match.group())
                if keyword in actions:  # lark's contextual lexer: `block` where a definition may start
                    kind = keyword
            action = actions.get(kind)
            if action is None:
                if kind not in ignore:
                    return None, self._failure(match, kind, actions, True, len(text))
                if "\n" in match.group():
                    lines.seen = True
                continue
            while action < 0:
                length, origin, build = rules[~action]
                if build is None:  # a rule that passes its one child through: only the state changes
                    states[-1] = table[states[-2]][origin]
                elif length:
                    children = values[-length:]
                    first = firsts[-length]
                    del values[-length:], states[-length:]
                    if length > 1:
                        del firsts[1 - length :]
                    values.append(build(children, first, last, lines))
                    states.append(table[states[-1]][origin])
                else:
                    values.append(build([], None, None, lines))
                    firsts.append(None)
                    states.append(table[states[-1]][origin])
                if origin == top:
                    return values[-1], None  # the start rule is reduced only at the end of the text
                actions = table[states[-1]]
                action = actions.get(kind)
                if action is None:
                    return None, self._failure(match, kind, actions, False, len(text))
            if kind == opening:
                depth += 1
                if depth > max_depth:
                    return None, Failure("depth", match.start(), match.end(), kind, frozenset())
            elif kind == closing:
                depth -= 1
            states.append(action)
            values.append(match)
            firsts.append(match)
            last = match
            actions = table[action]
        raise AssertionError("the end of the text is always reduced or refused")  # pragma: no cover

    def _failure(self, match, kind: str, actions: dict, lexed: bool, size: int) -> Failure:
        """What lark reports for ``match``: its contextual lexer stops on a token the state
        does not take (``lexed``: its expected set has no end of text); its parser stops
        on one that a reduction made unexpected, and on the end of the text."""
        if kind == "_UNEXPECTED":
            return Failure("character", match.start(), match.start() + 1, None, frozenset())
        expected = frozenset(s for s in actions if s.isupper())
        if lexed:  # what the state's own lexer scans for: no end of text, no word its NAME also reads
            hidden = {word for regexp, words in self.keywords.items() if regexp in actions for word in words.values()}
            expected -= {"$END", *hidden}
        if kind == "$END":
            return Failure("end", size, size, "$END", expected)
        if lexed and kind in self.keywords:  # lark's lexer for every terminal names `block` BLOCK
            kind = self.keywords[kind].get(match.group(), kind)
        return Failure("token", match.start(), match.end(), kind, expected)


class _EndOfText:
    """What the reader sees after the last token: lark's ``$END``."""

    lastgroup = "$END"

    def group(self) -> str:
        return ""


_END_OF_TEXT = (_EndOfText(),)


def _keywords(terminals: Sequence[Terminal]) -> dict[str, dict[str, str]]:
    """String terminals that a regular-expression terminal also matches: ``{"NAME": {"block": "BLOCK"}}``.

    lark's lexer reads them with the regular expression and retypes the token when
    the parser's state accepts the string terminal; the fast reading does the same.
    """
    keywords: dict[str, dict[str, str]] = {}
    for word in (t for t in terminals if t.literal is not None):
        for other in (t for t in terminals if t.literal is None and t.priority == word.priority):
            if re.fullmatch(other.regexp, word.literal):
                keywords.setdefault(other.name, {})[word.literal] = word.name
    return keywords


def _builder_key(rule: Rule) -> str:
    if rule.origin.startswith("_"):
        return "_list"  # lark's helper rules for `x*` and `x+`
    return f"{rule.origin}->{rule.alias}" if rule.alias else rule.origin


# --- spans ----------------------------------------------------------------------------


class _Lines:
    """Line and column of offsets in one text, counted by '\\n' as lark counts them."""

    __slots__ = ("text", "seen", "starts")

    def __init__(self, text: str):
        self.text = text
        self.seen = False  # set by the reader when it passes a newline
        self.starts: list[int] | None = None

    def span(self, first: re.Match, last: re.Match) -> ast.Span:
        start, end = first.start(), last.end()
        if not self.seen:
            return ast.Span(start, end, 1, start + 1, 1, end + 1)
        newlines = self.starts
        if newlines is None:
            newlines = self.starts = [m.start() for m in re.finditer("\n", self.text)]
        line = bisect_left(newlines, start)
        end_line = bisect_left(newlines, end)  # tokens hold no newline: end is on the last one's line
        column = start - (newlines[line - 1] if line else -1)
        end_column = end - (newlines[end_line - 1] if end_line else -1)
        return ast.Span(start, end, line + 1, column, end_line + 1, end_column)


# --- the AST, rule by rule ------------------------------------------------------------
#
# A builder gets its rule's children (match objects for tokens, lists for lark's
# helper rules, AST nodes), the first and last token the rule covers, and the
# text's lines. None means the rule passes its one child through unchanged.


def number_value(text: str) -> int | float:
    """A NUMBER token's value: an int when written as one (infinite past MAX_NUMBER_DIGITS)."""
    digits = text.lstrip("+-")
    if digits.isdigit():  # only ASCII digits reach here: the NUMBER pattern admits no others
        if len(digits) > MAX_NUMBER_DIGITS:
            return -math.inf if text[0] == "-" else math.inf
        return int(text)
    return float(text)


def number(token: re.Match, lines: _Lines) -> ast.Number:
    text = token.group()
    return ast.Number(number_value(text), text, lines.span(token, token))


def _list(children, first, last, lines):
    head = children[0]
    if type(head) is list:
        head.append(children[-1])
        return head
    return [children[-1]]


def _chain(children, first, last, lines):
    elements = [children[0]]
    if len(children) > 1:
        elements += children[1]
    return ast.Chain(tuple(elements), lines.span(first, last))


def _repeat(children, first, last, lines):
    return ast.Repeat(children[0], number(children[2], lines), lines.span(first, last))


def _group(children, first, last, lines):
    inner = children[1]
    return inner.elements[0] if len(inner.elements) == 1 else inner


def _ref(children, first, last, lines):
    return ast.Ref(first.group(), lines.span(first, first))


def _named(children, first, last, lines):
    name = children[2]
    return ast.Named(children[0], name.group(), lines.span(first, last), lines.span(name, name))


def _tensor(children, first, last, lines):
    return ast.Tensor(last.group(), lines.span(first, last))


def _call(children, first, last, lines):
    return ast.Call(first.group(), tuple(children[2]), lines.span(first, last))


def _merge(children, first, last, lines):
    branches, args = [], []
    for child in children:
        if type(child) is list:
            (branches if child and type(child[0]) is ast.Chain else args).extend(child)
        elif type(child) is ast.Chain:
            branches.append(child)
        elif type(child) is ast.Arg:
            args.append(child)
    return ast.Merge(first.group(), tuple(branches), tuple(args), lines.span(first, last))


def _arguments(children, first, last, lines):
    if not children:
        return []
    arguments = [children[0]]
    if len(children) > 1 and type(children[1]) is list:
        arguments += children[1]
    return arguments


def _positional(children, first, last, lines):
    value = children[0]
    span = value.span  # the argument's span is its value's, but for `(5)`, which is 5 with parentheses
    if span.start != first.start() or span.end != last.end():
        span = lines.span(first, last)
    return ast.Arg(None, value, span)


def _keyword(children, first, last, lines):
    return ast.Arg(first.group(), children[2], lines.span(first, last))


def _number(children, first, last, lines):
    return number(first, lines)


def _word(children, first, last, lines):
    return ast.Word(first.group(), lines.span(first, first))


def _tuple(children, first, last, lines):
    if len(children) == 3:
        return children[1]  # (5) is 5, as in Python
    items = [children[1]]
    if type(children[2]) is list:
        items += children[2]
    return ast.Tuple(tuple(items), lines.span(first, last))


def _definition(children, first, last, lines):
    name = children[-3]
    return ast.Definition(
        name.group(), children[-1], len(children) == 4, lines.span(first, last), lines.span(name, name)
    )


def _file(children, first, last, lines):
    items = children[0]
    definitions = tuple(item for item in items if type(item) is ast.Definition)
    return ast.SpecFile(definitions, tuple(item for item in items if type(item) is ast.Scale))


def _scale(children, first, last, lines):
    name = children[1]
    return ast.Scale(name.group(), tuple(children[3]), lines.span(first, last), lines.span(name, name))


def _spec(children, first, last, lines):
    return children[0]


def _choice(children, first, last, lines):
    options = [children[1]]
    if type(children[2]) is list:
        options += children[2]
    return ast.Choice(tuple(options), lines.span(first, last))


def _range(children, first, last, lines):
    return ast.Range(number(children[1], lines), number(children[3], lines), lines.span(first, last))


def _alternatives(children, first, last, lines):
    return ast.Alternatives((children[1], *children[2]), lines.span(first, last))


def _repeat_options(children, first, last, lines):
    return ast.Repeat(children[0], children[2], lines.span(first, last))


BUILDERS: dict[str, Builder | None] = {
    "file": _file,
    "definition": _definition,
    "scale": _scale,
    "spec": _spec,
    "chain": _chain,
    "named": None,
    "named->named": _named,
    "element": None,
    "element->repeat": _repeat,
    "atom": None,
    "atom->group": _group,
    "atom->ref": _ref,
    "atom->tensor": _tensor,
    "call": _call,
    "merge": _merge,
    "arguments": _arguments,
    "argument": _positional,
    "argument->keyword": _keyword,
    "value->number": _number,
    "value->word": _word,
    "value->tuple": _tuple,
    "_list": _list,
    "value": None,
    "options->choice": _choice,
    "options->range": _range,
    "atom->alternatives": _alternatives,
    "element->repeat_options": _repeat_options,
}
"""Every rule of the grammar, by ``origin`` or ``origin->alias``."""
