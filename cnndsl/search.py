"""The checker over a search space: which candidates can be built, within the budgets.

``judge`` checks one candidate (the checker, then the budgets) without building
anything; ``census`` counts a whole space: exactly, by checking every candidate, when
it holds at most ``EXACT_LIMIT``; above that, estimated from a stated number of
candidates drawn at random. Rejections are grouped by their first error, which points
into the space's own text. No framework is imported here.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from cnndsl import ast
from cnndsl.budgets import check_budgets
from cnndsl.checker import check_chain, paused_gc
from cnndsl.errors import Diagnostic, SpecError, render
from cnndsl.formatter import placed
from cnndsl.model import CheckedModel
from cnndsl.records import replace
from cnndsl.report import architecture_hash
from cnndsl.settings import Settings
from cnndsl.space import Space, candidate_text, first_choice
from cnndsl.syntax import parse

EXACT_LIMIT = 100_000
"""Spaces up to this many candidates are counted exactly, by checking every one."""
SAMPLES = 1_000
"""Candidates drawn to estimate a larger space's accepted share."""


@dataclass(frozen=True)
class Verdict:
    """One candidate judged: its model and hash when accepted, else its first error."""

    index: int
    chain: ast.Chain
    model: CheckedModel | None
    error: Diagnostic | None
    source: str
    """The text the error's span points into: the space's (or the candidate's own)."""

    @property
    def accepted(self) -> bool:
        return self.model is not None

    @functools.cached_property
    def hash(self) -> str | None:
        return architecture_hash(self.model) if self.model is not None else None

    @property
    def text(self) -> str:
        return self.model.source if self.model is not None else candidate_text(self.chain)


@dataclass(frozen=True)
class Judge:
    """Checks candidates of one space under one input shape, class count and budgets.

    A candidate is checked as its own tree, placed in its canonical text (two calls
    written alike in the space, such as ``CN({8,16})`` twice, may take different values
    in one candidate); its first error is then carried back, node by node, to the place
    in the space's text it comes from. The accepted model's source is the candidate's
    canonical text, which a trial trains.
    """

    space: Space
    input_shape: Sequence[int] | None = None
    num_classes: int | None = None
    settings: Settings = field(default_factory=Settings)
    task: str | None = None
    """The task every candidate is checked for (None: the settings' task, else classify)."""

    def __call__(self, index: int) -> Verdict:
        chain = self.space.candidate(index)
        text = candidate_text(chain)
        own = placed(chain, text)
        try:
            model = check_chain(
                own, text, self.input_shape, self.num_classes, None, self.settings.input_shape,
                self.task or self.settings.task,
            )  # fmt: skip
        except SpecError as error:
            return self._rejected(index, chain, own, text, error.diagnostics[0])
        over = check_budgets(model, self.settings)
        if over:
            return self._rejected(index, chain, own, text, over[0])
        return Verdict(index, chain, model, None, self.space.source)

    def _rejected(self, index: int, chain: ast.Chain, own: ast.Chain, text: str, error: Diagnostic) -> Verdict:
        moved = located(error, own, chain, text, self.space.source)
        return Verdict(index, chain, None, moved, self.space.source)


def located(error: Diagnostic, own: ast.Chain, chain: ast.Chain, text: str, source: str) -> Diagnostic:
    """``error``, about a candidate's own ``text``, pointed at the same place in the space's ``source``.

    ``own`` is the candidate made from the space (``chain``) placed in its ``text``: the
    same nodes in the same order, so the error goes to the space node of the innermost
    node that holds its span. A message that starts with the layer as the candidate
    writes it starts with the layer as the space writes it, so that candidates failing
    alike count as one group.
    """
    span = error.span
    if span is None:
        return error
    pairs = list(zip(_nodes(own), _nodes(chain)))
    holding = [(mine, theirs) for mine, theirs in pairs if mine.span.start <= span.start and span.end <= mine.span.end]
    if not holding:  # past the last layer: the classifier head added at the end
        end = chain.span
        return replace(
            error, span=ast.Span(end.end, end.end, end.end_line, end.end_column, end.end_line, end.end_column), fixes=()
        )
    # the innermost: the shortest span, and of equal ones (an argument and its value) the deepest
    mine, theirs = min(reversed(holding), key=lambda pair: pair[0].span.end - pair[0].span.start)
    message = error.message
    raw = text[mine.span.start : mine.span.end]
    for written in (raw + ": ", " ".join(raw.split()) + ": "):  # as the text lays it out, or on one line
        if message.startswith(written):
            message = " ".join(source[theirs.span.start : theirs.span.end].split()) + ": " + message[len(written) :]
            break
    # a candidate's fixes edit the candidate's text, not the space's
    if span == mine.span or not isinstance(theirs, ast.Call) or span != mine.code_span:
        return replace(error, span=theirs.span, message=message, fixes=())
    return replace(error, span=theirs.code_span, message=message, fixes=())


