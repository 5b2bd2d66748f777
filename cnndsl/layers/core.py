"""What every entry of the layer table is made of: argument kinds, parameters, weights, the
Keras and PyTorch declarations, and the entry itself (:class:`LayerType`).

The entries live in the family modules beside this one (convolutions, pooling, ...);
nothing here imports a framework.
"""

from __future__ import annotations

import functools
import math

from cnndsl import ast
from cnndsl.errors import Edit, Fix
from cnndsl.layers.pytorch import Call
from cnndsl.records import record
from cnndsl.shapes import (
    Shape,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

MAX_UNITS = 1_000_000
"""Largest filter or unit count accepted (a real layer is far below it)."""
MAX_WINDOW = 4096
"""Largest kernel, pool, stride or dilation accepted."""
MAX_INPUT_SIZE = 65536
"""Largest input height, width or channel count accepted."""

ACTIVATIONS = (
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "mish",
    "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "softmax", "log_softmax",
    "softplus", "softsign", "tanh", "exponential", "linear", "hard_tanh", "squareplus",
    "log_sigmoid", "sparse_plus", "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_sigmoid",
    "sparsemax",
)  # fmt: skip
"""Every activation Keras 3 knows by name, but ``glu`` (it halves the last axis) and
``threshold`` (it needs two more arguments)."""
ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
"""Names Keras 3's activations module gives to the same function as another name: a layer
built with either is the same layer, and the architecture hash reads each as the name
Keras defines the function by (``silu``, ``hard_silu``). A test holds this table to Keras's
module."""
PADDINGS = ("valid", "same")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")
MAX_WEIGHT_VALUES = 2**63 - 1
"""Most values one weight tensor may hold: Keras refuses to create a larger one."""


class ArgProblem(Exception):
    """An argument value is not acceptable; carries the node to point at, the diagnostic's code,
    and the word to write instead when one is close (a did-you-mean fix)."""

    def __init__(self, message: str, node: ast.Value | None = None, hint: str | None = None, code: str = "bad-value",
                 replacement: str | None = None):  # fmt: skip
        super().__init__(message)
        self.message, self.node, self.hint = message, node, hint
        self.code, self.replacement = code, replacement


# --- argument kinds: ast value -> Python value --------------------------------------
# Each kind is a small object: called with a written value and the label messages use, it
# returns the Python value; its bounds and options are attributes, and ``accepts`` says in
# words what it takes (the layer reference is written from it).


def _whole(value: ast.Value, what: str, lo: int, hi: float) -> int:
    if not isinstance(value, ast.Number):
        raise ArgProblem(f"{what} must be a whole number, not {_show(value)}", value)
    if isinstance(value.value, float) and not math.isinf(value.value):
        raise ArgProblem(f"{what} must be a whole number, not {value.text}", value)
    if not lo <= value.value <= hi:
        bound = f"at least {lo}" if value.value < lo else f"at most {hi:,}"
        raise ArgProblem(f"{what} must be {bound}, not {_short(value.text)}", value)
    return int(value.value)


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@record
class Count:
    """A whole number in [lo, hi] (``Integer``: negative ones included)."""

    lo: int = 1
    hi: int = MAX_UNITS

    def __call__(self, value: ast.Value, what: str) -> int:
        return _whole(value, what, self.lo, self.hi)

    def accepts(self) -> str:
        return f"a whole number from {_number(self.lo)} to {_number(self.hi)}"


def count(lo: int = 1, hi: int = MAX_UNITS) -> Count:
    """A whole number in [lo, hi]."""
    return Count(lo, hi)


def integer(lo: int, hi: int) -> Count:
    """A whole number in [lo, hi], negative ones included."""
    return Count(lo, hi)


@record
class Size:
    """``k`` (meaning k repeated n times) or a tuple of n whole numbers in [lo, hi]."""

    n: int
    lo: int = 1
    hi: int = MAX_WINDOW

    def __call__(self, value: ast.Value, what: str) -> tuple[int, ...]:
        if isinstance(value, ast.Tuple):
            if len(value.items) != self.n:
                raise ArgProblem(f"{what} needs {self.n} values, not {len(value.items)}", value)
            return tuple(_whole(item, what, self.lo, self.hi) for item in value.items)
        return (_whole(value, what, self.lo, self.hi),) * self.n

    def accepts(self) -> str:
        each = f"whole numbers from {_number(self.lo)} to {_number(self.hi)}"
        return f"`k` (k x k) or a tuple of {self.n} {each}" if self.n == 2 else each


def size(n: int, lo: int = 1, hi: int = MAX_WINDOW) -> Size:
    """``k`` (meaning k repeated n times) or a tuple of n whole numbers."""
    return Size(n, lo, hi)


@record
class Real:
    """A number in [lo, hi] (or (lo, hi] when ``low_open``)."""

    lo: float
    hi: float
    low_open: bool = False

    def __call__(self, value: ast.Value, what: str) -> float:
        if not isinstance(value, ast.Number):
            raise ArgProblem(f"{what} must be a number, not {_show(value)}", value)
        number = value.value
        if math.isnan(number) or number > self.hi or number < self.lo or (self.low_open and number == self.lo):
            bound = f"above {self.lo}" if self.low_open else f"at least {self.lo}"
            raise ArgProblem(f"{what} must be {bound} and at most {self.hi}, not {_short(value.text)}", value)
        return float(number)

    def accepts(self) -> str:
        if self.low_open:
            return f"a number above {_number(self.lo)}, at most {_number(self.hi)}"
        return f"a number from {_number(self.lo)} to {_number(self.hi)}"


def real(lo: float, hi: float, low_open: bool = False) -> Real:
    """A number in [lo, hi] (or (lo, hi] when ``low_open``)."""
    return Real(lo, hi, low_open)


@record
class Reals:
    """A number in [lo, hi], or a tuple of them (one per channel)."""

    lo: float
    hi: float

    def __call__(self, value: ast.Value, what: str) -> float | tuple[float, ...]:
        one = Real(self.lo, self.hi)
        if isinstance(value, ast.Tuple):
            return tuple(one(item, what) for item in value.items)
        return one(value, what)

    def accepts(self) -> str:
        return Real(self.lo, self.hi).accepts() + ", or a tuple of them (one per channel)"


def reals(lo: float, hi: float) -> Reals:
    """A number in [lo, hi], or a tuple of them (one per channel)."""
    return Reals(lo, hi)


@record
class Fraction:
    """A number in [0, 1)."""

    def __call__(self, value: ast.Value, what: str) -> float:
        if not isinstance(value, ast.Number):
            raise ArgProblem(f"{what} must be a number, not {_show(value)}", value)
        if not 0 <= value.value < 1:
            raise ArgProblem(f"{what} must be at least 0 and below 1, not {_short(value.text)}", value)
        return float(value.value)

    def accepts(self) -> str:
        return "a number in [0, 1)"


fraction = Fraction()


@record
class Choice:
    """One bare word out of ``options`` (the words an editor offers)."""

    options: tuple[str, ...]

    def __call__(self, value: ast.Value, what: str) -> str:
        if not isinstance(value, ast.Word) or value.name not in self.options:
            close = suggest(value.name, self.options) if isinstance(value, ast.Word) else None
            hint = f"did you mean {close}?" if close else "one of: " + ", ".join(self.options)
            raise ArgProblem(f"unknown {what} {_show(value)}", value, hint, "unknown-word", close)
        return value.name

    def accepts(self) -> str:
        if self.options == ACTIVATIONS:
            return "an activation's name ([the list](#activations))"
        return ", ".join(f"`{word}`" for word in self.options)


def choice(options: tuple[str, ...]) -> Choice:
    """One bare word out of ``options``."""
    return Choice(options)


@record
class Flag:
    """The bare word ``true`` or ``false``."""

    options: tuple[str, ...] = ("true", "false")

    def __call__(self, value: ast.Value, what: str) -> bool:
        if isinstance(value, ast.Word) and value.name in ("true", "false"):
            return value.name == "true"
        raise ArgProblem(
            f"{what} must be true or false, not {_show(value)}", value, "booleans are the bare words true and false"
        )

    def accepts(self) -> str:
        return "`true`, `false`"


flag = Flag()


@record
class Amounts:
    """``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))`` -> ``((top, bottom), (left, right))``.

    As in Keras, each of the two entries may be a number (both sides) or a pair; ``letter``
    names the amount in messages (``p`` for ZP's padding, ``c`` for CR's cropping).
    """

    letter: str = "p"

    def __call__(self, value: ast.Value, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
        if not isinstance(value, ast.Tuple):
            value = ast.Tuple((value, value), value.span)
        if len(value.items) != 2:
            raise ArgProblem(f"{what} needs {self._forms()}", value)
        return tuple(Size(2, 0, MAX_WINDOW)(item, what) for item in value.items)  # type: ignore[return-value]

    def _forms(self) -> str:
        c = self.letter
        return f"{c}, ({c}h, {c}w) or ((top, bottom), (left, right))"

    def accepts(self) -> str:
        c = self.letter
        return f"`{c}`, `({c}h, {c}w)` or `((top, bottom), (left, right))`"


padding_amounts = Amounts("p")


@record
class TargetShape:
    """RS's target: whole numbers from 1 (or one -1, the size left over), at most three of them."""

    def __call__(self, value: ast.Value, what: str) -> tuple[int, ...]:
        items = value.items if isinstance(value, ast.Tuple) else (value,)
        if len(items) > 3:
            raise ArgProblem(f"{what} has {len(items)} sizes; the notation reshapes to at most 3", value)
        sizes = tuple(_whole(item, what, -1, MAX_INPUT_SIZE**2) for item in items)
        for item, size in zip(items, sizes):
            if size == 0:
                raise ArgProblem(f"{what} sizes are whole numbers from 1, or -1 for the size left over, not 0", item)
        if sizes.count(-1) > 1:
            raise ArgProblem(f"{what} may leave one size to -1, not {sizes.count(-1)}", value, "give every other size")
        return sizes

    def accepts(self) -> str:
        return "whole numbers from 1 (or one -1, the size left over), at most three of them"


target_shape = TargetShape()


@record
class Maybe:
    """``kind``, or the bare word ``None`` (Keras's None: ZOOM's width follows its height)."""

    kind: Any

    def __call__(self, value: ast.Value, what: str) -> Any:
        if isinstance(value, ast.Word) and value.name == "None":
            return None
        return self.kind(value, what)

    def accepts(self) -> str:
        return "`None`, or " + self.kind.accepts()


@record
class InputDims:
    """``IN(h, w, c)``; height and width may be ``None`` (any size), as Keras's ``Input((None, None, 3))``."""

    def __call__(self, value: ast.Value, what: str) -> tuple[int | None, ...]:
        if not isinstance(value, ast.Tuple):
            raise ArgProblem("IN needs three sizes: IN(height, width, channels), height and width may be None", value)
        if len(value.items) != 3:
            raise ArgProblem(f"{what} needs 3 values, not {len(value.items)}", value, "IN(height, width, channels)")
        *spatial, channels = value.items
        sizes = [
            None if isinstance(v, ast.Word) and v.name == "None" else _whole(v, what, 1, MAX_INPUT_SIZE)
            for v in spatial
        ]
        return (*sizes, _whole(channels, what, 1, MAX_INPUT_SIZE))

    def accepts(self) -> str:
        return "`IN(h, w, c)`; height and width may be `None` (any size), as Keras's `Input((None, None, 3))`"


def _show(value: ast.Value) -> str:
    if isinstance(value, ast.Number):
        return _short(value.text)
    if isinstance(value, ast.Word):
        return repr(value.name)
    return "a tuple"


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:10] + "..." + text[-6:] + f" ({len(text)} characters)"


def suggest(word: str, options) -> str | None:
    """The closest option to a misspelt word, ignoring case, or None."""
    by_upper = {option.upper(): option for option in options}
    if word.upper() in by_upper:
        return by_upper[word.upper()]
    import difflib  # only for a misspelling: not loaded when a spec checks

    close = difflib.get_close_matches(word.upper(), list(by_upper), n=1, cutoff=0.6)
    return by_upper[close[0]] if close else None


# --- the table ----------------------------------------------------------------------


@record
class BlockText:
    """What one use of a block code stands for: a chain in the notation, and the path of the calls
    and merges in it: ``(offset, path)`` for each that starts at ``offset`` in the text and has a
    path (``cv1``, ``m.0``); the others have the block's own path (``""``).

    A path names the module of the reference implementation that the layer computes a part of
    (Ultralytics' ``cv1.conv`` for a Conv's convolution), so that weights can be ported by name.
    """

    text: str
    paths: tuple[tuple[int, str], ...] = ()


_MARK, _END = "\x01", "\x02"


def at(path: str, call: str) -> str:
    """``call`` marked as the module ``path`` of a block's text (see :func:`block_text`)."""
    return f"{_MARK}{path}{_END}{call}"


def block_text(marked: str) -> BlockText:
    """A block's text whose calls were marked with :func:`at`: the text, and each marked call's offset and path."""
    text, paths, rest = [], [], marked
    while _MARK in rest:
        before, _, rest = rest.partition(_MARK)
        path, _, rest = rest.partition(_END)
        text.append(before)
        paths.append((sum(map(len, text)), path))
    text.append(rest)
    return BlockText("".join(text), tuple(paths))


REQUIRED: Any = object()


@record
class Param:
    """One argument of a layer code."""

    name: str
    kind: Callable[[ast.Value, str], Any]
    default: Any = REQUIRED
    inherit: bool = False
    """An omitted value repeats the nearest preceding layer of the same code."""
    shown: str | None = None
    """How the default reads in a signature, when not the value itself."""
    same_as: str | None = None
    """An omitted value takes this other parameter's value (MP's strides: its pool)."""
    literal: bool = False
    """Written exactly as it is (RS's shape ``(1, 1, 8)`` is not the shorthand ``1``)."""
    quiet: bool = False
    """Left out of the canonical form at its default: an argument added to a code later, so that
    every spec written before it keeps its architecture hash."""
    scaled: str | None = None
    """``"width"`` or ``"depth"``: how a family's scale changes it."""


@record
class Weight:
    """One weight tensor of a layer, named and shaped as Keras creates it."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        """Values in the tensor; 0 while a size is unknown (after an earlier error)."""
        return 0 if None in self.shape else math.prod(self.shape)


@record
class KerasArg:
    """How one argument of a code reaches a Keras constructor, and comes back from a Keras config.

    ``to_keras(value, input_shape)`` and ``from_keras(config_value)`` convert where the two
    spell a value differently; ``default`` is Keras's own (an emitted call leaves it out, and a
    config without the key reads as it). ``name=None`` is a Keras argument the notation
    derives from the input alone (LayerScale's ``projection_dim``): built, never read.
    """

    name: str | None
    keras: str
    default: Any = REQUIRED
    positional: bool = False
    to_keras: Callable[[Any, Shape], Any] | None = None
    from_keras: Callable[[Any], Any] | None = None


@record
class KerasClass:
    """One Keras class a code is built as: its name, its arguments, and when it applies.

    ``custom`` classes live in :mod:`cnndsl.backends.keras_layers` (saved as ``cnndsl>Name``);
    ``reads`` names other Keras classes that read back as this form (InceptionResNetV2's
    ``CustomScaleLayer``); ``when`` picks the form for a layer's arguments (the first that
    holds is built); ``refuse`` names what in a Keras config the notation cannot write;
    ``fixed`` gives the notation's arguments the class itself means (Keras's ``LeakyReLU`` is
    ``ACT(leaky_relu, ...)``), which no config key holds.
    """

    name: str
    args: tuple[KerasArg, ...] = ()
    custom: bool = False
    reads: tuple[str, ...] = ()
    when: Callable[[Mapping], bool] = lambda args: True
    refuse: Callable[[Mapping], str | None] = lambda config: None
    fixed: tuple[tuple[str, Any], ...] = ()
    combine: Callable[[dict], dict] | None = None
    """The notation's arguments from those the ``args`` read, where one depends on several keys
    (Keras's ``ReLU(negative_slope=s)`` is ``ACT(leaky_relu, slope=s)``); ValueError refuses."""


@record
class Torch:
    """How PyTorch builds, ports and reads back one code: data and functions, no torch import.

    ``build(info)`` gives the :class:`~cnndsl.layers.pytorch.Call` s computing what the Keras
    layer computes (``info``: the checked layer, its resolved arguments and shapes), or raises
    :class:`~cnndsl.layers.pytorch.Unsupported`; ``refuse`` says instead why PyTorch never
    builds the code. ``ports`` maps each Keras weight to ``(holder, tensor, layout)``: the
    index among the built modules whose class (or a base class) is named in ``holders``, the
    tensor's attribute there, and how Keras's layout becomes PyTorch's. ``modules``,
    ``functions`` and ``methods`` name what reads back as this code (qualified class name,
    qualified function name, tensor method -> the reader's rule); ``read_by`` says which other
    rule reads it, ``unread`` why nothing in PyTorch reads as it.
    """

    build: Callable[[Any], tuple] | None = None
    refuse: str | None = None
    ports: Mapping[str, tuple[int, str, Callable[[Any], Any] | None]] | None = None
    holders: tuple[str, ...] = ()
    modules: tuple[tuple[str, Callable], ...] = ()
    functions: tuple[tuple[str, Callable], ...] = ()
    methods: tuple[tuple[str, Callable], ...] = ()
    read_by: str | None = None
    unread: str | None = None
    constants: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    """The values a module's own defaults give that the code's defaults do not, by module:
    ``(("torch.nn.LeakyReLU", (("slope", 0.01),)),)`` (the hint for the class's name says them)."""

    @property
    def reads(self) -> tuple[str, ...]:
        """What reads back as the code, in words: modules and functions by name, methods as ``Tensor.name``."""
        return (*(name for name, _ in self.modules), *(name for name, _ in self.functions),
                *(f"Tensor.{name}" for name, _ in self.methods))  # fmt: skip


def _no_weights(shape: Shape, args: Mapping) -> tuple[Weight, ...]:
    return ()


def _no_macs(in_shape: Shape, out_shape: Shape, args: Mapping) -> int:
    return 0


def _same_shape(shape: Shape, args: Mapping) -> Shape:
    return shape


@record
class LayerType:
    """Everything cnndsl knows about one layer code."""

    code: str
    keras_class: str
    summary: str
    params: tuple[Param, ...] = ()
    output_shape: Callable[[Shape, Mapping], Shape] = _same_shape
    weights: Callable[[Shape, Mapping], tuple[Weight, ...]] = _no_weights
    """The weight tensors for an input shape, in Keras's order (its ``layer.weights``)."""
    macs: Callable[[Shape, Shape, Mapping], int] = _no_macs
    input_rank: int | None = None
    """The rank the input must have (with batch axis), when the layer needs one."""
    collect: str | None = None
    """A parameter that gathers every positional argument (``MP(2,2)`` is a 2x2 pool)."""
    is_input: bool = False
    """A declaration of the input shape, not a layer; allowed only first."""
    is_identity: bool = False
    """``ID()``: passes its input on; no layer."""
    is_output: bool = False
    """``OUT(A | B)``: the model's outputs, one per branch; no layer, and last in the model's chain."""
    merge: bool = False
    """A merge of branches (``ADD(A | B)``): ``output_shape`` takes the list of branch shapes."""
    min_branches: int = 2
    """The fewest branches a merge takes (a detection head may have one level)."""
    ends_model: bool = False
    """Only the model's output (a detection head: PyTorch gives its detections in Ultralytics' layout)."""
    sees_input: bool = False
    """A merge whose shape rule, weights and MACs also read the model input's shape, given first among the
    branches' (a detection head: its strides are the input's size over each level's)."""
    kind: str = "other"
    """What pictures colour it as: convolution, pooling, normalization, dense, merge, reshape, other."""
    warn: Callable[[Shape, Mapping], str | None] = lambda shape, args: None
    """A warning about a legal but likely unintended input (a merge gets every branch's shape)."""
    pointwise_warning: bool = False
    """Its warning is withdrawn when its output later meets a spatial layer: ``DN`` on a 4-D tensor
    before more convolutions is a pointwise convolution (ConvNeXt's), not a forgotten ``FL()``."""
    check_args: Callable[[Mapping], str | tuple[str, str] | None] = lambda args: None
    """A problem with a combination of arguments (a message, or a message and a hint), or None."""
    keras: tuple[KerasClass, ...] = ()
    """How Keras builds it (the first form whose ``when`` holds): the Keras builder, the
    Keras-source emitter and the Keras reader all derive from this; empty for IN and ID."""
    torch: Torch = Torch()
    """How PyTorch builds it, ports its weights and reads it back (see :class:`Torch`)."""
    example: Mapping | None = None
    """The fewest arguments that make a layer of it (its required ones): tests and listings draw it."""
    note: str = ""
    """What the notation's page adds to the signature in its table of codes."""
    block: Callable[[Shape, Mapping], BlockText] | None = None
    """A code defined as a block of other codes: for the input shape and the resolved arguments, the
    chain of codes it stands for (:class:`BlockText`). The checker expands each use where the input
    shape is known; the checked model holds the layers of the chain, never the block's code."""

    @functools.cached_property
    def param_names(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params)

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """How messages name each parameter: ``{"kernel": "CN kernel", ...}``."""
        return {param.name: f"{self.code} {param.name}" for param in self.params}

    @functools.cached_property
    def inherited_params(self) -> tuple[str, ...]:
        """The parameters an omitted value repeats from the nearest layer of this code."""
        return tuple(param.name for param in self.params if param.inherit)

    @functools.cached_property
    def inherited_keys(self) -> tuple[tuple[str, str], ...]:
        """``(code, name)`` of each inherited parameter: how the resolver keys what a layer passes on."""
        return tuple((self.code, name) for name in self.inherited_params)

    @functools.cached_property
    def keras_name(self) -> str:
        """Keras's default layer name stem (``Conv2D`` -> ``conv2d``), computed once per code."""
        return snake_case(self.keras_class)

    def keras_form(self, args: Mapping) -> KerasClass:
        """The Keras class this layer is built as, for its resolved arguments."""
        return next(form for form in self.keras if form.when(args))

    def keras_class_for(self, args: Mapping) -> str:
        """The name of the Keras class built for these arguments (``ADD(..., scale=0.2)``: ScaledAdd)."""
        return self.keras_form(args).name if len(self.keras) > 1 else self.keras_class

    def keras_name_for(self, args: Mapping) -> str:
        """Keras's name stem for the class built for these arguments."""
        return snake_case(self.keras_form(args).name) if len(self.keras) > 1 else self.keras_name

    def canonical(self, name: str, value: Any, rank: int) -> Any:
        """The one spelling of an argument's value among those Keras builds as the same layer
        (for a layer whose input has ``rank`` axes, batch included): an activation's alias is
        the activation (``swish`` is ``silu``), and an axis counted from the front is the same
        axis counted from the back (``axis=3`` of a 4-D input is ``axis=-1``)."""
        kind = next((param.kind for param in self.params if param.name == name), None)
        if isinstance(kind, Choice) and kind.options == ACTIVATIONS:
            return ACTIVATION_ALIASES.get(value, value)
        if name == "axis" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < rank:
            return value - rank
        return value

    def signature(self, quiet: bool = True) -> str:
        """``CN(filters, kernel, strides=1, ...)`` for messages and docs; ``quiet=False`` leaves out the
        arguments the canonical form leaves out at their default."""
        parts = [
            p.name if p.default is REQUIRED else f"{p.name}={p.shown or _default_text(p.default)}"
            for p in self.params
            if quiet or not p.quiet
        ]
        return f"{self.code}({', '.join(parts)})"


def snake_case(name: str) -> str:
    """Keras's name stem of a class: ``Conv2D`` -> ``conv2d``, ``LayerScale`` -> ``layer_scale``."""
    import re

    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _default_text(default: Any) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, tuple) and len(set(default)) == 1:
        return str(default[0])
    return str(default).replace(" ", "")


