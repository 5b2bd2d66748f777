"""Infer every layer's output shape and parameter counts, as Keras would.

Pure Python: the rules come from the layer table. The walk follows the resolved
tree: a chain feeds each layer the previous one's output, a merge feeds every
branch its own input and joins the branches' outputs. A size error leaves the
layer's output sizes unknown and inference goes on, so one pass reports every
independent shape error; a rank error ends its chain, since nothing after it can
be known (other branches are still walked, for their own errors), and so does a
merge whose branches disagree on more than their sizes. Each diagnostic carries its
code and the fixes known where it is found (``padding=same``; the task's output contract,
checked after inference, knows ``FL()`` before the head).

The layers come out in the order Keras lists a model's layers (:func:`keras_order`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from cnndsl.ast import Span, assert_never
from cnndsl.errors import SHAPE, Diagnostic, Edit, Fix
from cnndsl.layers import MAX_WEIGHT_VALUES
from cnndsl.model import INPUT, BlockUse, From, Input, Item, Layer, LayerInfo, Merge, Output, is_input
from cnndsl.passes.blocks import BlockProblem, expand_use
from cnndsl.passes.expand import MAX_LAYERS, Enter, Leave, Mark, Take
from cnndsl.passes.resolve import Joined, Opened, Resolved
from cnndsl.records import replace
from cnndsl.shapes import Shape, ShapeProblem, UnknownSize, format_shape

RANK_WORDS = {4: "a 4-D input (batch, height, width, channels)", 2: "a 2-D input (batch, features)"}


_Measure = tuple[Shape, tuple[Shape], int, int, int, "str | None", Mapping]
"""What a layer binding gives on one input shape: output shape, input shapes, trainable
and non-trainable weight values, MACs, warning; last the binding's arguments, held so
that their id, the cache key, stays theirs. A plain tuple: one is made per layer."""


class Inferrer:
    """Walks the resolved tree from the input shape, collecting shape diagnostics."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.names: Counter[str] = Counter()
        self.built: list[LayerInfo] = []
        """Every layer in the order it is made: the order Keras names them in."""
        self.merged = False
        """Whether a merge was walked (else the model is a straight stack, in order already)."""
        self._measured: dict[tuple[int, int, Shape, bool], _Measure] = {}
        """What a layer binding gives on an input shape, kept when it raised no error."""
        self._sizes_lost = False
        """Whether an error has left sizes unknown: a later "size unknown" follows from it, and is not said."""
        self._pointwise: list[tuple[int, Diagnostic]] = []
        """Warnings of layers whose kind withdraws them when the output later meets a spatial layer."""
        self._image: Shape = ()
        """The model input's shape, for a merge that sees it."""
        self.tensors: dict[int, tuple[int, Shape]] = {}
        """Each named tensor's key (cnndsl.passes.expand.Mark): the layer it is the output of, and its shape."""
        self.taken = False
        """Whether a chain went on from a named tensor (then every layer must still lead to the output)."""
        self.uses: list[BlockUse] = []
        """Each use of a named block, by the layers it built (in build order until :meth:`infer` returns)."""
        self._entered: list[tuple[str, int]] = []
        self.inputs: list[Input] = []
        """The model's later inputs (``IN(...) as name`` after the first), in the order written."""
        self.outputs: list[Output] = []
        """The model's named outputs where it ends in ``OUT`` (indices in Keras's order once :meth:`infer` returns)."""
        self._block_uses = 0
        """Uses of block codes expanded so far (each use's tensors are keyed by its number)."""
        self._in_block = 0
        """How many block codes' uses the walk is inside."""
        self._too_many = False
        """Whether the layer limit was passed (said once)."""
        self.expansions: list[tuple[Layer, list[Resolved] | None]] = []
        """What each use of a block code expanded to, in the order the walk met them (a picture of a
        failing spec walks them again)."""

    def infer(
        self, items: Sequence[Resolved], input_shape: Shape, first: Input | None = None
    ) -> tuple[list[LayerInfo], tuple[Item, ...]]:
        """The layers in Keras's order, and the tree of items indexing them.

        ``first``: the first input, named, for a model that may have several (its errors are located there).
        """
        self._first = first
        self._image = input_shape
        walked = self._chain(items, INPUT, input_shape)
        tree = walked[2] if walked else ()
        ends = {output.source for output in self.outputs} or ({walked[0]} if walked else set())
        if walked and self.taken:
            self._lost(ends)
        if walked and self.inputs:
            self._unused_inputs(ends)
        if walked:
            self._followed_ends(ends)
        self._withdraw_pointwise_warnings()
        if not self.merged:
            return self.built, tree
        sources = [output.source for output in self.outputs]
        layers, tree, position = _keras_order(self.built, tree, sources)
        self.outputs = [
            Output(out.name, out.source if is_input(out.source) else position[out.source], out.span)
            for out in self.outputs
        ]
        self.uses = [
            BlockUse(use.name, tuple(sorted(position[i] for i in use.layers)), use.depth, use.code) for use in self.uses
        ]
        return layers, tree

    def _lost(self, outputs: set[int]) -> None:
        """Every layer must lead to an output, as in Keras's model: one whose output nothing uses is an error."""
        used = {source for info in self.built for source in info.inputs}
        for index, info in enumerate(self.built):
            if index not in outputs and index not in used:
                self._error(
                    f"the output of {_head(info.layer)} is lost: nothing uses it, since a later '@name' "
                    "goes on from another tensor",
                    info.layer.span,
                    f"name it ({_head(info.layer)} as x) and use it (@x), or remove it",
                    "lost-output",
                )

    def _named_apart(self, item: Opened) -> None:
        """Two inputs of one name (a block's or a repetition's copies each naming theirs alike) are an error."""
        earlier = [given for given in (self._first, *self.inputs) if given is not None and given.name == item.name]
        if earlier:
            where = earlier[0].span
            hint = f"the first is on line {where.line}, column {where.column}; " if where else ""
            self._error(
                f"two inputs are named {item.name!r}",
                item.span,
                hint
                + "give each input a name of its own (an input written in a block or a repetition is one per copy)",
                "tensor-name",
            )

    def _unused_inputs(self, outputs: set[int]) -> None:
        """Every input must reach an output: one that no layer reads and no output is is an error."""
        used = {source for info in self.built for source in info.inputs} | outputs
        everyone = [self._first, *self.inputs] if self._first is not None else self.inputs
        for number, given in enumerate(everyone, start=0 if self._first is not None else 1):
            if INPUT - number not in used:
                self._error(
                    f"the input {given.name!r} reaches no output: nothing uses it",
                    given.span,
                    f"use it (a layer after it, or @{given.name} in a merge), or remove it",
                    "unused-input",
                )

    def _followed_ends(self, outputs: set[int]) -> None:
        """A layer that ends the model (a detection head, whose output is the detections) followed by another."""
        for index, info in enumerate(self.built):
            if info.layer.type.ends_model and index not in outputs:
                self._error(
                    f"{_head(info.layer)} ends the model: nothing may follow it",
                    info.layer.span,
                    f"end the spec in {info.layer.code}(...)",
                    "ends-model",
                )

    def _withdraw_pointwise_warnings(self) -> None:
        """``DN`` on a 4-D tensor whose output later meets a spatial layer is a pointwise convolution (ConvNeXt's)."""
        if not self._pointwise:
            return
        consumers: dict[int, list[int]] = {}
        for index, info in enumerate(self.built):
            for source in info.inputs:
                consumers.setdefault(source, []).append(index)
        withdrawn = {id(warning) for index, warning in self._pointwise if self._meets_spatial(index, consumers)}
        self.diagnostics = [d for d in self.diagnostics if id(d) not in withdrawn]

    def _meets_spatial(self, index: int, consumers: dict[int, list[int]]) -> bool:
        stack, seen = list(consumers.get(index, ())), set()
        while stack:
            later = stack.pop()
            if later in seen:
                continue
            seen.add(later)
            if self.built[later].layer.type.input_rank == 4:
                return True
            stack.extend(consumers.get(later, ()))
        return False

    def _chain(self, items: Sequence[Resolved], source: int, shape: Shape) -> tuple[int, Shape, tuple] | None:
        """Walk a chain from ``source``; None when a rank error ends it."""
        tree: list[Item] = []
        built = self.built
        for item in items:
            match item:
                case Layer() if item.type.block is not None:
                    walked = self._block(item, source, shape)
                    if walked is None:
                        return None
                    source, shape, made = walked
                    tree.extend(made)
                case Layer():
                    info = self._layer(item, source, shape)
                    if info is None:
                        return None
                    source, shape = len(built) - 1, info.output_shape
                    tree.append(source)
                case Joined() if item.layer.type.is_output:
                    if not self._outputs(item, source, shape, tree):
                        return None
                case Joined():
                    joined = self._merge(item, source, shape)
                    if joined is None:
                        return None
                    source, shape, merge = joined
                    tree.append(merge)
                case Opened():
                    self._named_apart(item)
                    self.merged = self.taken = True
                    self.inputs.append(Input(item.name, (None, *item.shape), item.span))
                    source, shape = INPUT - len(self.inputs), (None, *item.shape)
                    tree.append(From(source, item.name))
                case Mark():
                    self.tensors[item.key] = (source, shape)
                case Take():
                    if item.key not in self.tensors:  # named in a chain an error ended
                        return None
                    self.taken = True
                    source, shape = self.tensors[item.key]
                    tree.append(From(source, item.name))
                case Enter():
                    self._entered.append((item.name, len(built)))
                case Leave():
                    name, first = self._entered.pop()
                    self.uses.append(BlockUse(name, tuple(range(first, len(built))), len(self._entered)))
                case _:
                    assert_never(item)
        return source, shape, tuple(tree)

    def _outputs(self, item: Joined, source: int, shape: Shape, tree: list[Item]) -> bool:
        """``OUT``: each branch is walked from ``source`` and is one output; no layer is built.

        The branches that make layers go in the tree one after another, each after the first
        starting with a :class:`From` the tensor ``OUT`` took (unless it starts from a named tensor
        itself); one that makes none (``@p3``, ``ID() as p5``) only names an output.
        False when an error ends a branch.
        """
        self.merged = self.taken = True
        placed = False
        for index, (branch, name) in enumerate(zip(item.branches, item.names)):
            walked = self._chain(branch, source, shape)
            if walked is None:
                return False
            items = walked[2]
            if any(not isinstance(part, From) for part in items):
                if placed and not isinstance(items[0], From):
                    tree.append(From(source))
                tree.extend(items)
                placed = True
            self.outputs.append(Output(name, walked[0], item.spans[index]))
        return True

    def _block(self, layer: Layer, source: int, shape: Shape) -> tuple[int, Shape, tuple] | None:
        """A block code's use: the layers it stands for on this input, walked in its place and recorded
        as one use (:class:`BlockUse`); an error inside it is placed at the use, naming the block."""
        kind = layer.type
        if kind.input_rank is not None and len(shape) != kind.input_rank:
            self._rank_error(layer, shape)
            return None
        if None in shape[1:] and self._sizes_lost:  # after an earlier error: nothing to expand on
            return None
        if len(self.built) > MAX_LAYERS:  # block uses that write many layers each: stop before memory runs out
            if not self._too_many:
                self._too_many = True
                message = f"the spec expands to more than {MAX_LAYERS:,} layers, its blocks' layers counted"
                self._error(message, layer.span, None, "too-many-layers")
            return None
        self._block_uses += 1
        try:
            items = expand_use(layer, shape, self._block_uses)
        except BlockProblem as problem:
            self.expansions.append((layer, None))
            inside = f", inside the block {kind.code}" if problem.inside else ""
            self._error(f"{_head(layer)}{inside}: {problem.message}", layer.span, problem.hint, problem.code)
            return None
        self.expansions.append((layer, items))
        errors, first = len(self.diagnostics), len(self.built)
        self._entered.append((kind.code, first))
        self._in_block += 1
        walked = self._chain(items, source, shape)
        self._in_block -= 1
        self._entered.pop()
        self.uses.append(BlockUse(kind.code, tuple(range(first, len(self.built))), len(self._entered), code=True))
        if not self._in_block:
            for at in range(errors, len(self.diagnostics)):
                said = self.diagnostics[at]
                message = f"{_head(layer)}, inside the block {kind.code}: {said.message}"
                self.diagnostics[at] = replace(said, message=message)
        return walked

    def _merge(self, item: Joined, source: int, shape: Shape) -> tuple[int, Shape, Merge] | None:
        self.merged = True
        walked = [self._chain(branch, source, shape) for branch in item.branches]
        if any(branch is None for branch in walked):
            return None
        sources = tuple(branch[0] for branch in walked)
        shapes = tuple(branch[1] for branch in walked)
        layer = item.layer
        image = self._image if layer.type.sees_input else None
        seen = [image, *shapes] if image is not None else list(shapes)
        try:
            out = layer.type.output_shape(seen, layer.args)
        except ShapeProblem as problem:
            self._merge_error(item, shapes, problem)
            self._sizes_lost = True
            out = _joined_unknown_sizes(layer, seen)
            if out is None:  # what follows gets a shape nobody knows: no error after it would be its own
                return None
        else:
            warning = layer.type.warn(seen, layer.args)
            self._warn(layer, warning and f"{layer.code} {warning}", "merge-broadcast")
        weights = layer.type.weights(seen, layer.args)
        trainable = sum(weight.size for weight in weights if weight.trainable)
        frozen = sum(weight.size for weight in weights if not weight.trainable)
        known = None not in out[1:] and all(None not in shape[1:] for shape in seen)
        macs = (
            layer.type.macs(seen, out, layer.args) if known or not layer.type.sees_input else 0
        )  # its rule: ATT's None
        info = LayerInfo(layer, self._name(layer), shapes[0], out, trainable, frozen, macs, sources, shapes, image)
        self.built.append(info)
        return len(self.built) - 1, out, Merge(len(self.built) - 1, tuple(branch[2] for branch in walked))

    def _merge_error(self, item: Joined, shapes: tuple[Shape, ...], problem: ShapeProblem) -> None:
        """One error at the merge, naming every branch's shape, with carets under the first that disagrees."""
        code = item.layer.code
        culprit = _first_disagreeing(item, shapes)
        listed = " | ".join(format_shape(shape) for shape in shapes)
        message = f"{code} cannot join branches of shapes {listed}: {problem.message}"
        hint = problem.hint
        spans = item.spans
        span = spans[culprit] if culprit is not None and culprit < len(spans) else item.layer.span
        self._error(message, span, hint, problem.code or "merge-shapes")

    def _layer(self, layer: Layer, source: int, shape: Shape) -> LayerInfo | None:
        kind = layer.type
        if kind.input_rank is not None and len(shape) != kind.input_rank:
            self._rank_error(layer, shape)
            return None
        key = (id(layer.args), id(kind), shape, layer.head)
        known = self._measured.get(key)
        if known is None:
            known = self._measure(layer, shape, key)
        elif known[5]:
            self._warn(layer, known[5])
        out, shapes, trainable, frozen, macs, warning, _ = known
        info = LayerInfo(layer, self._name(layer), shape, out, trainable, frozen, macs, (source,), shapes)
        self.built.append(info)
        if warning and kind.pointwise_warning:
            said = next(d for d in reversed(self.diagnostics) if d.severity == "warning" and d.span is layer.span)
            self._pointwise.append((len(self.built) - 1, said))
        return info

    def _measure(self, layer: Layer, shape: Shape, key: tuple) -> _Measure:
        """Output shape, warning, weight counts and MACs of a layer on ``shape``, with its diagnostics.

        Kept for the next layer of the same binding on the same shape (a repeat's copies,
        a notebook's ``BN()`` after every convolution) unless it raised an error, which
        every layer must report at its own span.
        """
        kind, args = layer.type, layer.args
        errors = len(self.diagnostics)
        out = self._output_shape(layer, shape)
        warning = None if layer.head else kind.warn(shape, args)
        failed = len(self.diagnostics) > errors
        if warning:
            self._warn(layer, warning)
        trainable = frozen = 0
        for weight in kind.weights(shape, args):
            size = weight.size
            if size > MAX_WEIGHT_VALUES:
                failed = True
                self._error(
                    f"{_head(layer)}: its {weight.name} would hold {size:,} values; "
                    f"Keras cannot create a tensor of more than 2^63 - 1",
                    layer.span,
                    "shrink the input before this layer: pooling, strides, or GAP() instead of FL()",
                    "weights-too-large",
                )
            if weight.trainable:
                trainable += size
            else:
                frozen += size
        macs = kind.macs(shape, out, args) if None not in out[1:] and None not in shape[1:] else None
        known = (out, (shape,), trainable, frozen, macs, warning, args)
        if not failed:
            self._measured[key] = known
        return known

    def _output_shape(self, layer: Layer, shape: Shape) -> Shape:
        try:
            return layer.type.output_shape(shape, layer.args)
        except UnknownSize as problem:
            if not self._sizes_lost:
                self._error(f"{_head(layer)}: {problem.message}", layer.span, problem.hint, "unknown-size")
            self._sizes_lost = True
            return (*shape[:-1], None)
        except ShapeProblem as problem:
            code = problem.code or "bad-shape"
            fixes = _padding_fixes(layer) if code == "input-too-small" else ()
            self._error(f"{_head(layer)}: {problem.message}", layer.span, problem.hint, code, fixes)
            self._sizes_lost = True
            unknown = (shape[0], *[None] * (len(shape) - 2), shape[-1])
            try:
                return layer.type.output_shape(unknown, layer.args)
            except ShapeProblem:  # nothing is known of this layer's output
                return (shape[0], *[None] * (len(shape) - 1))

    def _rank_error(self, layer: Layer, shape: Shape) -> None:
        want = RANK_WORDS.get(layer.type.input_rank, f"a {layer.type.input_rank}-D input")
        hint = "convolutions and poolings go before FL(); GAP() also ends the spatial part" if len(shape) < 4 else None
        self._error(f"{_head(layer)} needs {want}, but gets {format_shape(shape)}", layer.span, hint, "wrong-rank")

    def _name(self, layer: Layer) -> str:
        stem = layer.type.keras_name_for(layer.args)
        count = self.names[stem]
        self.names[stem] += 1
        return stem if count == 0 else f"{stem}_{count}"

    def _warn(self, layer: Layer, message: str | None, code: str = "suspicious-layer") -> None:
        if message:
            self.diagnostics.append(Diagnostic(SHAPE, message, layer.span, severity="warning", code=code))

    def _error(self, message: str, span: Span | None, hint: str | None, code: str, fixes: tuple[Fix, ...] = ()) -> None:
        self.diagnostics.append(Diagnostic(SHAPE, message, span, hint=hint, code=code, fixes=fixes))


