"""Search spaces: a spec whose braces hold choices, and the candidates it stands for.

    CN({32,64}) -> CN(32)*{2..4} -> {stem_a | CN(8)->BN()} -> MP({2,(2,1)}) -> FL()

``{a, b}`` is one of the values (numbers, words, tuples), ``{2..4}`` one of the whole
numbers from 2 to 4, ``{A | B}`` one of the chains. A repetition's body is chosen once
and then repeated; a block's choices are made afresh wherever it is used, as if its
text were written there. Each candidate is an ordinary chain whose nodes keep their
spans in the space's text, so that a checker's error about a candidate points into the
space.

The candidates are numbered 0 .. count-1 in a fixed order (mixed radix: the first
choice in the text varies slowest, an alternative's candidates follow the previous
alternative's). Counting is arithmetic on the tree, never enumeration: a space of
10**30 candidates is counted in microseconds. No framework is imported here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from cnndsl import ast
from cnndsl.errors import VALUE, Diagnostic, raise_errors

POINTS = (ast.Choice, ast.Range, ast.Alternatives)
"""The nodes that make a spec a space."""

Decide = Callable[[str, "ast.Choice | ast.Range | ast.Alternatives", tuple[str, ...]], int]
"""Picks an option at one choice point: ``(key, node, option labels) -> option number``."""


def first_choice(chain: ast.Chain, blocks: Mapping[str, ast.Chain] | None = None) -> ast.Span | None:
    """The span of the first brace that makes ``chain`` a space (through its blocks), else None."""
    seen: set[str] = set()
    found = _first(chain, blocks or {}, seen)
    return found.span if found is not None else None


def _first(node, blocks, seen):
    if isinstance(node, POINTS):
        return node
    for child in _children(node, blocks, seen):
        found = _first(child, blocks, seen)
        if found is not None:
            return found
    return None


def _children(node, blocks, seen) -> tuple:
    """The nodes under ``node``: its parts, or a block's chain under a reference (once per name)."""
    if not isinstance(node, ast.Ref):
        return _parts(node)
    if node.name in seen or node.name not in blocks:
        return ()
    seen.add(node.name)
    return (blocks[node.name],)