def _nodes(node) -> Iterator:
    """Every node of a candidate tree, in order (values included)."""
    yield node
    if isinstance(node, ast.Chain):
        children = node.elements
    elif isinstance(node, ast.Call):
        children = node.args
    elif isinstance(node, ast.Merge):
        children = (*node.branches, *node.args)
    elif isinstance(node, ast.Repeat):
        children = (node.body, node.count)
    elif isinstance(node, ast.Named):
        children = (node.body,)
    elif isinstance(node, ast.Arg):
        children = (node.value,)
    elif isinstance(node, ast.Tuple):
        children = node.items
    elif isinstance(node, (ast.Number, ast.Word, ast.Ref, ast.Tensor)):
        children = ()
    else:
        raise TypeError(f"unknown node {type(node).__name__}")
    for child in children:
        yield from _nodes(child)


@dataclass
class Census:
    """What the checker makes of a space."""

    total: int
    examined: int
    accepted: int
    exact: bool
    hashes: dict[str, int] = field(default_factory=dict)
    """Each accepted architecture's hash -> the first candidate with it, in the order examined."""
    costs: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    """Each accepted architecture's hash -> its MACs (None where unknown) and parameters, which a sweep weighs."""
    rejected: dict[tuple, list] = field(default_factory=dict)
    """First error (kind, message, span) -> [count, diagnostic, source]."""

    @property
    def accepted_estimate(self) -> int:
        """Accepted candidates: exact, or the sampled share of the whole."""
        return self.accepted if self.exact else round(self.total * self.accepted / max(self.examined, 1))

    def add(self, verdict: Verdict) -> None:
        self.examined += 1
        if verdict.accepted:
            self.accepted += 1
            if verdict.hash not in self.hashes:
                self.hashes[verdict.hash] = verdict.index
                self.costs[verdict.hash] = (verdict.model.total_macs, verdict.model.total_params)
            return
        group = self.rejected.setdefault(error_key(verdict.error), [0, verdict.error, verdict.source])
        group[0] += 1

    def groups(self) -> list[tuple[int, Diagnostic, str]]:
        """Rejection groups, largest first: (count, first error, its text)."""
        ordered = sorted(self.rejected.values(), key=lambda group: (-group[0], _start(group[1])))
        return [(count, _as_group(diagnostic, count), source) for count, diagnostic, source in ordered]

    def errors(self) -> list[Diagnostic]:
        """Errors in the space itself (value errors): an option no candidate can take."""
        return [diagnostic for _, diagnostic, _ in self.groups() if diagnostic.kind not in ("shape", "budget")]


def error_key(diagnostic: Diagnostic) -> tuple:
    """What makes two first errors one group: a budget by which budget and where, others by their words too."""
    span = diagnostic.span
    where = (span.start, span.end) if span else None
    if diagnostic.kind == "budget":
        return (diagnostic.kind, diagnostic.code, where)
    return (diagnostic.kind, diagnostic.message, where)


BUDGET_WORDS = ", over the budget of "


def _as_group(diagnostic: Diagnostic, count: int) -> Diagnostic:
    """A budget group's error in words for all its candidates, the first one's figure as the example."""
    if diagnostic.kind != "budget" or count == 1 or BUDGET_WORDS not in diagnostic.message:
        return diagnostic
    first = diagnostic.message.partition(BUDGET_WORDS)[0]
    return replace(diagnostic, message=f"{budget_words(diagnostic.message)}; the first has {first}")