def _joined_unknown_sizes(layer: Layer, shapes: tuple[Shape, ...]) -> Shape | None:
    """What a merge that failed gives if only its branches' spatial sizes disagree: its rank and
    channels, sizes unknown. None when even that is unknown (ranks or channels disagree)."""
    unknown = [(shape[0], *[None] * (len(shape) - 2), shape[-1]) for shape in shapes]
    try:
        return layer.type.output_shape(unknown, layer.args)
    except ShapeProblem:
        return None


def _padding_fixes(layer: Layer) -> tuple[Fix, ...]:
    """``padding=same`` for a kernel or pool that overruns its input: where the layer takes it and does not write it."""
    param = next((param for param in layer.type.params if param.name == "padding"), None)
    takes = param is not None and "same" in getattr(param.kind, "options", ())
    if not takes or "padding" in layer.given or not layer.text.endswith(")"):
        return ()
    span, inside = layer.span, layer.text[:-1].rstrip()
    separator = "" if inside.endswith(("(", ",")) else ", "
    at = Span(span.end - 1, span.end - 1, span.end_line, span.end_column - 1, span.end_line, span.end_column - 1)
    return (Fix("Use padding=same", (Edit(at, f"{separator}padding=same"),)),)


def _first_disagreeing(item: Joined, shapes: tuple[Shape, ...]) -> int | None:
    """The first branch that cannot join the ones before it."""
    for index in range(1, len(shapes)):
        try:
            item.layer.type.output_shape(list(shapes[: index + 1]), item.layer.args)
        except ShapeProblem:
            return index
    return None