@dataclass
class Space:
    """A parsed space: its chain, the text spans point into, and the file's blocks."""

    chain: ast.Chain
    source: str
    blocks: Mapping[str, ast.Chain] = field(default_factory=dict)
    _counts: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        raise_errors(problems(self.chain, self.blocks), self.source)

    @property
    def count(self) -> int:
        """How many candidates the space holds (an exact integer, however large)."""
        return self._count(self.chain)

    def candidate(self, index: int) -> ast.Chain:
        """Candidate number ``index``: a chain without braces, spans in the space's text."""
        if not 0 <= index < self.count:
            raise IndexError(f"candidate {index} of a space of {self.count:,}")
        return _as_chain(self._at(self.chain, index))

    def sample(self, rng: random.Random) -> int:
        """A candidate's number drawn uniformly."""
        return rng.randrange(self.count)

    def index_of(self, decide: Decide) -> int:
        """The number of the candidate that ``decide`` picks, asked at each choice point reached."""
        return self._index(self.chain, decide, "")

    def choices(self, index: int) -> dict[str, int]:
        """The decisions ``index_of`` asks for to reach candidate ``index``: each choice point's option, or a
        range's offset, by the choice point's name, in the order they are asked."""
        found: dict[str, int] = {}
        self._choices(self.chain, index, "", found)
        return found

    def labels(self, node: ast.Choice | ast.Alternatives) -> tuple[str, ...]:
        """Each option as written in the space (blanks collapsed), numbered if two read alike."""
        labels = [" ".join(self.source[o.span.start : o.span.end].split()) for o in node.options]
        if len(set(labels)) < len(labels):
            labels = [f"{number}: {label}" for number, label in enumerate(labels, 1)]
        return tuple(labels)

    # --- counting ---

    def _count(self, node) -> int:
        known = self._counts.get(id(node))
        if known is None:
            known = self._counts[id(node)] = self._count_new(node)
        return known

    def _count_new(self, node) -> int:
        if isinstance(node, ast.Choice | ast.Alternatives):
            return sum(self._count(option) for option in node.options)
        if isinstance(node, ast.Range):
            return int(node.high.value) - int(node.low.value) + 1
        if isinstance(node, ast.Ref):
            block = self.blocks.get(node.name)
            return 1 if block is None else self._count(block)
        total = 1
        for child in _parts(node):
            total *= self._count(child)
        return total

    # --- number -> candidate ---

    def _at(self, node, index: int):
        if isinstance(node, ast.Choice | ast.Alternatives):
            option, rest = self._option(node.options, index)
            return self._at(option, rest)
        if isinstance(node, ast.Range):
            value = int(node.low.value) + index
            return ast.Number(value, str(value), node.span)
        if isinstance(node, ast.Ref):
            block = self.blocks.get(node.name)
            return node if block is None else _own_names(self._at(block, index), block)
        parts = _parts(node)
        picked = []
        for child in reversed(parts):  # the last part varies fastest
            size = self._count(child)
            index, digit = divmod(index, size)
            picked.append(self._at(child, digit))
        return _rebuilt(node, picked[::-1])

    def _option(self, options, index: int):
        for option in options:
            size = self._count(option)
            if index < size:
                return option, index
            index -= size
        raise IndexError("past the last option")

    def _choices(self, node, index: int, via: str, found: dict[str, int]) -> None:
        if isinstance(node, ast.Choice | ast.Alternatives):
            number = 0
            while index >= self._count(node.options[number]):
                index -= self._count(node.options[number])
                number += 1
            found[_key(node, via)] = number
            self._choices(node.options[number], index, via, found)
        elif isinstance(node, ast.Range):
            found[_key(node, via)] = index
        elif isinstance(node, ast.Ref):
            block = self.blocks.get(node.name)
            if block is not None:
                self._choices(block, index, _key(node, via), found)
        else:
            parts = _parts(node)
            digits = []
            for child in reversed(parts):  # the last part varies fastest
                index, digit = divmod(index, self._count(child))
                digits.append(digit)
            for child, digit in zip(parts, reversed(digits)):
                self._choices(child, digit, via, found)

    # --- decisions -> number ---

    def _index(self, node, decide: Decide, via: str) -> int:
        if isinstance(node, ast.Choice | ast.Alternatives):
            picked = decide(_key(node, via), node, self.labels(node))
            offset = sum(self._count(option) for option in node.options[:picked])
            return offset + self._index(node.options[picked], decide, via)
        if isinstance(node, ast.Range):
            return decide(_key(node, via), node, ())
        if isinstance(node, ast.Ref):
            block = self.blocks.get(node.name)
            return 0 if block is None else self._index(block, decide, _key(node, via))
        index = 0
        for child in _parts(node):
            index = index * self._count(child) + self._index(child, decide, via)
        return index


def _parts(node) -> tuple:
    """The parts of a node whose candidates multiply: a product's factors."""
    if isinstance(node, ast.Chain):
        return node.elements
    if isinstance(node, ast.Call):
        return tuple(arg.value for arg in node.args)
    if isinstance(node, ast.Merge):
        return (*node.branches, *(arg.value for arg in node.args))
    if isinstance(node, ast.Repeat):
        return (node.body, node.count)
    if isinstance(node, ast.Named):
        return (node.body,)
    if isinstance(node, ast.Tuple):
        return node.items
    if isinstance(node, (ast.Number, ast.Word, ast.Tensor)):
        return ()
    raise TypeError(f"unknown node {type(node).__name__}")


def _rebuilt(node, parts: list):
    """``node`` with its parts replaced by their chosen forms."""
    if isinstance(node, ast.Chain):
        return ast.Chain(tuple(_spliced(parts)), node.span)
    if isinstance(node, ast.Call):
        args = tuple(ast.Arg(arg.name, value, arg.span) for arg, value in zip(node.args, parts))
        return ast.Call(node.code, args, node.span)
    if isinstance(node, ast.Merge):
        branches, values = parts[: len(node.branches)], parts[len(node.branches) :]
        args = tuple(ast.Arg(arg.name, value, arg.span) for arg, value in zip(node.args, values))
        return ast.Merge(node.code, tuple(_as_chain(branch) for branch in branches), args, node.span)
    if isinstance(node, ast.Repeat):
        body, count = parts
        if isinstance(node.count, POINTS) and count.value == 1:
            return body  # a chosen `* 1` is the body written once
        return ast.Repeat(body.elements[0] if _single(body) else body, count, node.span)
    if isinstance(node, ast.Named):
        (body,) = parts
        return ast.Named(body.elements[0] if _single(body) else body, node.name, node.span, node.name_span)
    if isinstance(node, ast.Tuple):
        return ast.Tuple(tuple(parts), node.span)
    return node