def _prod(values) -> int:
    """The product of the known sizes (None is unknown)."""
    return math.prod(values) if None not in values else math.prod(v for v in values if v is not None)


# --- how Keras spells each code (the declarations the Keras builder, emitter and reader share) --------


def _pair(value) -> tuple:
    """Keras's ``3`` or ``[3, 3]`` as the notation's ``(3, 3)``."""
    return tuple(value) if isinstance(value, list | tuple) else (value, value)


def _nested(value):
    """A config's lists as tuples, all the way down."""
    return tuple(_nested(item) for item in value) if isinstance(value, list | tuple) else value


def _read_activation(value) -> str:
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"the activation {value!r} has no name in the notation")
    return value


def _read_relu(value) -> str:
    if value is None:
        return "relu"
    if value == 6:
        return "relu6"
    raise ValueError(f"max_value={value}: only ReLU() and ReLU(6) have notation (relu, relu6)")


def _read_number(value) -> float:
    if isinstance(value, list | tuple) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} per channel has no notation; the notation scales every channel alike")
    return float(value)


def _read_values(value):
    if value is None:
        return None
    values = tuple(float(v) for v in (value if isinstance(value, list | tuple) else [value]))
    return values[0] if len(values) == 1 else values


def _read_channel_axis(value) -> int:
    axis = value[0] if isinstance(value, list | tuple) and len(value) == 1 else value
    if axis not in (-1, 3):
        raise ValueError(f"axis={value}; the notation normalises the channel axis")
    return -1


