"""Write layers back as notation: the inverse of parsing, for models that come from elsewhere.

A model read from Keras, from PyTorch or from the JSON architecture is a chain of
:class:`Written` layers and :class:`Joined` merges with resolved arguments; :func:`tree`
builds the spec's syntax tree, which the formatter prints (:func:`write`): arguments
equal to what the notation would resolve (the default, or for an inherited argument
the nearest earlier layer's value) are left out; the required arguments, an inherited
one (a convolution's kernel), a collected one (a pool size) and a layer's only argument
are written by position while nothing before them is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnndsl import ast
from cnndsl.formatter import chain as print_chain
from cnndsl.formatter import print_value
from cnndsl.layers import LAYERS, REQUIRED, LayerType
from cnndsl.tasks import CLASSIFY, Task


@dataclass(frozen=True)
class Written:
    """One layer to write: its code and resolved arguments; ``name`` writes ``as name`` after it."""

    code: str
    args: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class Joined:
    """A merge to write: its code (ADD, CAT, MUL), its own arguments and its branches (empty: ``ID()``)."""

    code: str
    branches: tuple[tuple[Node, ...], ...]
    args: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class Taken:
    """``@name``: the chain (or branch) goes on from the tensor a node ``name`` named."""

    name: str


Node = Written | Joined | Taken


def write(
    chain: Sequence[Node],
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    input_name: str | None = None,
    task: Task | None = None,
) -> str:
    """The canonical spec of a chain, declaring ``IN(h, w, c)`` first when given (``as input_name`` after it).

    With ``num_classes``, a last layer that the task's head rule would take for the head
    (classification's ``DN(num_classes)``) keeps its activation written when it is not the head.

    >>> write([Written("CN", {"filters": 8, "kernel": (5, 5)}), Written("CN", {"filters": 8, "kernel": (5, 5)})])
    'CN(8, 5) -> CN(8)'
    """
    written = tree(chain, input_shape, num_classes, input_name, task)
    return print_chain(written, tight=True) if written.elements else ""


def tree(
    chain: Sequence[Node],
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    input_name: str | None = None,
    task: Task | None = None,
) -> ast.Chain:
    """The syntax tree :func:`write` prints (its spans are empty: it was read from no text)."""
    state: dict[tuple[str, str], Any] = {}
    if chain and _looks_like_head(chain[-1], num_classes, task or CLASSIFY):
        state[_KEEP] = chain[-1]
    elements: list[ast.Node] = []
    if input_shape is not None:
        declared = ast.Call("IN", tuple(_arg(None, _leaf(size)) for size in input_shape), NOWHERE)
        elements.append(declared if input_name is None else ast.Named(declared, input_name, NOWHERE, NOWHERE))
    if chain:
        elements += _chain(chain, state).elements
    return ast.Chain(tuple(elements), NOWHERE)


NOWHERE = ast.Span(0, 0, 1, 1, 1, 1)
"""The span of a node that was read from no text."""


def _chain(chain: Sequence[Node], state: dict) -> ast.Chain:
    """A chain's tree; an inherited argument is left out only right after a layer of the same code."""
    elements = []
    state[_PREVIOUS] = None
    for node in chain:
        elements.append(_node(node, state))
        state[_PREVIOUS] = node.code if isinstance(node, Written) else None
    return ast.Chain(tuple(elements) if chain else (ast.Call("ID", (), NOWHERE),), NOWHERE)


_KEEP = ("", "keep activation")
_PREVIOUS = ("", "previous code")
"""The code of the layer just before, in the same chain (None at a chain's start or after a merge)."""


def _looks_like_head(node: Node, num_classes: int | None, task: Task) -> bool:
    """A last layer that the checker would take for the task's head if its activation were left out."""
    return isinstance(node, Written) and task.reads_as_head(node.code, node.args, num_classes)


def _node(node: Node, state: dict) -> ast.Node:
    match node:
        case Written():
            return _as(_layer(LAYERS[node.code], node.args, state, keep=state.get(_KEEP) is node), node.name)
        case Joined():
            branches = tuple(_chain(branch, state) for branch in node.branches)
            state[_PREVIOUS] = None
            defaults = {param.name: param.default for param in LAYERS[node.code].params}
            keywords = tuple(_arg(k, _value(v)) for k, v in node.args.items() if defaults.get(k) != v)
            return _as(ast.Merge(node.code, branches, keywords, NOWHERE), node.name)
        case Taken():
            return ast.Tensor(node.name, NOWHERE)
        case _:
            raise TypeError(f"not a layer, merge or named tensor: {node!r}")


def _as(node: ast.Node, name: str | None) -> ast.Node:
    return node if name is None else ast.Named(node, name, NOWHERE, NOWHERE)


def _arg(name: str | None, value: ast.Value) -> ast.Arg:
    return ast.Arg(name, value, NOWHERE)


def _layer(kind: LayerType, args: Mapping[str, Any], state: dict, keep: bool = False) -> ast.Call:
    """``CODE(...)`` with only the arguments that differ from what the notation would resolve."""
    unknown = set(args) - set(kind.param_names)
    if unknown:
        raise ValueError(f"{kind.code} has no argument {sorted(unknown)[0]!r}")
    parts: list[ast.Arg] = []
    skipped = False
    for param in kind.params:
        value = args.get(param.name, param.default)
        if _implied(kind, param, value, args, state) and not (keep and param.name == "activation"):
            skipped = True
            continue
        if param.inherit:
            state[kind.code, param.name] = value
        if not skipped and _by_position(kind, param):
            spread = param.name == kind.collect
            parts += [_arg(None, item) for item in _values(value, spread=spread, literal=param.literal)]
        else:
            parts.append(_arg(param.name, _value(value, literal=param.literal)))
    return ast.Call(kind.code, tuple(parts), NOWHERE)


def _by_position(kind: LayerType, param) -> bool:
    if kind.collect is not None:
        return param.name == kind.collect
    loud = [other for other in kind.params if not other.quiet]  # an argument added later leaves a lone one positional
    return param.default is REQUIRED or param.inherit or loud == [param]


def _implied(kind: LayerType, param, value: Any, args: Mapping[str, Any], state: dict) -> bool:
    """Whether leaving the argument out resolves to this value."""
    if param.default is REQUIRED:
        return False
    if param.inherit and (kind.code, param.name) in state:
        # left out only where a reader sees what it repeats: right after a layer of the same code
        return state[kind.code, param.name] == value and state.get(_PREVIOUS) == kind.code
    if param.same_as is not None:  # defaults to another argument's value
        return value is None or value == args.get(param.same_as)
    return value == param.default


def value_text(value: Any, spread: bool = False, literal: bool = False) -> str:
    """A value as the notation writes it: ``3`` for (3, 3), ``true``, ``(1,2)``; ``spread`` drops the outer parentheses.

    >>> value_text((3, 3)), value_text((1, 2)), value_text(True), value_text(((0, 1), (0, 1))), value_text(((2, 2), (2, 2)))
    ('3', '(1,2)', 'true', '((0,1),(0,1))', '2')
    >>> value_text((1, 1, 8), spread=True, literal=True), value_text((1, 1), spread=True, literal=True)
    ('1, 1, 8', '1, 1')
    """
    return ", ".join(print_value(node, tight=True) for node in _values(value, spread, literal))


def _values(value: Any, spread: bool = False, literal: bool = False) -> list[ast.Value]:
    """A value's trees: one, or with ``spread`` a tuple's items written as arguments of their own."""
    node = _value(value, literal)
    if spread and isinstance(node, ast.Tuple) and "(" not in ",".join(map(_text, node.items)):
        return list(node.items)
    return [node]


def _value(value: Any, literal: bool = False) -> ast.Value:
    """A value's tree: ``3`` for (3, 3) unless ``literal``, ``true``, ``(1,2)``."""
    if isinstance(value, tuple | list):
        items = [_value(item) for item in value]
        if not literal and len(set(map(_text, items))) == 1 and "(" not in _text(items[0]):
            return items[0]  # (3, 3) is 3, ((1, 1), (1, 1)) is 1
        return ast.Tuple(tuple(items), NOWHERE)
    return _leaf(value)


def _text(node: ast.Value) -> str:
    return print_value(node, tight=True)


def _leaf(value: Any) -> ast.Value:
    """A number, a word (``true``, ``same``, ``relu``) as the notation writes it."""
    if isinstance(value, bool):
        return ast.Word("true" if value else "false", NOWHERE)
    if isinstance(value, int | float):
        return ast.Number(value, repr(value) if isinstance(value, float) else str(value), NOWHERE)
    return ast.Word(str(value), NOWHERE)
