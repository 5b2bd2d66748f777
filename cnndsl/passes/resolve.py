"""Bind each call's arguments to its layer's schema and resolve defaults.

Defaults that depend on context are resolved here: an omitted inheritable
argument (CN's kernel) repeats the nearest preceding layer of the same code,
``IN(h,w,c)`` sets the input shape, and the task's head is made explicit.
"""

from __future__ import annotations

from collections.abc import Mapping

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import VALUE, Diagnostic, Edit, Fix
from cnndsl.layers import LAYERS, REQUIRED, ArgProblem, LayerType, suggest
from cnndsl.layers.core import suggest_code
from cnndsl.model import Layer
from cnndsl.passes.expand import Enter, Expanded, Item, Leave, Mark, Take
from cnndsl.records import record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cnndsl.tasks import Task

_NOT_YET = object()  # no earlier layer has given an inheritable argument


@record
class Joined:
    """A resolved merge: its layer and its branches (an ``ID()`` branch is empty)."""

    layer: Layer
    branches: tuple[list[Resolved], ...]
    spans: tuple[ast.Span, ...]
    """Each branch's span in the text, for errors about one branch."""
    names: tuple[str, ...] = ()
    """``OUT``'s output names, one per branch; empty for other merges."""


@record
class Opened:
    """``IN(...)`` written after the first in the model's own chain: a further input of the model, which the
    chain goes on from (it takes no tensor from before it)."""

    shape: tuple
    """(height, width, channels) as declared."""
    span: ast.Span
    name: str | None = None
    """The ``as name`` written right after it; None: none."""


Resolved = Layer | Joined | Mark | Take | Enter | Leave | Opened