def _channels_last(config: Mapping) -> str | None:
    if config.get("data_format") not in (None, "channels_last"):
        return f"data_format {config['data_format']!r}; the notation is channels-last"
    return None


def _unset(*keys_and_values) -> Callable[[Mapping], str | None]:
    """Refuse a config whose ``key`` is not ``value`` (a Keras setting the notation cannot write)."""

    def refuse(config: Mapping) -> str | None:
        for key, value in zip(keys_and_values[::2], keys_and_values[1::2]):
            if config.get(key, value) != value:
                return f"{key}={config[key]!r} has no notation"
        return _channels_last(config)

    return refuse


def _never(args: Mapping) -> bool:
    return False


_K_ACTIVATION = KerasArg("activation", "activation", "linear", from_keras=_read_activation)
_K_BIAS = KerasArg("bias", "use_bias", True)
_K_KERNEL = KerasArg("kernel", "kernel_size", positional=True, from_keras=_pair)
_K_WINDOW = (
    KerasArg("strides", "strides", (1, 1), from_keras=_pair),
    KerasArg("padding", "padding", "valid"),
)
_K_DILATION = KerasArg("dilation", "dilation_rate", (1, 1), from_keras=_pair)
_K_MULTIPLIER = KerasArg("depth_multiplier", "depth_multiplier", 1)
_K_NORM = tuple(KerasArg(name, name, default) for name, default in
                (("epsilon", 0.001), ("center", True), ("scale", True)))  # fmt: skip


