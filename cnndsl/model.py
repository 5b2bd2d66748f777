"""What the passes produce: resolved layers and the checked model."""

from __future__ import annotations

from cnndsl.ast import Span, assert_never
from cnndsl.errors import Diagnostic
from cnndsl.layers import LayerType
from cnndsl.records import record
from cnndsl.shapes import Shape, format_shape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_INPUT_SHAPE = (28, 28, 1)
DEFAULT_CLASSES = 10
INPUT = -1
"""In :attr:`LayerInfo.inputs`, the model's input (not a layer); a model of several inputs numbers its
later ones on down: ``INPUT - 1`` is its second input, ``INPUT - 2`` its third (:func:`is_input`)."""


def is_input(source: int) -> bool:
    """Whether a source (an index in :attr:`LayerInfo.inputs`, a :class:`From`'s) is one of the model's inputs."""
    return source <= INPUT


def input_number(source: int) -> int:
    """Which of the model's inputs a source is, from 0 (the first, INPUT)."""
    return INPUT - source


@record
class Layer:
    """A layer with every argument resolved, and where it came from in the source."""

    type: LayerType
    args: Mapping[str, Any]
    span: Span | None
    text: str
    """The layer's text in the spec (``(head)`` for an appended classifier head)."""
    head: bool = False
    given: frozenset[str] = frozenset()
    """The argument names the spec wrote (the rest are defaults)."""
    path: str | None = None
    """Where a block code's use made the layer (``CONV``, ``C2F``, ...): its module path inside the
    outermost block code's call (``cv1.conv``, ``m.0.cv2.bn``; ``""`` for the block's own merges),
    as the reference implementation names its modules; None for a layer the spec wrote itself."""

    @property
    def code(self) -> str:
        return self.type.code


@record
class LayerInfo:
    """A layer with its inferred output shape and parameter counts."""

    layer: Layer
    name: str
    input_shape: Shape
    """The (first) input's shape; a merge has one per branch in ``input_shapes``."""
    output_shape: Shape
    trainable: int
    non_trainable: int
    macs: int | None
    """None where a size is unknown (an input of unknown size, ``IN(None, None, 3)``)."""
    inputs: tuple[int, ...] = ()
    """Indices into :attr:`CheckedModel.layers` of the layers feeding this one (INPUT: the model input)."""
    input_shapes: tuple[Shape, ...] = ()
    """Every input's shape, in branch order (one for a plain layer)."""
    image: Shape | None = None
    """The model input's shape, for a merge that sees it (a detection head's strides are its sizes over each level's)."""

    @property
    def argument_shape(self) -> Shape | tuple[Shape, ...]:
        """What a Keras argument derived from the input reads: the input's shape, or for a merge that sees the
        model's input, the model input's shape followed by each branch's."""
        return self.input_shape if self.image is None else (self.image, *self.input_shapes)

    @property
    def code(self) -> str:
        return self.layer.code

    @property
    def keras_class(self) -> str:
        """The Keras class built for this layer's arguments."""
        return self.layer.type.keras_class_for(self.layer.args)

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def activations(self) -> int | None:
        """Values in this layer's output for one example; None where a size is unknown."""
        size = 1
        for dim in self.output_shape[1:]:
            if dim is None:
                return None
            size *= dim
        return size


@record
class Merge:
    """A merge in the checked tree: the merge layer and its branches.

    Each branch is a tuple of items (layer indices and nested merges); an ``ID()``
    branch is the empty tuple.
    """

    layer: int
    branches: tuple[tuple[Item, ...], ...]


@record
class From:
    """``@name`` in the checked tree: the chain goes on from layer ``source``'s output.

    ``source`` is an index into ``CheckedModel.layers``, or INPUT for the model's input.
    The rest of the chain (or of a merge's branch) takes that tensor instead of the
    output of the item before it.
    """

    source: int
    name: str | None = None
    """The name written at ``@name`` (pictures label the restart with it); None in a tree
    read from elsewhere, which names no tensor."""


Item = int | Merge | From
"""An element of the checked tree: a layer's index in ``CheckedModel.layers``, a merge, or a restart from a tensor."""


@record
class BlockUse:
    """One use of a named block: the layers it made (indices into ``CheckedModel.layers``),
    and how many block uses it sits inside (0: written in the model itself)."""

    name: str
    layers: tuple[int, ...]
    depth: int
    code: bool = False
    """A use of a block code (``CONV``, ``C2F``, ...), drawn as one box; else a named block's use."""


@record
class Output:
    """One of the outputs of a model that ends in ``OUT(...)``: its name, and the layer whose output it is."""

    name: str
    source: int
    """An index into ``CheckedModel.layers`` (INPUT: the model's input itself)."""
    span: Span | None = None
    """The output's branch in the text."""


@record
class Input:
    """One of the inputs of a model of several (``IN(...) as name`` written after the first): its name and shape."""

    name: str
    shape: Shape
    """With the batch axis: ``(None, height, width, channels)``."""
    span: Span | None = None
    """Its ``IN(...)`` in the text."""


def tensor_name(source: int) -> str:
    """The name written for a layer's output that a chain goes on from (``as t3``, ``@t3``), or an input's."""
    if is_input(source):
        return "input" if source == INPUT else f"input{input_number(source) + 1}"
    return f"t{source}"