class Resolver:
    """Turns an expanded tree into resolved layers and merges, collecting every value error.

    Items are visited in the order of the text (a merge's branches left to right),
    so an omitted CN kernel repeats the nearest CN written before it, whatever
    branch that is in.
    """

    def __init__(self, source: str, alone: frozenset[ast.Span] = frozenset(), names: tuple[str, ...] = ()):
        """``alone``: the calls written there bind on their own, never sharing the binding of a call written
        alike (a scale rewrote the others' numbers, and left those as written). ``names``: each named
        tensor's name by its key (:class:`Mark`), which names the inputs."""
        self.source = source
        self.names = names
        self.input_name: str | None = None
        """The ``as name`` written right after the first ``IN(...)``."""
        self.alone = alone
        self.diagnostics: list[Diagnostic] = []
        self.inherited: dict[tuple[str, str], Any] = {}
        self.declared_input: tuple[tuple[int, ...], ast.Span] | None = None
        self._bound: dict[tuple[str, tuple], tuple[dict, frozenset[str]]] = {}
        self._givens: dict[frozenset[str], frozenset[str]] = {}
        """One copy of each set of given names: a large spec keeps fewer objects alive."""

    def resolve(self, items: list[Item], top: bool = True) -> list[Resolved]:
        resolved: list[Resolved] = []
        index = 0  # the item's place in the chain, block uses' marks not counted
        for at, item in enumerate(items):
            match item:
                case ast.Call():
                    node = self._layer(item, index if top else -1)
                    following = items[at + 1] if at + 1 < len(items) else None
                    named = self.names[following.key] if isinstance(following, Mark) and self.names else None
                    if isinstance(node, Opened) and named is None:
                        self._misplaced_input(
                            node.span,
                            "name it to start a further input of the model: "
                            f"{self.source[node.span.start : node.span.end]} as ir",
                        )
                        node = None
                    elif isinstance(node, Opened):
                        node = replace(node, name=named)
                    elif top and index == 0 and item.code == "IN":
                        self.input_name = named
                case Expanded():
                    if LAYERS[item.merge.code].is_output:
                        self._place_outputs(item, top and all(isinstance(later, Leave) for later in items[at + 1 :]))
                    node = self._merge(item)
                case Mark() | Take():
                    node = item
                case Enter() | Leave():
                    node, index = item, index - 1
                case _:
                    assert_never(item)
            index += 1
            if node is not None:
                resolved.append(node)
        return resolved

    def _place_outputs(self, item: Expanded, last: bool) -> None:
        """``OUT`` ends the model: anywhere but last in the model's own chain it is an error."""
        if not last:
            merge = item.merge
            self._error(
                f"{merge.code}(...) gives the model's outputs and must end the model's chain",
                merge.span,
                f"move it to the end of the model, after its last layer: ... -> {merge.code}(@a | ID() as b)",
                code="misplaced-outputs",
            )

    def _merge(self, item: Expanded) -> Joined | None:
        merge = item.merge
        kind = LAYERS[merge.code]
        positional = [arg for arg in merge.args if arg.name is None]
        takes = f"takes its arguments by name: {kind.signature()}" if kind.params else "takes no arguments but branches"
        for arg in positional:
            self._error(f"{merge.code} {takes}", arg.span, code="merge-arguments")
        branches = tuple(self.resolve(branch, top=False) for branch in item.branches)
        fewest = kind.min_branches
        if len(merge.branches) < fewest:
            example = f"{merge.code}(A | B)" if fewest > 1 else f"{merge.code}(A)"
            needs = f"{fewest} branches, separated by '|'" if fewest > 1 else "1 branch"
            message = f"{merge.code} needs at least {needs}: {example}"
            self._error(message, merge.span, code="merge-branches")
            return None
        call = ast.Call(merge.code, tuple(arg for arg in merge.args if arg.name is not None), merge.span)
        text = self.source[merge.span.start : merge.span.end]
        args, given = self._bind(kind, call)
        if args is None or positional:
            return None
        spans = tuple(branch.span for branch in merge.branches)
        return Joined(Layer(kind, args, merge.span, text, given=given), branches, spans, item.names)

    def _layer(self, call: ast.Call, index: int) -> Layer | Opened | None:
        kind = LAYERS.get(call.code)
        if kind is None:
            hint, fixes = suggest_code(call.code, LAYERS, call)
            hint = hint or "layer codes: " + ", ".join(LAYERS)
            self._error(f"unknown layer code {call.code!r}", call.code_span, hint, code="unknown-layer", fixes=fixes)
            return None
        span = call.span
        text = self.source[span.start : span.end]
        args, given = self._bind_once(kind, call, text)
        if args is None or kind.is_identity:
            return None
        if kind.is_input:
            return self._declare_input(args, call, index)
        return Layer(kind, args, span, text, given=given)

    def _declare_input(self, args: Mapping[str, Any], call: ast.Call, index: int) -> Opened | None:
        """The first ``IN(...)`` declares the input's shape; a later one in the model's own chain opens
        a further input; one inside a merge's branch or a block is an error."""
        if index < 0:
            self._misplaced_input(
                call.span,
                "a further input is written in the model's own chain, named, not "
                "inside a merge or a block: ... -> IN(64, 64, 1) as ir -> ...",
            )
            return None
        if index != 0:
            return Opened(args["shape"], call.span)
        self.declared_input = (args["shape"], call.span)
        return None

    def _misplaced_input(self, span: ast.Span, hint: str) -> None:
        self._error("IN(...) declares the input shape and must come first", span, hint, code="misplaced-input")

    # --- binding ---

    def _bind_once(self, kind: LayerType, call: ast.Call, text: str) -> tuple[dict | None, frozenset[str]]:
        """Bind a call, or reuse the binding of the same text under the same inherited values.

        Layers written alike bind alike: the copies a repeat makes, or a notebook's
        ``CN(20,(5,5))`` every other layer. Only bindings without errors are kept, so
        every error is still reported at its own call. Layers share the arguments
        dict of a binding: nothing changes a layer's arguments once resolved.
        """
        inherits = kind.inherited_keys
        inherited = self.inherited
        key = (text, tuple([inherited.get(pair, _NOT_YET) for pair in inherits]) if inherits else ())
        if call.span in self.alone:
            key = (*key, "alone")
        known = self._bound.get(key)
        if known is not None:
            args, given = known
            for pair in inherits:
                if pair[1] in given:
                    inherited[pair] = args[pair[1]]
            return args, given
        args, given = self._bind(kind, call)
        if args is not None:
            self._bound[key] = (args, given)
        return args, given

    def _bind(self, kind: LayerType, call: ast.Call) -> tuple[dict | None, frozenset[str]]:
        values, ok = self._match(kind, call)
        args: dict[str, Any] = {}
        inherited, labels = self.inherited, kind.labels
        for param in kind.params:
            name = param.name
            if name in values:
                try:
                    args[name] = param.kind(values[name], labels[name])
                except ArgProblem as problem:
                    hint = problem.hint or _collected_hint(kind, call, name)
                    node = problem.node or values[name]
                    fixes = _changed(node.span.text(self.source), node.span, problem.replacement)
                    self._error(problem.message, node.span, hint, code=problem.code, fixes=fixes)
                    ok = False
                    continue
                if param.inherit:
                    inherited[kind.code, name] = args[name]
            elif param.inherit and (kind.code, name) in inherited:
                args[name] = inherited[kind.code, name]
            elif param.same_as is not None:
                args[name] = args.get(param.same_as)
            elif param.default is REQUIRED:
                self._error(f"{kind.code} needs its {name}: {kind.signature()}", call.span, code="missing-argument")
                ok = False
            else:
                args[name] = param.default
        problem = kind.check_args(args) if ok else None
        if problem:
            message, hint = problem if isinstance(problem, tuple) else (problem, None)
            self._error(message, call.span, hint, code="bad-arguments")
        given = frozenset(values)
        return (args if ok and not problem else None), self._givens.setdefault(given, given)

    def _match(self, kind: LayerType, call: ast.Call) -> tuple[dict[str, ast.Value], bool]:
        """Pair each argument with its parameter by position or keyword; False if any fails."""
        positional, keywords = [], []
        for arg in call.args:
            (positional if arg.name is None else keywords).append(arg)
        values: dict[str, ast.Value] = {}
        ok = self._match_positional(kind, call, positional, values)
        names = kind.param_names
        for arg in keywords:
            if arg.name not in names:
                close = suggest(arg.name, names) if arg.name != "scaled" else None
                hint = f"did you mean {close}=?" if close else _takes(kind)
                if arg.name == "scaled":  # the scaling pass takes it off in a file with scale lines
                    hint = "scaled=false keeps a call's numbers in a spec file with scale lines; this spec has none"
                message, fixes = f"{kind.code} has no argument {arg.name!r}", _changed(arg.name, _name_span(arg), close)
                self._error(message, arg.span, hint, code="unknown-argument", fixes=fixes)
                ok = False
            elif arg.name in values:
                self._error(f"{kind.code} {arg.name} is given twice", arg.span, code="repeated-argument")
                ok = False
            else:
                values[arg.name] = arg.value
        return values, ok

    def _match_positional(self, kind: LayerType, call: ast.Call, positional: list[ast.Arg], values: dict) -> bool:
        if kind.collect and positional:
            items = tuple(arg.value for arg in positional)
            span = _join(positional[0].span, positional[-1].span)
            values[kind.collect] = items[0] if len(items) == 1 else ast.Tuple(items, span)
            return True
        for param, arg in zip(kind.params, positional):
            values[param.name] = arg.value
        if len(positional) > len(kind.params):
            extra = positional[len(kind.params)]
            span = _join(extra.span, positional[-1].span)
            self._error(f"too many arguments: {_takes(kind)}", span, code="too-many-arguments")
            return False
        return True

    def _error(self, message: str, span: ast.Span | None, hint: str | None = None, code: str | None = None,
               fixes: tuple[Fix, ...] = ()) -> None:  # fmt: skip
        self.diagnostics.append(Diagnostic(VALUE, message, span, hint=hint, code=code, fixes=fixes))