def _axis_refusal(config: Mapping, key: str) -> str | None:
    try:
        _read_channel_axis(config.get(key, -1))
    except ValueError as problem:
        return str(problem)
    return None


def _bias(units: int, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("bias", (units,)),) if a.get("bias", True) else ()


def _times(size: int | None, factor: int) -> int | None:
    """A size times a factor; unknown (None, after an earlier error) stays unknown."""
    return None if size is None else size * factor


def _fmt(shape: Shape) -> str:
    from cnndsl.shapes import format_shape

    return format_shape(shape)


def example_text(entry: LayerType) -> str:
    """The entry's example as the notation writes it: ``CN(filters=2)``, ``RS(-1)``."""
    parts = []
    for name, value in (entry.example or {}).items():
        if name == entry.collect:  # every positional number: IN(8, 8, 3), MP(2, 2), RS(-1)
            parts.append(", ".join(map(_value_text, value)))
        else:
            parts.append(f"{name}={_value_text(value)}")
    return f"{entry.code}({', '.join(parts)})"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return f"({', '.join(map(_value_text, value))})"
    return str(value)


# --- a Keras or PyTorch class name where a code belongs -------------------------------------
# The table is derived from the entries' declarations: each Keras class an entry is built as
# (or reads back from), each PyTorch module its reader reads, and the activations by name.