def keras_order(built: list[LayerInfo], tree: tuple[Item, ...]) -> tuple[list[LayerInfo], tuple[Item, ...]]:
    """Reorder layers as Keras's functional ``model.layers`` lists them; remap every index.

    Mirrors ``keras/src/ops/function.py`` ``map_graph``: a layer's depth is its
    longest path to the output; deeper layers come first, and layers of one depth
    in the order a depth-first walk from the output, inputs in order, first meets
    them. A straight stack keeps its order.
    """
    layers, tree, _ = _keras_order(built, tree)
    return layers, tree


def _keras_order(built: list[LayerInfo], tree: tuple[Item, ...], outputs: Sequence[int] = ()):
    """:func:`keras_order`, and each layer's new index by its old one.

    ``outputs``: the layers of a model of several outputs, in order (Keras walks from each in turn).
    """
    merges = any(isinstance(item, Merge) for item in tree)  # a nested merge sits in a top-level one
    if not built or not (merges or len(outputs) > 1):
        return built, tree, {i: i for i in range(len(built))}
    depth = [0] * len(built)
    seen_order: dict[int, int] = {}
    for output in outputs or (len(built) - 1,):
        _first_visits(output, built, seen_order)
    for index in reversed(range(len(built))):  # consumers come after their inputs in build order
        for source in built[index].inputs:
            if not is_input(source):
                depth[source] = max(depth[source], depth[index] + 1)
    order = sorted(range(len(built)), key=lambda i: (-depth[i], seen_order.get(i, len(built))))
    position = {old: new for new, old in enumerate(order)}
    layers = [_remapped(built[old], position) for old in order]
    return layers, _remap_tree(tree, position), position


