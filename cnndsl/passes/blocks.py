"""Expand one use of a block code (``C2F(64, n=2)``) into the resolved layers it stands for.

A block code's entry writes, for the input shape and its resolved arguments, a chain of other
codes (:class:`~cnndsl.layers.core.BlockText`); inference calls :func:`expand_use` where it
meets the use and knows its input shape, and walks the layers it returns in its place. The
chain is parsed, expanded and resolved once per text; each use then gets its own copy, placed
at the use's call in the source (errors and pictures point there) and carrying each layer's
path inside the outermost block code's call (``m.0.cv1.conv``). Names in the chain are the
chain's own: each use's tensors get keys of their own.
"""

from __future__ import annotations

from cnndsl.ast import Span, assert_never
from cnndsl.errors import Diagnostic, SpecError
from cnndsl.model import Layer
from cnndsl.passes.expand import Enter, Expander, Leave, Mark, Take
from cnndsl.passes.resolve import Joined, Resolved, Resolver
from cnndsl.records import replace
from cnndsl.shapes import Shape, ShapeProblem
from cnndsl.syntax import parse

MAX_KEPT = 4096
"""Most block texts whose resolution is kept (a spec uses a few dozen)."""

_RESOLVED: dict[str, tuple[list[Resolved], tuple[Diagnostic, ...]]] = {}
"""A block text -> its resolved items (placed in the text) and its errors."""


class BlockProblem(Exception):
    """The block cannot be expanded for this input: a message and a hint (placed at the use by inference)."""

    def __init__(self, message: str, hint: str | None = None, code: str = "bad-block", inside: bool = False):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code
        self.inside = inside
        """Whether a layer of the block's chain refused (else the block itself did, for this input)."""


def expand_use(layer: Layer, shape: Shape, uses: int) -> list[Resolved]:
    """The resolved layers one use of a block code stands for on input ``shape``.

    ``uses`` numbers the use among the model's (its tensors' keys are ``(uses, key)``).
    Raises :class:`BlockProblem` where the block cannot be written for this input.
    """
    try:
        written = layer.type.block(shape, layer.args)
    except ShapeProblem as problem:
        raise BlockProblem(problem.message, problem.hint, problem.code or "bad-block") from None
    items, problems = _resolved(written.text)
    if problems:
        first = problems[0]
        raise BlockProblem(first.message, first.hint, first.code or "bad-block", inside=True)
    paths = dict(written.paths)
    prefix = layer.path or ""
    return _placed(items, layer.span, prefix, paths, uses)


def _resolved(text: str) -> tuple[list[Resolved], tuple[Diagnostic, ...]]:
    known = _RESOLVED.get(text)
    if known is not None:
        return known
    try:
        chain = parse(text)
    except SpecError as error:  # a block's own text is written by its entry: a fault of the entry
        raise AssertionError(f"a block's text does not parse: {text!r}: {error}") from None
    expander = Expander()
    items = expander.expand(chain)
    resolver = Resolver(text)
    resolved = resolver.resolve(items) if not expander.diagnostics else []
    problems = (*expander.diagnostics, *resolver.diagnostics)
    if len(_RESOLVED) >= MAX_KEPT:
        _RESOLVED.clear()
    _RESOLVED[text] = known = (resolved, problems)
    return known


def _placed(items: list[Resolved], span: Span | None, prefix: str, paths: dict[int, str], uses: int) -> list[Resolved]:
    """The items at the use's span, each layer with its path, each tensor key the use's own."""
    out: list[Resolved] = []
    for item in items:
        match item:
            case Layer():
                out.append(_layer(item, span, prefix, paths))
            case Joined():
                branches = tuple(_placed(branch, span, prefix, paths, uses) for branch in item.branches)
                out.append(Joined(_layer(item.layer, span, prefix, paths), branches, (span,) * len(item.spans)))
            case Mark():
                out.append(Mark((uses, item.key)))
            case Take():
                out.append(Take((uses, item.key), span, item.name))
            case Enter() | Leave():  # a block's text uses no named blocks
                out.append(item)
            case _:
                assert_never(item)
    return out


def _layer(layer: Layer, span: Span | None, prefix: str, paths: dict[int, str]) -> Layer:
    own = paths.get(layer.span.start, "") if layer.span is not None else ""
    path = ".".join(part for part in (prefix, own) if part)
    return replace(layer, span=span, path=path)