@record
class Borrowed:
    """A class name of another framework and the code that means it here.

    ``keras`` is the Keras form named (its arguments map to the code's); ``positions`` says
    what each positional argument of a PyTorch module carries (a parameter's name, or ``in``
    for the input's size, which the checker infers), when the entry's build says it;
    ``activation`` is the activation an activation class is (``ReLU`` -> ``ACT(relu)``).
    """

    framework: str
    name: str
    code: str
    keras: KerasClass | None = None
    positions: tuple[str, ...] | None = None
    activation: str | None = None
    implied: tuple[tuple[str, Any], ...] = ()
    """The code's arguments the class's own defaults set otherwise (Keras's ``LeakyReLU``: ``slope`` 0.3)."""


def borrowed_names(entries) -> dict[str, tuple[Borrowed, ...]]:
    """Every Keras class and PyTorch module the entries declare, by upper-cased name; Keras's first."""
    found: dict[str, list[Borrowed]] = {}
    for entry in entries:
        for form in entry.keras:
            for name in (form.name, *form.reads):
                found.setdefault(name.upper(), []).append(_borrowed("Keras", name, entry, form))
        if not entry.keras:  # no layer of its own in Keras (ID, IN): the class it stands for
            found.setdefault(entry.keras_class.upper(), []).append(_borrowed("Keras", entry.keras_class, entry, None))
    for entry in entries:
        constants = dict(entry.torch.constants)
        for qualified, _ in entry.torch.modules:
            name = qualified.rsplit(".", 1)[-1]
            implied = next((values for module, values in constants.items() if module.rsplit(".", 1)[-1] == name), ())
            found.setdefault(name.upper(), []).append(_borrowed("PyTorch", name, entry, None, implied))
    return {name: tuple(readings) for name, readings in found.items()}