def taken(items: tuple[Item, ...], current: int = INPUT) -> set[int]:
    """The layers (INPUT: the input) whose output a :class:`From` in the tree goes back to.

    A :class:`From` to the tensor the chain holds anyway (``CN(8) as x -> @x``) changes
    nothing, and is not counted.
    """
    found: set[int] = set()
    for item in items:
        match item:
            case int():
                current = item
            case Merge():
                for branch in item.branches:
                    found |= taken(branch, current)
                current = item.layer
            case From():
                if item.source != current:
                    found.add(item.source)
                current = item.source
            case _:
                assert_never(item)
    return found


@record
class CheckedModel:
    """A spec that passed every check: its layers, shapes and totals.

    ``layers`` lists every layer (merges included; ``ID()`` is no layer) in the
    order Keras's own ``model.layers`` uses, less the input layer; each layer's
    ``inputs`` say what feeds it. ``tree`` is the same model as the spec wrote it:
    a chain of items, merges holding their branches, and :class:`From` where the
    spec went on from a named tensor (``@name``).
    """

    layers: tuple[LayerInfo, ...]
    input_shape: Shape
    num_classes: int
    source: str
    warnings: tuple[Diagnostic, ...] = ()
    tree: tuple[Item, ...] | None = None
    """The chain of items; None means a straight stack (``range(len(layers))``)."""
    blocks: tuple[BlockUse, ...] = ()
    """Every use of a named block, inner uses before the use they sit in, where the check was
    asked to record them (``check_chain(..., marked=True)``, as pictures do); and every use of a
    block code (``C2F(64)``, ``BlockUse.code``), always."""
    task: Any = None
    """What the model is for: the :class:`cnndsl.tasks.Task` it was checked for (the checker always gives it),
    which owns its head rule, labels, loss and report lines; ``task.name`` is one of :data:`cnndsl.tasks.TASKS`."""
    outputs: tuple[Output, ...] = ()
    """The named outputs of a spec ending in ``OUT(...)``, in branch order; empty for a model of one output
    (the last layer's). The tree holds the branches that make layers one after the other, each after
    the first going on (a :class:`From`) from the tensor ``OUT`` took; ``OUT`` itself is no item."""
    inputs: tuple[Input, ...] = ()
    """The named inputs of a spec that writes several (``IN(...) as rgb -> ... -> IN(...) as ir -> ...``), in
    the order written; empty for a model of one input (:attr:`input_shape`). The first is :data:`INPUT` in
    :attr:`LayerInfo.inputs` and the tree, the later ones ``INPUT - 1``, ``INPUT - 2``, ... (:func:`is_input`);
    the tree goes on from each later one with a :class:`From`."""
    scale: Any = None
    """The scale of its file's family it was checked at (:class:`cnndsl.passes.scale.Chosen`: the scale, the
    family's names, the numbers it changed); None for a spec without scales."""

    @property
    def input_names(self) -> tuple[str, ...]:
        """Each input's name; a model of one input has none (``()``)."""
        return tuple(given.name for given in self.inputs)

    @property
    def input_shapes(self) -> tuple[Shape, ...]:
        """Each input's shape (with the batch axis), in order; the one input's for a model of one."""
        return tuple(given.shape for given in self.inputs) or (self.input_shape,)

    def source_shape(self, source: int) -> Shape:
        """The shape of a source: a layer's output, or an input."""
        return self.input_shapes[input_number(source)] if is_input(source) else self.layers[source].output_shape

    @property
    def output_sources(self) -> tuple[int, ...]:
        """The layer (INPUT: the input) of each output, in order: the last layer's for a model of one output."""
        if self.outputs:
            return tuple(output.source for output in self.outputs)
        return (len(self.layers) - 1 if self.layers else INPUT,)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Each output's name; a model of one output has none (``()``)."""
        return tuple(output.name for output in self.outputs)

    @property
    def outputs_text(self) -> str:
        """``output (None, 10)``, or for several outputs ``outputs p3 (None, 14, 14, 8), p4 (None, 7, 7, 16)``."""
        if not self.outputs:
            return f"output {format_shape(self.output_shape)}"
        listed = ", ".join(f"{o.name} {format_shape(s)}" for o, s in zip(self.outputs, self.output_shapes))
        return f"outputs {listed}"

    @property
    def inputs_text(self) -> str:
        """``inputs rgb (None, 64, 64, 3), ir (None, 64, 64, 1), `` for a model of several inputs; else nothing."""
        if not self.inputs:
            return ""
        return "inputs " + ", ".join(f"{given.name} {format_shape(given.shape)}" for given in self.inputs) + ", "

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        """Each output's shape, in order."""
        return tuple(self.source_shape(s) for s in self.output_sources)

    @property
    def items(self) -> tuple[Item, ...]:
        return self.tree if self.tree is not None else tuple(range(len(self.layers)))

    @property
    def is_graph(self) -> bool:
        """Whether the model has a merge or several outputs (Keras builds it with the functional API)."""
        return bool(self.outputs or self.inputs) or any(isinstance(item, Merge) for item in self.items)

    @property
    def output_shape(self) -> Shape:
        """The output's shape; the first output's for a model of several (see :attr:`output_shapes`)."""
        return self.output_shapes[0]

    @property
    def total_params(self) -> int:
        return sum(info.params for info in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(info.trainable for info in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(info.non_trainable for info in self.layers)

    @property
    def total_macs(self) -> int | None:
        """Multiply-accumulates of one forward pass; None where the input's size is unknown."""
        macs = [info.macs for info in self.layers]
        return None if None in macs else sum(macs)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict | None:
        """In a notebook: the summary table beside the picture (drawn by :mod:`cnndsl.notebook`)."""
        from cnndsl import hooks

        return hooks.shown("model", self)
