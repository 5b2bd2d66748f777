"""A spec that fails the check, as far as it could be checked: the picture's input.

A picture of a failing spec shows every layer up to and including the first one that
fails, marked with its error. The check runs once, with an inference that notes which
layer its first error is about, and a failure on shapes alone keeps inference's partial
work (:class:`cnndsl.checker.Partial`): the layers it built, in the order it built them,
and the tree they form, cut after the failing layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import Diagnostic
from cnndsl.model import INPUT, BlockUse, CheckedModel, From, Item, Layer, LayerInfo, Merge, is_input
from cnndsl.shapes import Shape
from cnndsl.tasks import task_named

CUT = -2
"""The layer of a merge the picture stops inside (its branches drawn, no join)."""


@dataclass(frozen=True)
class Drawable:
    """What a picture shows: the model as far as it could be checked.

    For a failing spec, ``model`` holds the layers up to and including the first that
    fails (``failed``, its index in ``model.layers``, drawn in red with ``error``), in
    the order inference built them; ``diagnostics`` are all the spec's errors.
    """

    model: CheckedModel
    failed: int | None = None
    error: Diagnostic | None = None
    diagnostics: tuple[Diagnostic, ...] = ()


def check_partial(
    chain: ast.Chain,
    source: str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    blocks=None,
    default_input_shape: Sequence[int] | None = None,
    task=None,
    scale=None,
) -> Drawable:
    """Check a parsed chain; a shape error still gives the layers inferred up to it.

    Raises SpecError when nothing can be drawn (a syntax or value error). ``scale``: the scale of the
    file's family (:class:`cnndsl.passes.scale.Chosen`).
    """
    from cnndsl.checker import Partial, check_partial

    inferrer = _recording_inferrer()
    checked = check_partial(
        chain, source, input_shape, num_classes, blocks, default_input_shape, task, True, inferrer, scale=scale
    )
    return _partial(checked, source, task) if isinstance(checked, Partial) else Drawable(checked)


def _partial(checked, source: str, task=None) -> Drawable:
    """The model as far as inference built it before the first error (a :class:`cnndsl.checker.Partial`).

    The layers are listed in the order inference built them (branch by branch), not
    in Keras's order: a picture needs only their tree.
    """
    resolved, shape, classes, inferrer, error = (
        checked.resolved, checked.shape, checked.classes, checked.inferrer, checked.error
    )  # fmt: skip
    first = error.diagnostics[0]
    rebuilt = _Rebuilt(list(inferrer.built), inferrer.failing, list(reversed(inferrer.expansions)))
    tree = rebuilt.chain(resolved, (None, *shape))[0]
    failed = rebuilt.failed if rebuilt.failed is not None else len(rebuilt.infos) - 1
    tree = cut(tree, failed)
    kept = sorted(_indices(tree))
    position = {old: new for new, old in enumerate(kept)}
    layers = tuple(rebuilt.infos[old] for old in kept)
    uses = tuple(rebuilt.kept_uses(position))
    opening = getattr(inferrer, "_first", None)
    inputs = (opening, *inferrer.inputs) if opening is not None and inferrer.inputs else ()
    model = CheckedModel(
        layers, (None, *shape), classes, source, tree=_renumbered(tree, position), blocks=uses, task=task_named(task),
        inputs=inputs,
    )  # fmt: skip
    return Drawable(model, position[failed], first, error.diagnostics)


def _indices(items: Iterable[Item]) -> Iterable[int]:
    """Every layer index in a tree."""
    for item in items:
        match item:
            case int():
                yield item
            case Merge():
                for branch in item.branches:
                    yield from _indices(branch)
                if item.layer != CUT:
                    yield item.layer
            case From():  # its source is written before it, so already met
                pass
            case _:
                assert_never(item)


def _renumbered(items: tuple[Item, ...], position: dict[int, int]) -> tuple[Item, ...]:
    out: list[Item] = []
    for item in items:
        match item:
            case int():
                out.append(position[item])
            case Merge():
                branches = tuple(_renumbered(branch, position) for branch in item.branches)
                out.append(Merge(layer=position.get(item.layer, CUT), branches=branches))
            case From():
                out.append(From(item.source if is_input(item.source) else position.get(item.source, INPUT), item.name))
            case _:
                assert_never(item)
    return tuple(out)


UNBUILT = "unbuilt"


def _recording_inferrer():
    """An Inferrer that notes which layer its first error is about, as inference meets it.

    ``failing`` becomes the built index of that layer (a merge's too), or UNBUILT when a
    rank error kept the layer from being built; it stays None when inference found no
    error (the classifier head's check failed).
    """
    from cnndsl.passes.infer import Inferrer

    class Recording(Inferrer):
        failing: int | str | None = None

        def _layer(self, layer, source, shape):
            errors = self._errors()
            info = super()._layer(layer, source, shape)
            if self.failing is None and self._errors() > errors:
                self.failing = len(self.built) - 1 if info is not None else UNBUILT
            return info

        def _merge(self, item, source, shape):
            errors = self._errors()
            joined = super()._merge(item, source, shape)
            if self.failing is None and self._errors() > errors:  # its own error, not a branch's
                built = joined is not None and self.built[-1].layer is item.layer
                self.failing = len(self.built) - 1 if built else UNBUILT
            return joined

        def _block(self, layer, source, shape):
            errors = self._errors()
            walked = super()._block(layer, source, shape)
            if self.failing is None and self._errors() > errors:  # the block itself, for its input
                self.failing = UNBUILT
            return walked

        def _errors(self) -> int:
            return sum(d.severity == "error" for d in self.diagnostics)

    return Recording()


class _Rebuilt:
    """The tree inference walked, as indices into its built layers, with the failing one found.

    Walks the resolved tree in inference's own order (a chain in order; a merge's
    branches, then the merge layer), taking the built layers one by one. A layer that
    was never built (a rank error ended its chain) is added, drawn at its input's size.
    """

    def __init__(self, built: list[LayerInfo], failing: int | str | None, expansions: list | None = None) -> None:
        self.infos, self.failing = built, failing
        self.expansions = expansions or []
        """What inference expanded each block code's use to, the next one last."""
        self.next = 0
        self.failed: int | None = failing if isinstance(failing, int) else None
        self.tensors: dict[int, tuple[int, Shape]] = {}
        """Each named tensor's key: the layer it is the output of, and its shape."""
        self.uses: list[BlockUse] = []
        self._opened = 0
        """The later inputs met so far."""
        self._open: list[tuple[str, list[int], bool]] = []
        """The block uses entered and not yet left: each one's name, the layers taken in it so far, and
        whether it is a block code's."""

    def _took(self, index: int) -> None:
        for _, layers, _ in self._open:
            layers.append(index)

    def kept_uses(self, position: dict[int, int]) -> list[BlockUse]:
        """The block uses, those the picture was cut inside too, in the kept layers' numbering."""
        opened = [BlockUse(name, tuple(layers), depth, code) for depth, (name, layers, code) in enumerate(self._open)]
        kept = []
        for use in [*self.uses, *reversed(opened)]:
            layers = tuple(sorted(position[i] for i in use.layers if i in position))
            if layers:
                kept.append(BlockUse(use.name, layers, use.depth, use.code))
        return kept

    def chain(self, items, shape: Shape, source: int = INPUT) -> tuple[tuple[Item, ...], Shape, bool]:
        """(tree, output shape, whether the chain ended early)."""
        from cnndsl.passes.expand import Enter, Leave, Mark, Take
        from cnndsl.passes.resolve import Joined, Opened

        tree: list[Item] = []
        for item in items:
            broken = False
            match item:
                case Opened():  # a later input: the chain goes on from it
                    self._opened += 1
                    source, shape = INPUT - self._opened, (None, *item.shape)
                    tree.append(From(source, item.name))
                case Joined():
                    merge, shape, broken = self.merge(item, shape, source)
                    tree.append(merge)
                    source = merge.layer
                case Mark():
                    self.tensors[item.key] = (source, shape)
                case Take():
                    if item.key not in self.tensors:  # named in a chain cut short
                        return tuple(tree), shape, True
                    source, shape = self.tensors[item.key]
                    tree.append(From(source, item.name))
                case Enter():
                    self._open.append((item.name, [], False))
                case Leave():
                    name, layers, _ = self._open.pop()
                    self.uses.append(BlockUse(name, tuple(layers), len(self._open)))
                case Layer() if self._expanded(item) is not None:
                    self._open.append((item.code, [], True))
                    made, shape, broken = self.chain(self.expansions.pop()[1], shape, source)
                    name, layers, _ = self._open.pop()
                    self.uses.append(BlockUse(name, tuple(layers), len(self._open), code=True))
                    tree.extend(made)
                    source = _last_source(made, source)
                case _:
                    source, shape, broken = self.layer(item, shape)
                    tree.append(source)
            if broken:
                return tuple(tree), shape, True
        return tuple(tree), shape, False

    def _expanded(self, layer) -> list | None:
        """What inference expanded this use of a block code to, if it is the next use it expanded."""
        if layer.type.block is None or not self.expansions or self.expansions[-1][0] is not layer:
            return None
        if self.expansions[-1][1] is None:  # the block could not be written for its input: drawn as one layer
            self.expansions.pop()
            return None
        return self.expansions[-1][1]

    def layer(self, layer, shape: Shape) -> tuple[int, Shape, bool]:
        if self.next < len(self.infos) and self.infos[self.next].layer is layer:
            index, self.next = self.next, self.next + 1
            self._took(index)
            return index, self.infos[index].output_shape, False
        self.infos.append(_uninferred(layer, shape))
        self._took(len(self.infos) - 1)
        if self.failing == UNBUILT and self.failed is None:
            self.failed = len(self.infos) - 1
        return len(self.infos) - 1, shape, True

    def merge(self, item, shape: Shape, source: int) -> tuple[Merge, Shape, bool]:
        walked = [self.chain(branch, shape, source) for branch in item.branches]
        branches = tuple(tree for tree, _, _ in walked)
        if any(broken for _, _, broken in walked):
            return Merge(layer=CUT, branches=branches), shape, True
        if not (self.next < len(self.infos) and self.infos[self.next].layer is item.layer):
            if self.failing != UNBUILT or self.failed is not None:
                return Merge(layer=CUT, branches=branches), shape, True
            self.infos.append(_uninferred(item.layer, walked[0][1]))  # a merge whose branches cannot join
            self.failed = len(self.infos) - 1
            self._took(self.failed)
            return Merge(layer=self.failed, branches=branches), walked[0][1], True
        index, self.next = self.next, self.next + 1
        self._took(index)
        return Merge(layer=index, branches=branches), self.infos[index].output_shape, False


def _last_source(items: tuple[Item, ...], source: int) -> int:
    """The layer whose output a chain of items ends in (``source`` for an empty chain)."""
    for item in items:
        match item:
            case int():
                source = item
            case Merge():
                source = item.layer
            case From():
                source = item.source
            case _:
                assert_never(item)
    return source


def _uninferred(layer, shape: Shape) -> LayerInfo:
    """A layer that inference could not take: drawn at its input's size."""
    return LayerInfo(layer, layer.type.keras_name_for(layer.args), shape, shape, 0, 0, 0, (), (shape,))


def cut(items: tuple[Item, ...], last: int) -> tuple[Item, ...]:
    """The items written up to and including layer ``last``."""
    kept: list[Item] = []
    for item in items:
        match item:
            case int():
                kept.append(item)
                if item == last:
                    break
            case Merge():
                if _holds(item, last) and item.layer != last:
                    branches = _cut_branches(item.branches, last)
                    kept.append(Merge(layer=CUT, branches=branches))
                    break
                kept.append(item)
                if item.layer == last:
                    break
            case From():
                kept.append(item)
            case _:
                assert_never(item)
    return tuple(kept)


def _cut_branches(branches, last: int) -> tuple[tuple[Item, ...], ...]:
    kept = []
    for branch in branches:
        if any(_holds(item, last) for item in branch):
            kept.append(cut(branch, last))
            break
        kept.append(branch)
    return tuple(kept)


def _holds(item: Item, index: int) -> bool:
    match item:
        case int():
            return item == index
        case Merge():
            return item.layer == index or any(_holds(sub, index) for branch in item.branches for sub in branch)
        case From():
            return False
        case _:
            assert_never(item)


def source_drawable(source, input_shape=None, num_classes=None, default_input_shape=None, task=None) -> Drawable:
    """What a picture of a :class:`cnndsl.inputs.Source` shows (see :func:`check_partial`).

    A spec literal in a Python file is drawn only when it passes the check.
    """
    if source.error is not None or source.embedded is not None:
        return Drawable(source.check(input_shape, num_classes, default_input_shape, task))
    from cnndsl.syntax import parse

    chain = source.chain if source.chain is not None else parse(source.text)
    scale = source.chosen_scale()
    return check_partial(
        chain, source.text, input_shape, num_classes, source.blocks, default_input_shape, task, scale=scale
    )