def _borrowed(framework: str, name: str, entry: LayerType, form: KerasClass | None, implied=()) -> Borrowed:
    activation = _activation_named(name) if _is_activation(entry) else None
    if activation is not None:  # ACT: the class is one activation (Keras's form says the constants it implies)
        defaults = {param.name: param.default for param in entry.params}
        if form is not None and form.combine is None:  # a form that combines keys implies nothing alone
            implied = tuple((arg.name, arg.default) for arg in form.args
                            if arg.name in defaults and arg.default is not None and arg.default != defaults[arg.name])  # fmt: skip
        return Borrowed(framework, name, entry.code, form, activation=activation, implied=tuple(implied))
    positions = _torch_positions(entry, name) if form is None and framework == "PyTorch" else None
    return Borrowed(framework, name, entry.code, form, positions)


def _is_activation(entry: LayerType) -> bool:
    """The code whose first argument is an activation's name (ACT)."""
    return bool(entry.params) and entry.params[0].kind == choice(ACTIVATIONS)


def _activation_named(word: str) -> str | None:
    """The activation a class is named after: ``LeakyReLU`` -> ``leaky_relu``, ``Hardswish`` -> ``hard_swish``."""
    squashed = word.replace("_", "").lower()
    return next((name for name in ACTIVATIONS if name.replace("_", "") == squashed), None)


def _torch_positions(entry: LayerType, module: str) -> tuple[str, ...] | None:
    """What each positional argument of PyTorch's ``module`` carries, read from the entry's own build
    run on its example: a parameter's name, ``in`` for the input's channels; None where a value
    is not one argument's alone (or the build makes no such module)."""
    if entry.torch.build is None or entry.example is None:
        return None
    args = dict(entry.example)
    for param in entry.params:
        if param.name not in args and param.same_as is None:
            if param.default is REQUIRED:
                return None
            args[param.name] = param.default
    for param in entry.params:  # a value of its own, so that it can be told from the one it follows
        if param.same_as is not None and param.name not in args:
            args[param.name] = _bumped(args[param.same_as])
    channels, shape = 12, (None, 17, 19, 12)  # sizes no example argument has
    import types

    try:
        info = types.SimpleNamespace(layer=types.SimpleNamespace(args=args, head=False), input_shape=shape,
                                     output_shape=entry.output_shape(shape, args), code=entry.code)  # fmt: skip
        call = _made(entry.torch.build(info), module)
    except Exception:  # a build that needs more than the example has: no mapping to show
        return None
    if call is None:
        return None
    positions = []
    for value in call.args:
        names = [name for name, given in args.items() if _same(given, value)]
        if value == channels and not isinstance(value, bool):
            names.append("in")
        if len(names) != 1:
            return None
        positions.append(names[0])
    return tuple(positions)


def _bumped(value: Any) -> Any:
    return tuple(v + 1 for v in value) if isinstance(value, tuple) else value + 1


def _same(given: Any, value: Any) -> bool:
    return not isinstance(given, bool) and not isinstance(value, bool) and type(given) is type(value) and given == value