def _first_visits(output: int, built: list[LayerInfo], seen: dict[int, int]) -> None:
    """Pre-order indices of a depth-first walk from the output, inputs in order (iterative)."""
    stack = [output]
    while stack:
        index = stack.pop()
        if is_input(index) or index in seen:
            continue
        seen[index] = len(seen)
        stack.extend(reversed(built[index].inputs))


def _remapped(info: LayerInfo, position: dict[int, int]) -> LayerInfo:
    inputs = tuple(source if is_input(source) else position[source] for source in info.inputs)
    return LayerInfo(
        info.layer, info.name, info.input_shape, info.output_shape, info.trainable, info.non_trainable, info.macs,
        inputs, info.input_shapes, info.image,
    )  # fmt: skip


def _remap_tree(items: tuple[Item, ...], position: dict[int, int]) -> tuple[Item, ...]:
    out: list[Item] = []
    for item in items:
        match item:
            case int():
                out.append(position[item])
            case Merge():
                branches = tuple(_remap_tree(branch, position) for branch in item.branches)
                out.append(Merge(position[item.layer], branches))
            case From():
                out.append(From(item.source if is_input(item.source) else position[item.source], item.name))
            case _:
                assert_never(item)
    return tuple(out)


def _head(layer: Layer) -> str:
    """How a message names the layer: its text in the spec, short."""
    text = " ".join(layer.text.split())
    return text if len(text) <= 40 else text[:37] + "..."