def _own_names(inlined, block: ast.Chain):
    """A block written in place keeps its names its own: as one copy of a repetition, if it names any.

    (Each use of a block has its own names; a candidate holds its blocks' text, and two uses
    written out would otherwise name one tensor twice.)
    """
    if not _names_tensors(block):
        return inlined
    return ast.Repeat(inlined, ast.Number(1, "1", block.span), block.span)


def _names_tensors(node) -> bool:
    """Whether ``as name`` is written anywhere in the node (blocks it uses are not followed)."""
    if isinstance(node, ast.Named):
        return True
    if isinstance(node, ast.Ref | ast.Range):
        return False
    children = node.options if isinstance(node, ast.Choice | ast.Alternatives) else _parts(node)
    return any(_names_tensors(child) for child in children)


def _spliced(elements: list) -> Iterator:
    """A chain's elements, a chosen chain (an alternative or a block) written in place."""
    for element in elements:
        if isinstance(element, ast.Chain):
            yield from element.elements
        else:
            yield element


def _single(node) -> bool:
    return isinstance(node, ast.Chain) and len(node.elements) == 1


def _as_chain(node) -> ast.Chain:
    return node if isinstance(node, ast.Chain) else ast.Chain((node,), node.span)


def _key(node, via: str) -> str:
    """A choice point's name: its line and column, after the block references leading to it."""
    here = f"{node.span.line}:{node.span.column}"
    return f"{via} > {here}" if via else here


def candidate_text(chain: ast.Chain) -> str:
    """A candidate chain as a spec in canonical form, without a trailing newline."""
    from cnndsl.formatter import layout  # imported here: checking a spec never formats one

    return layout(chain)


# --- the space's own errors -------------------------------------------------------------


MAX_RANGE_DIGITS = 30
"""A range's ends are whole numbers of at most this many digits."""


def problems(chain: ast.Chain, blocks: Mapping[str, ast.Chain] | None = None) -> list[Diagnostic]:
    """Errors in the braces themselves: ranges that are empty or not of whole numbers."""
    found: list[Diagnostic] = []
    _problems(chain, blocks or {}, set(), found)
    return found


def _problems(node, blocks, seen, found: list[Diagnostic]) -> None:
    if isinstance(node, ast.Range):
        found += _range_problems(node)
        return
    options = node.options if isinstance(node, ast.Choice | ast.Alternatives) else _children(node, blocks, seen)
    for child in options:
        _problems(child, blocks, seen, found)


def _range_problems(node: ast.Range) -> list[Diagnostic]:
    for end in (node.low, node.high):
        if not re.fullmatch(rf"[+-]?[0-9]{{1,{MAX_RANGE_DIGITS}}}", end.text):
            return [Diagnostic(VALUE, f"a range takes whole numbers, not {end.text[:20]}", end.span, code="bad-range")]
    if node.low.value > node.high.value:
        message = f"the range {{{node.low.text}..{node.high.text}}} is empty: it starts above its end"
        hint = f"write it low to high: {{{node.high.text}..{node.low.text}}}"
        return [Diagnostic(VALUE, message, node.span, hint=hint, code="bad-range")]
    return []


def refuse_space(chain: ast.Chain, source: str, blocks: Mapping[str, ast.Chain] | None = None) -> None:
    """Raise a located SpecValueError if ``chain`` is a space: one model is checked or built, not a space."""
    if "{" not in source:  # no braces, no choices: the common case costs one scan of the text
        return
    span = first_choice(chain, blocks)
    if span is not None:
        message = "braces make this spec a search space, not one model"
        hint = "`cnndsl check` counts its candidates; `cnndsl sweep` trains them"
        raise_errors([Diagnostic(VALUE, message, span, hint=hint, code="search-space")], source)