def budget_words(message: str) -> str:
    """``61,425 parameters, over the budget of 60,000 (--max-params)`` without its figure; other messages as they are."""
    first, found, rest = message.partition(BUDGET_WORDS)
    return f"{first.split(' ', 1)[-1]} over the budget of {rest}" if found else message


def _start(diagnostic: Diagnostic) -> int:
    return diagnostic.span.start if diagnostic.span else -1


def census(judge: Judge, limit: int = EXACT_LIMIT, samples: int = SAMPLES, seed: int = 0) -> Census:
    """Check every candidate of a space of at most ``limit``, else ``samples`` drawn with ``seed``."""
    total = judge.space.count
    exact = total <= limit
    result = Census(total, 0, 0, exact)
    indices = range(total) if exact else drawn(judge.space, samples, seed)
    with paused_gc():
        for index in indices:
            result.add(judge(index))
    return result


def drawn(space: Space, samples: int, seed: int) -> Iterator[int]:
    """``samples`` candidate numbers drawn uniformly (with replacement) with a fixed seed."""
    rng = random.Random(seed)
    for _ in range(samples):
        yield space.sample(rng)


def describe(result: Census, name: str = "<spec>") -> list[str]:
    """The census as lines: how many candidates, how many the checker accepts, and why not."""
    holds = f"{result.total:,} candidate{'s' * (result.total != 1)}"
    if result.exact:
        distinct = f" ({len(result.hashes):,} distinct)" if len(result.hashes) < result.accepted else ""
        lines = [f"{name}: a search space of {holds}; the checker accepts {result.accepted:,}{distinct}"]
    else:
        share = result.accepted / max(result.examined, 1)
        lines = [
            f"{name}: a search space of {holds}; the checker accepts about {result.accepted_estimate:,} "
            f"({share:.1%}, an estimate from {result.examined:,} candidates drawn at random)"
        ]
    return lines


GROUPS_SHOWN = 5
"""Rejection groups printed in full; the rest are counted in one line."""


def rejection_lines(groups: Iterable[tuple[int, Diagnostic, str]], name: str, total: int, exact: bool) -> list[str]:
    """Rejected candidates grouped by first error, each with its place in the space's text."""
    groups = list(groups)
    count = sum(group[0] for group in groups)
    if not count:
        return []
    of = f"{count:,} of {total:,} candidates" if exact else f"{count:,} of the candidates drawn"
    lines = [f"{of} cannot be built or are over budget:"]
    for times, diagnostic, source in groups[:GROUPS_SHOWN]:
        rendered = render([_as_note(diagnostic)], source, name).splitlines()
        lines.append(f"  {times:,} x {rendered[0]}")
        lines += [f"      {line}" for line in rendered[1:]]
    rest = groups[GROUPS_SHOWN:]
    if rest:
        lines.append(f"  and {sum(group[0] for group in rest):,} more, with {len(rest)} other first errors")
    return lines


def _as_note(diagnostic: Diagnostic) -> Diagnostic:
    return replace(diagnostic, severity="rejected")


def space_of(source) -> Space | None:
    """The space a model of the command line or a file stands for; None for one model.

    ``source`` is a :class:`cnndsl.inputs.Source`. Raises SpecError for errors in the
    braces themselves (an empty range); a spec that does not parse is left to the checker.
    """
    if source.error is not None or source.embedded is not None or "{" not in source.text:
        return None
    try:
        chain = source.chain if source.chain is not None else parse(source.text)
    except SpecError:
        return None
    if first_choice(chain, source.blocks) is None:
        return None
    if getattr(source, "scales", ()):  # its candidates are checked as texts of their own, which hold no scales
        from cnndsl.errors import VALUE, Diagnostic, raise_errors

        message = "a search space in a file with scales is not supported: write the space in a file without scale lines"
        raise_errors([Diagnostic(VALUE, message, source.scales[0].span, code="search-space")], source.text)
    return Space(chain, source.text, source.blocks)
