"""Width and depth scaling: one spec file, a family of models (``scale n(0.50, 0.25, 1024)``).

Before anything is expanded, the scale chosen rewrites the numbers the file writes:

- every argument a code declares ``Param(..., scaled="width")`` (CN's, SC's and CT's filters,
  DN's units) becomes ``scaled_channels(c)``, and every one declared ``scaled="depth"``
  ``scaled_repeats(n)``;
- every repetition ``X * N`` repeats ``scaled_repeats(N)`` times.

- every argument written as a bare word that names one of the scale's variables (``c3k=c3k``
  under ``scale m(0.50, 1.00, 512, c3k=true)``) becomes the variable's value at that scale,
  taken as it is (never scaled again), in any call, ``scaled=false`` and the head's included;
  the argument's own kind then checks it, at the word's span.

A call written with ``scaled=false`` keeps its numbers (the keyword is taken off before the
call is bound), and so does the task's head: the head the checker appends is never in the
tree, and a last layer that the task takes as its head keeps its numbers too, with the
layer that gives a softmax of the model's own its count (the checker asks :func:`head_calls`).
A scaled number keeps the span of the number written, so an error about it points there;
:class:`Change` records what it became, for the summary.

The rules are Ultralytics' (``channels=ceil``: ``ceil(min(c, cap) * width / divisor) *
divisor``; ``repeats=round``: ``max(round(n * depth), 1)`` for ``n > 1``, else ``n``, with
Python's ``round``) and timm's EfficientNet's (``channels=nearest``: the nearest multiple of
the divisor, at least the divisor and at least 90% of the scaled width; ``repeats=ceil``:
``ceil(n * depth)``), computed in the same order of floating-point operations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import VALUE, Diagnostic
from cnndsl.layers import LAYERS
from cnndsl.records import record
from cnndsl.specfile import Scaling, references, value_text

KEEP = "scaled"
"""The pseudo-keyword ``scaled=false``: a call that keeps its numbers at every scale."""
NEAREST_FLOOR = 0.9
"""``channels=nearest`` never rounds a width down by more than 10% (timm's ``round_limit``)."""


def scaled_channels(channels: int, scaling: Scaling) -> int:
    """A width at ``scaling``: ``64`` at Ultralytics' n (width 0.25, cap 1024) is 16.

    >>> nano = Scaling("n", 0.50, 0.25, 1024)
    >>> scaled_channels(64, nano), scaled_channels(1024, nano), scaled_channels(1024, Scaling("x", 1.0, 1.5, 512))
    (16, 256, 768)
    >>> b1 = Scaling("b1", 1.1, 1.0, None, channels="nearest", repeats="ceil")
    >>> scaled_channels(32, Scaling("b3", 1.4, 1.2, None, channels="nearest")), scaled_channels(40, b1)
    (40, 40)
    """
    divisor = scaling.divisor
    value = min(channels, scaling.cap) if scaling.cap is not None else channels
    if scaling.channels == "ceil":
        return math.ceil(value * scaling.width / divisor) * divisor
    wide = value * scaling.width
    rounded = max(divisor, int(wide + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < NEAREST_FLOOR * wide else rounded


def scaled_repeats(count: int, scaling: Scaling) -> int:
    """A repeat count at ``scaling``: ``3`` at depth 0.50 is 2 (``round(1.5)``), at 0.33 is 1; 1 stays 1.

    >>> [scaled_repeats(n, Scaling("n", 0.50, 0.25, 1024)) for n in (1, 2, 3, 6, 9)]
    [1, 1, 2, 3, 4]
    >>> [scaled_repeats(n, Scaling("b1", 1.1, 1.0, None, repeats="ceil")) for n in (1, 2, 3, 4)]
    [2, 3, 4, 5]
    """
    if scaling.repeats == "ceil":
        return math.ceil(count * scaling.depth)
    return max(round(count * scaling.depth), 1) if count > 1 else count


@record
class Change:
    """One number the scale changed: where it is written, what was written, what it became."""

    span: ast.Span
    written: int | str
    """The number written, or the variable's name."""
    value: int | str
    """The number it became, or the variable's value as written on the scale line."""
    kind: str
    """``"width"``, ``"depth"`` (a repeat count is depth) or ``"variable"``."""


@record
class Chosen:
    """The scale a model was checked at (:attr:`cnndsl.model.CheckedModel.scale`)."""

    scaling: Scaling
    family: tuple[str, ...]
    """The names of the file's scales, in order."""
    default: bool
    """Chosen as the file's first scale, none being asked for."""
    changes: tuple[Change, ...] = ()

    @property
    def name(self) -> str:
        return self.scaling.name

    def note(self) -> str:
        """What the check says of a scale it chose by itself."""
        return (
            f"checked at its first scale, {self.scaling.describe()} (scales: {', '.join(self.family)}); "
            "choose one with --scale NAME"
        )


def choose(scales: tuple[Scaling, ...], name: str | None, source: str, origin: str | None = None) -> Chosen | None:
    """The scale ``name`` of a file's ``scales`` (the first when ``name`` is None); None for a text without scales.

    A name the file does not declare is a located value error naming the scales there are (at
    the first scale line); a name given to a text without scales, one at its start. ``origin``
    says where the name was set, where not by the caller (a project's setting).
    """
    from cnndsl.errors import raise_errors
    from cnndsl.syntax import span_at

    family = tuple(scaling.name for scaling in scales)
    where = f" ({origin})" if origin else ""
    if not scales:
        if name is None:
            return None
        hint = "a spec file declares its scales on lines such as: scale n(0.50, 0.25, 1024)"
        message = f"no scale named {name!r}{where}: the spec declares no scales"
        raise_errors([Diagnostic(VALUE, message, span_at(source, 0, 0), hint=hint, code="unknown-scale")], source)
    if name is None:
        return Chosen(scales[0], family, True)
    for scaling in scales:
        if scaling.name == name:
            return Chosen(scaling, family, False)
    message = f"no scale named {name!r}{where}; the file's scales are {', '.join(family)}"
    raise_errors([Diagnostic(VALUE, message, scales[0].span, code="unknown-scale")], source)
    return None  # unreachable: raise_errors raises for an error


def head_calls(chain: ast.Chain) -> tuple[ast.Call, ...]:
    """The calls that keep their numbers where the task takes the chain's last call as its head.

    The call the chain ends in (under ``as NAME`` too), and where nothing of it scales (a softmax of the model's own, ``ACT(softmax)``,
    or a reshape before one), the calls back to the nearest one that scales: that one's width is
    the output count (``DN(10) -> ACT(softmax)``: the ``DN(10)``). The walk stops at anything
    other than a call written in the chain itself (a merge, a repetition, a name used).
    """
    calls: list[ast.Call] = []
    for element in reversed(chain.elements):
        call = _bare(element)
        if call is None:
            break
        calls.append(call)
        if _scaled_params(call.code) is not None:
            break
    return tuple(calls)


def _bare(node: ast.Node) -> ast.Call | None:
    """A chain's element as the call it is (under ``as NAME`` too); None for anything else."""
    while isinstance(node, ast.Named):
        node = node.body
    return node if isinstance(node, ast.Call) else None


class Scaler:
    """Rewrites trees at one scale; ``keep`` are calls left as written (the task's head: :func:`head_calls`)."""

    def __init__(self, scaling: Scaling, keep: tuple[ast.Call, ...] = ()):
        self.scaling = scaling
        self._kept = frozenset(call.span.start for call in keep)
        self.changes: list[Change] = []
        self.diagnostics: list[Diagnostic] = []

    def blocks(self, blocks: Mapping[str, ast.Chain], chain: ast.Chain) -> dict[str, ast.Chain]:
        """The definitions ``chain`` uses, directly or through others, at this scale (the rest as written)."""
        scaled = dict(blocks)
        stack, seen = [chain], set()
        while stack:
            for ref in references(stack.pop()):
                if ref.name in blocks and ref.name not in seen:
                    seen.add(ref.name)
                    stack.append(blocks[ref.name])
        for name in seen:
            scaled[name] = self.chain(blocks[name])
        return scaled

    def chain(self, node: ast.Chain) -> ast.Chain:
        return ast.Chain(tuple(self.node(element) for element in node.elements), node.span)

    def node(self, node: ast.Node):
        match node:
            case ast.Call():
                return self._call(node)
            case ast.Merge():
                branches = tuple(self.chain(branch) for branch in node.branches)
                written = tuple(arg for arg, _ in self._substituted(node.args))
                self._keep(written)
                args = tuple(arg for arg in written if arg.name != KEEP)
                return ast.Merge(node.code, branches, args, node.span)
            case ast.Chain():
                return self.chain(node)
            case ast.Repeat():
                return ast.Repeat(self.node(node.body), self._count(node.count), node.span)
            case ast.Named():
                return ast.Named(self.node(node.body), node.name, node.span, node.name_span)
            case ast.Ref() | ast.Tensor():
                return node
            case ast.Alternatives():
                return ast.Alternatives(tuple(self.chain(option) for option in node.options), node.span)
            case _:
                assert_never(node)

    def _keep(self, args: tuple[ast.Arg, ...]) -> bool:
        """Whether a call's ``scaled=`` keeps its numbers (``scaled=false``); a bad value is an error."""
        keep = False
        for arg in args:
            if arg.name != KEEP:
                continue
            value = arg.value
            if isinstance(value, ast.Word) and value.name in ("true", "false"):
                keep = keep or value.name == "false"
            else:
                message = "scaled= is true or false: scaled=false keeps the call's numbers at every scale"
                self.diagnostics.append(Diagnostic(VALUE, message, value.span, code="bad-value"))
        return keep

    def _substituted(self, args: tuple[ast.Arg, ...]) -> list[tuple[ast.Arg, bool]]:
        """Each argument with the scale's variables it names replaced by their values, and whether it was."""
        if not self.scaling.variables:
            return [(arg, False) for arg in args]
        found = []
        for arg in args:
            value = self._variable(arg.value)
            found.append((arg, False) if value is arg.value else (ast.Arg(arg.name, value, arg.span), True))
        return found

    def _variable(self, value: ast.Value):
        """A written value with each bare word that names a variable replaced by its value at this scale."""
        match value:
            case ast.Word():
                found = self.scaling.variable(value.name)
                if found is None:
                    return value
                self.changes.append(Change(value.span, value.name, value_text(found), "variable"))
                return _placed(found, value.span)
            case ast.Tuple():
                items = tuple(self._variable(item) for item in value.items)
                changed = any(new is not old for new, old in zip(items, value.items))
                return ast.Tuple(items, value.span) if changed else value
            case ast.Number():
                return value
            case _:
                assert_never(value)

    def _call(self, call: ast.Call) -> ast.Call:
        substituted = self._substituted(call.args)
        if any(flag for _, flag in substituted):
            call = ast.Call(call.code, tuple(arg for arg, _ in substituted), call.span)
        args = call.args
        if any(arg.name == KEEP for arg in args):
            kept = self._keep(args)
            substituted = [(arg, flag) for arg, flag in substituted if arg.name != KEEP]
            call = ast.Call(call.code, tuple(arg for arg, _ in substituted), call.span)
            if kept:
                return call
        scaled = _scaled_params(call.code)
        if scaled is None or call.span.start in self._kept:
            return call
        positional, named = scaled
        written, changed, index = [], False, 0
        for arg, taken in substituted:
            if arg.name is None:
                how = positional[index] if index < len(positional) else None
                index += 1
            else:
                how = named.get(arg.name)
            if how is not None and not taken:
                value = self._number(arg.value, how)
                if value is not arg.value:
                    arg, changed = ast.Arg(arg.name, value, arg.span), True
            written.append(arg)
        return ast.Call(call.code, tuple(written), call.span) if changed else call

    def _number(self, value: ast.Value, how: str):
        """A written whole number at this scale; anything else is left for the resolver to judge."""
        number = value.value if isinstance(value, ast.Number) else None
        if type(number) is not int or number < 1:
            return value
        scaled = scaled_channels(number, self.scaling) if how == "width" else scaled_repeats(number, self.scaling)
        self.changes.append(Change(value.span, number, scaled, how))
        return ast.Number(scaled, str(scaled), value.span)

    def _count(self, count):
        return self._number(count, "depth") if isinstance(count, ast.Number) else count


def _placed(value: ast.Value, span: ast.Span) -> ast.Value:
    """A variable's value written where its name is: errors about it point at the name."""
    match value:
        case ast.Number():
            return ast.Number(value.value, value.text, span)
        case ast.Word():
            return ast.Word(value.name, span)
        case ast.Tuple():
            return ast.Tuple(tuple(_placed(item, span) for item in value.items), span)
        case _:
            assert_never(value)


_SCALED: dict[str, tuple[tuple[str | None, ...], dict[str, str]] | None] = {}


def _scaled_params(code: str) -> tuple[tuple[str | None, ...], dict[str, str]] | None:
    """How each positional and keyword argument of a code scales (``"width"``, ``"depth"``, None);
    None for a code with nothing that scales, or no code at all (the resolver reports it)."""
    if code not in _SCALED:
        kind = LAYERS.get(code)
        params = kind.params if kind is not None else ()
        named = {param.name: param.scaled for param in params if param.scaled}
        positional = () if kind is None or kind.collect else tuple(param.scaled for param in params)
        _SCALED[code] = (positional, named) if named else None
    return _SCALED[code]


def repetitions(chains) -> dict[ast.Span, ast.Span]:
    """Every ``X * N`` the chains write: the span of ``N`` -> the span of the whole repetition."""
    found: dict[ast.Span, ast.Span] = {}
    stack = list(chains)
    while stack:
        node = stack.pop()
        match node:
            case ast.Chain():
                stack += node.elements
            case ast.Merge():
                stack += node.branches
            case ast.Repeat():
                found[node.count.span] = node.span
                stack.append(node.body)
            case ast.Named():
                stack.append(node.body)
            case ast.Alternatives():
                stack += node.options
            case ast.Call() | ast.Ref() | ast.Tensor():
                pass
            case _:
                assert_never(node)
    return found