def _changed(written: str, span: ast.Span, new: str | None) -> tuple[Fix, ...]:
    """The did-you-mean fix: the text under ``span`` becomes ``new``."""
    return (Fix(f"Change {written} to {new}", (Edit(span, new),)),) if new else ()


def _name_span(arg: ast.Arg) -> ast.Span:
    """Where a keyword argument's name is written (``paddng`` of ``paddng=same``)."""
    span, width = arg.span, len(arg.name)
    return ast.Span(span.start, span.start + width, span.line, span.column, span.line, span.column + width)


def _collected_hint(kind: LayerType, call: ast.Call, name: str) -> str | None:
    """For ``MP(2, 2, valid)``: every positional argument forms the pool; say where the rest go."""
    if name != kind.collect or sum(arg.name is None for arg in call.args) < 2:
        return None
    others = [param.name for param in kind.params if param.name != name]
    if not others:
        return None
    return (
        f"the positional numbers of {kind.code} all form its {name} ({kind.code}(2, 2) is 2x2); "
        f"give {' and '.join(others)} by name: {kind.signature()}"
    )


def _takes(kind: LayerType) -> str:
    if not kind.params:
        return f"{kind.code} takes no arguments: {kind.code}()"
    return f"{kind.code} takes {kind.signature()}"


def _branch_head(task: Task, branch: list[Resolved], outputs: int, explicit: bool) -> list[Resolved]:
    """An ``OUT`` branch with its last layer (names and block marks after it aside) the task's head, where it is one."""
    at = len(branch)
    while at and isinstance(branch[at - 1], Enter | Leave | Mark):
        at -= 1
    last = branch[at - 1] if at else None
    head = task.take_head(last, outputs, explicit) if isinstance(last, Layer) else None
    return branch if head is None else [*branch[: at - 1], head, *branch[at:]]


def _join(first: ast.Span, last: ast.Span) -> ast.Span:
    return ast.Span(first.start, last.end, first.line, first.column, last.end_line, last.end_column)


def attach_head(
    task: Task, layers: list[Resolved], outputs: int, end: ast.Span, explicit: bool = True
) -> list[Resolved]:
    """Make the head explicit, as the task's head rule says: the last layer becomes the head, or one is appended.

    The last layer is the last one the model computes, a block's use ending the model included;
    the appended head is located at ``end``, the end of the spec. A model ending in ``OUT(...)``
    gets no head appended: the rule takes the last layer of each branch that has one of its
    own as that output's head where it reads as one (``DN(10) as aux`` of a classifier), and
    leaves every other output as written (a feature map, ``@p3``, ``ID() as p5``).
    """
    if not task.appends_head:  # the spec ends in the task's own head (a detector's DETECT)
        return layers
    at = len(layers)
    while at and isinstance(layers[at - 1], Enter | Leave):  # a model that ends in a block's use
        at -= 1
    last = layers[at - 1] if at else None
    if isinstance(last, Joined) and last.layer.type.is_output:
        branches = tuple(_branch_head(task, branch, outputs, explicit) for branch in last.branches)
        joined = Joined(last.layer, branches, last.spans, last.names)
        return [*layers[: at - 1], joined, *layers[at:]]
    head = task.take_head(last, outputs, explicit) if isinstance(last, Layer) else None
    if head is not None:
        return [*layers[: at - 1], head, *layers[at:]]
    return [*layers, task.new_head(outputs, end)]