def _made(calls, module: str):
    """The call among ``calls`` (and the calls they wrap: ``ChannelsLast``'s) that constructs PyTorch's ``module``."""
    for call in calls:
        if not isinstance(call, Call):
            continue
        if call.name in (module, f"nn.{module}"):
            return call
        inner = _made([item for arg in call.args for item in (arg if isinstance(arg, tuple) else (arg,))], module)
        if inner is not None:
            return inner
    return None


_BORROWED: dict[int, dict[str, tuple[Borrowed, ...]]] = {}


def _borrowed_table(layers: Mapping[str, LayerType]) -> dict[str, tuple[Borrowed, ...]]:
    """:func:`borrowed_names` of a table, made once (only when a spec names an unknown code)."""
    if id(layers) not in _BORROWED:
        _BORROWED[id(layers)] = borrowed_names(layers.values())
    return _BORROWED[id(layers)]


def _readings(word: str, layers: Mapping[str, LayerType]) -> tuple[Borrowed, ...]:
    """The classes ``word`` names: written exactly first, then in any case; then an activation's name."""
    readings = _borrowed_table(layers).get(word.upper(), ())
    exact = tuple(reading for reading in readings if reading.name == word)
    if readings:
        return exact + tuple(reading for reading in readings if reading.name != word)
    activation = _activation_named(word)
    activations = [entry.code for entry in layers.values() if _is_activation(entry)]
    if activation is None or not activations:
        return ()
    return (Borrowed("", word, activations[0], activation=activation),)


def suggest_code(word: str, layers: Mapping[str, LayerType], call: ast.Call) -> tuple[str | None, tuple[Fix, ...]]:
    """For an unknown code: the hint and the fixes, or ``(None, ())``.

    A code written in another case comes first (``cn`` -> ``CN``); then a Keras or PyTorch
    class name, exact before any case (``Conv2D`` -> ``CN``, with its arguments mapped), or an
    activation's name (``SiLU`` -> ``ACT(silu)``); then the closest code or class name.
    """
    by_upper = {code.upper(): code for code in layers}
    if word.upper() in by_upper:
        return _did_you_mean(word, call.code_span, by_upper[word.upper()])
    named = borrowed_hint(word, layers, call)
    if named is not None:
        return named
    import difflib  # only for a misspelling: not loaded when a spec checks

    close = difflib.get_close_matches(word.upper(), [*by_upper, *_borrowed_table(layers)], n=1, cutoff=0.6)
    if not close:
        return None, ()
    if close[0] in by_upper:
        return _did_you_mean(word, call.code_span, by_upper[close[0]])
    return _borrowed_hint(word, _borrowed_table(layers)[close[0]], layers, call, None)


def borrowed_hint(word: str, layers: Mapping[str, LayerType], call: ast.Call | None = None,
                  span: ast.Span | None = None) -> tuple[str, tuple[Fix, ...]] | None:  # fmt: skip
    """The hint and fixes for a Keras or PyTorch class name (or an activation's) written as a call
    or, at ``span``, as a bare name; None for any other word."""
    readings = _readings(word, layers)
    return _borrowed_hint(word, readings, layers, call, span) if readings else None


def _borrowed_hint(word: str, readings, layers, call, span) -> tuple[str, tuple[Fix, ...]]:
    """The first reading's hint (Keras's before PyTorch's); the first fix any reading has."""
    if readings[0].activation is not None:
        return _activation_hint(word, readings, layers[readings[0].code], call, span)
    fixes = next(
        (fix for reading in readings if (fix := _borrowed_fix(word, reading, layers[reading.code], call, span))), ()
    )
    return _hint(readings[0], layers[readings[0].code], call), fixes


def _did_you_mean(word: str, span: ast.Span, code: str) -> tuple[str, tuple[Fix, ...]]:
    return f"did you mean {code}?", (Fix(f"Change {word} to {code}", (Edit(span, code),)),)


def _hint(reading: Borrowed, entry: LayerType, call: ast.Call | None) -> str:
    """``Keras's Conv2D is CN here: Conv2D(filters, kernel_size) -> CN(filters, kernel)``, and the
    keyword arguments written that the code names otherwise."""
    whose = f"{reading.framework}'s {reading.name}" if reading.framework else reading.name
    if reading.activation is not None:
        return f"{whose} is an activation here: {entry.code}({_activation_call(reading, entry)})"
    required = [param.name for param in entry.params if param.default is REQUIRED]
    if reading.keras is not None:
        positional = [arg for arg in reading.keras.args if arg.positional]
        theirs = ", ".join(arg.keras for arg in positional)
        ours = ", ".join(arg.name for arg in positional if arg.name is not None)
        written = {arg.name for arg in call.args} if call is not None else set()
        renamed = [f"{arg.keras}= is {arg.name}=" for arg in reading.keras.args
                   if arg.keras in written and arg.name not in (None, arg.keras) and arg.to_keras is None]  # fmt: skip
        text = f"{whose} is {entry.code} here: {reading.name}({theirs}) -> {entry.code}({ours})"
        return text + "".join(f"; {rename}" for rename in renamed)
    if reading.positions is not None:
        ours = _call_text(entry, [name for name in reading.positions if name != "in"])
        text = f"{whose} is {entry.code} here: {reading.name}({', '.join(reading.positions)}) -> {ours}"
        return text + (" (the checker infers in, the input's size)" if "in" in reading.positions else "")
    return f"{whose} is {entry.code} here: {entry.code}({', '.join(required)})"


def _activation_call(reading: Borrowed, entry: LayerType) -> str:
    """``leaky_relu, slope=0.3``: the activation, and the constants its class implies that the code's
    defaults do not (Keras's ``LeakyReLU`` layer slopes by 0.3, PyTorch's by 0.01, the notation's
    ``leaky_relu`` by 0.2)."""
    return ", ".join([reading.activation, *(f"{name}={value}" for name, value in reading.implied)])


def _activation_hint(word: str, readings, entry: LayerType, call, span) -> tuple[str, tuple[Fix, ...]]:
    """An activation's class: its constants as written (``LeakyReLU(0.1)``, ``negative_slope=0.1``), else
    each framework's defaults where they differ (Keras's ``LeakyReLU()`` slopes by 0.3, PyTorch's by
    0.01), with a fix for each; a keyword only one framework has (``inplace``) says whose words they are."""
    readings = [reading for reading in readings if reading.activation is not None]
    written = _written_constants(readings, entry, call)
    if written is not None:
        reading = readings[0]
        words = {arg.name for arg in call.args} - {None, *(name for name, _ in reading.implied), "inplace"}
        keywords = {arg.keras for r in readings if r.keras is not None for arg in r.keras.args}
        if "inplace" in {arg.name for arg in call.args}:
            reading = next((r for r in readings if r.framework == "PyTorch"), reading)
        new = f"{entry.code}({', '.join([reading.activation, *(f'{k}={v}' for k, v in written)])})"
        fixes = () if words - keywords else (Fix(f"Change {word} to {new}", (Edit(call.span, new),)),)
        return f"{word}({', '.join(_arg_text(arg) for arg in call.args)}) is an activation here: {new}", fixes
    if call is not None and {arg.name for arg in call.args} == {"inplace"}:
        readings = [reading for reading in readings if reading.framework == "PyTorch"] or readings
    distinct = list({reading.implied: reading for reading in reversed(readings)}.values())[::-1]
    hints = [_hint(distinct[0], entry, call)]
    hints += [f"{_whose(reading)} is {entry.code}({_activation_call(reading, entry)})" for reading in distinct[1:]]
    bare = call is None or {arg.name for arg in call.args} <= {"inplace"}  # nothing written that the fix would drop
    fixes = tuple(fix for reading in distinct
                  for fix in _borrowed_fix(word, reading, entry, None if bare else call, span or (call and call.span)))  # fmt: skip
    return "; ".join(hints), fixes


def _whose(reading: Borrowed) -> str:
    return f"{reading.framework}'s {reading.name}" if reading.framework else reading.name


def _arg_text(arg) -> str:
    value = getattr(arg.value, "text", None) or getattr(arg.value, "name", "...")
    return value if arg.name is None else f"{arg.name}={value}"


def _written_constants(readings, entry: LayerType, call) -> tuple[tuple[str, Any], ...] | None:
    """The constants a call of an activation's class writes, by the code's names (its first positional
    argument is the first constant; a keyword is the code's name or a framework's), or None."""
    names = [name for reading in readings for name, _ in reading.implied]
    if call is None or not call.args or not names:
        return None
    name = names[0]
    keywords = {name, *(arg.keras for r in readings if r.keras is not None for arg in r.keras.args if arg.name == name)}
    values = [arg.value for index, arg in enumerate(call.args)
              if (arg.name is None and index == 0) or arg.name in keywords]  # fmt: skip
    if len(values) != 1 or not isinstance(values[0], ast.Number):
        return None
    return ((name, values[0].value),)


def _call_text(entry: LayerType, names: list[str]) -> str:
    """``MP(pool, strides=strides)``: positional while the names follow the code's own order."""
    parts, order = [], [param.name for param in entry.params]
    for index, name in enumerate(names):
        in_order = entry.collect is None and index < len(order) and order[index] == name and len(parts) == index
        in_order = in_order or (entry.collect == name and index == 0)
        parts.append(name if in_order else f"{name}={name}")
    return f"{entry.code}({', '.join(parts)})"


def _borrowed_fix(
    word: str, reading: Borrowed, entry: LayerType, call: ast.Call | None, span: ast.Span | None
) -> tuple:
    """The edits that make the written call the code's, where its arguments map one to one."""
    title = f"Change {word} to "
    if reading.activation is not None:
        new = f"{entry.code}({_activation_call(reading, entry)})"
        if call is not None and call.args:
            return ()
        return (Fix(title + new, (Edit(span or call.span, new),)),)
    if call is None:  # a bare name: only a code that needs no argument is complete
        if any(param.default is REQUIRED for param in entry.params):
            return ()
        return (Fix(title + f"{entry.code}()", (Edit(span, f"{entry.code}()"),)),)
    edits = [Edit(call.code_span, entry.code)]
    positional = [arg for arg in call.args if arg.name is None]
    if reading.keras is not None:
        theirs = [arg.name for arg in reading.keras.args if arg.positional]
        renames = {arg.keras: arg.name for arg in reading.keras.args if arg.name is not None and arg.to_keras is None}
    elif reading.positions is not None:
        theirs, renames = list(reading.positions), {}
    elif not call.args and not any(param.default is REQUIRED for param in entry.params):
        theirs, renames = [], {}
    else:
        return ()
    order = [entry.collect] if entry.collect else [param.name for param in entry.params]
    if len(positional) > len(theirs) or theirs[: len(positional)] != order[: len(positional)]:
        return ()
    for arg in call.args:
        if arg.name is None or arg.name in entry.param_names and arg.name not in renames:
            continue
        if arg.name not in renames:
            return ()
        if renames[arg.name] == arg.name:
            continue
        width = len(arg.name)
        where = ast.Span(arg.span.start, arg.span.start + width, arg.span.line, arg.span.column, arg.span.line,
                         arg.span.column + width)  # fmt: skip
        edits.append(Edit(where, renames[arg.name]))
    return (Fix(title + entry.code, tuple(edits)),)
