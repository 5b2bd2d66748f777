"""The layer table: one entry per layer code, read by every stage.

An entry holds the code, its Keras class, the argument schema (names, kinds,
defaults, bounds), the shape rule, the weight rule, the multiply-accumulate rule
and the Keras constructor. Adding a layer code means adding one entry here.
"""

from __future__ import annotations

import functools
import math

from cnndsl import ast
from cnndsl.records import record
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
    broadcast_shapes,
    compute_conv_output_shape,
    compute_pooling_output_shape,
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


def _whole(value: ast.Value, what: str, lo: int, hi: float) -> int:
    if not isinstance(value, ast.Number):
        raise ArgProblem(f"{what} must be a whole number, not {_show(value)}", value)
    if isinstance(value.value, float) and not math.isinf(value.value):
        raise ArgProblem(f"{what} must be a whole number, not {value.text}", value)
    if not lo <= value.value <= hi:
        bound = f"at least {lo}" if value.value < lo else f"at most {hi:,}"
        raise ArgProblem(f"{what} must be {bound}, not {_short(value.text)}", value)
    return int(value.value)


def count(lo: int = 1, hi: int = MAX_UNITS) -> Callable[[ast.Value, str], int]:
    """A whole number in [lo, hi]."""
    return lambda value, what: _whole(value, what, lo, hi)


def size(n: int, lo: int = 1, hi: int = MAX_WINDOW) -> Callable[[ast.Value, str], tuple[int, ...]]:
    """``k`` (meaning k repeated n times) or a tuple of n whole numbers."""

    def convert(value: ast.Value, what: str) -> tuple[int, ...]:
        if isinstance(value, ast.Tuple):
            if len(value.items) != n:
                raise ArgProblem(f"{what} needs {n} values, not {len(value.items)}", value)
            return tuple(_whole(item, what, lo, hi) for item in value.items)
        return (_whole(value, what, lo, hi),) * n

    return convert


def fraction(value: ast.Value, what: str) -> float:
    """A number in [0, 1)."""
    if not isinstance(value, ast.Number):
        raise ArgProblem(f"{what} must be a number, not {_show(value)}", value)
    if not 0 <= value.value < 1:
        raise ArgProblem(f"{what} must be at least 0 and below 1, not {_short(value.text)}", value)
    return float(value.value)


def choice(options: tuple[str, ...]) -> Callable[[ast.Value, str], str]:
    """One bare word out of ``options``."""

    def convert(value: ast.Value, what: str) -> str:
        if not isinstance(value, ast.Word) or value.name not in options:
            close = suggest(value.name, options) if isinstance(value, ast.Word) else None
            hint = f"did you mean {close}?" if close else "one of: " + ", ".join(options)
            raise ArgProblem(f"unknown {what} {_show(value)}", value, hint, "unknown-word", close)
        return value.name

    convert.options = options  # the words an editor offers
    return convert


def flag(value: ast.Value, what: str) -> bool:
    """The bare word ``true`` or ``false``."""
    if isinstance(value, ast.Word) and value.name in ("true", "false"):
        return value.name == "true"
    raise ArgProblem(f"{what} must be true or false, not {_show(value)}", value, "booleans are the bare words true and false")


flag.options = ("true", "false")


def real(lo: float, hi: float, low_open: bool = False) -> Callable[[ast.Value, str], float]:
    """A number in [lo, hi] (or (lo, hi] when ``low_open``)."""

    def convert(value: ast.Value, what: str) -> float:
        if not isinstance(value, ast.Number):
            raise ArgProblem(f"{what} must be a number, not {_show(value)}", value)
        number = value.value
        if math.isnan(number) or number > hi or number < lo or (low_open and number == lo):
            bound = f"above {lo}" if low_open else f"at least {lo}"
            raise ArgProblem(f"{what} must be {bound} and at most {hi}, not {_short(value.text)}", value)
        return float(number)

    return convert


def integer(lo: int, hi: int) -> Callable[[ast.Value, str], int]:
    """A whole number in [lo, hi], negative ones included."""
    return lambda value, what: _whole(value, what, lo, hi)


def padding_amounts(value: ast.Value, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))`` -> ``((top, bottom), (left, right))``.

    As in Keras, each of the two entries may be a number (both sides) or a pair.
    """
    if not isinstance(value, ast.Tuple):
        value = ast.Tuple((value, value), value.span)
    if len(value.items) != 2:
        raise ArgProblem(f"{what} needs p, (ph, pw) or ((top, bottom), (left, right))", value)
    return tuple(size(2, 0, MAX_WINDOW)(item, what) for item in value.items)  # type: ignore[return-value]


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
    merge: bool = False
    """A merge of branches (``ADD(A | B)``): ``output_shape`` takes the list of branch shapes."""
    kind: str = "other"
    """What pictures colour it as: convolution, pooling, normalization, dense, merge, reshape, other."""
    warn: Callable[[Shape, Mapping], str | None] = lambda shape, args: None
    """A warning about a legal but likely unintended input (a merge gets every branch's shape)."""
    check_args: Callable[[Mapping], str | None] = lambda args: None
    """A problem with a combination of arguments, or None."""

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
        import re

        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", self.keras_class)
        return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()

    def signature(self) -> str:
        """``CN(filters, kernel, strides=1, ...)`` for messages and docs."""
        parts = [
            p.name if p.default is REQUIRED else f"{p.name}={p.shown or _default_text(p.default)}" for p in self.params
        ]
        return f"{self.code}({', '.join(parts)})"


def _default_text(default: Any) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, tuple) and len(set(default)) == 1:
        return str(default[0])
    return str(default).replace(" ", "")


def _prod(values) -> int:
    """The product of the known sizes (None is unknown)."""
    return math.prod(values) if None not in values else math.prod(v for v in values if v is not None)


# Conv2D


def _conv_shape(shape: Shape, a: Mapping) -> Shape:
    return (*_conv_sizes(shape[:-1], a["kernel"], a["strides"], a["padding"], a["dilation"]), a["filters"])


@functools.lru_cache(maxsize=1024)
def _conv_sizes(front: Shape, kernel, strides, padding: str, dilation) -> Shape:
    """A convolution's batch and spatial output sizes, which no channel count changes.

    Kept per input size and arguments: a large spec convolves one image size many times.
    Raises ShapeProblem (never kept) as :func:`compute_conv_output_shape` does.
    """
    return compute_conv_output_shape((*front, None), None, kernel, strides, padding, dilation)[:-1]


def _bias(units: int, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("bias", (units,)),) if a.get("bias", True) else ()


def _conv_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("kernel", (*a["kernel"], shape[-1], a["filters"])), *_bias(a["filters"], a))


def _conv_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"]) * (in_shape[-1] or 0)


def _conv_args(a: Mapping) -> str | None:
    if max(a["strides"]) > 1 and max(a["dilation"]) > 1:
        return "strides > 1 cannot be combined with dilation > 1 (Keras refuses it)"
    return None


# DepthwiseConv2D, SeparableConv2D


def _times(size: int | None, factor: int) -> int | None:
    """A size times a factor; unknown (None, after an earlier error) stays unknown."""
    return None if size is None else size * factor


def _depthwise_shape(shape: Shape, a: Mapping) -> Shape:
    front = _conv_sizes(shape[:-1], a["kernel"], a["strides"], a["padding"], a["dilation"])
    return (*front, _times(shape[-1], a["depth_multiplier"]))


def _depthwise_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    kernel = Weight("kernel", (*a["kernel"], shape[-1], a["depth_multiplier"]))
    return (kernel, *_bias(_times(shape[-1], a["depth_multiplier"]), a))


def _depthwise_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"])


def _separable_shape(shape: Shape, a: Mapping) -> Shape:
    return _conv_shape(shape, a)


def _separable_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    middle = _times(shape[-1], a["depth_multiplier"])
    return (
        Weight("depthwise_kernel", (*a["kernel"], shape[-1], a["depth_multiplier"])),
        Weight("pointwise_kernel", (1, 1, middle, a["filters"])),
        *_bias(a["filters"], a),
    )


def _separable_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    pixels = _prod(out_shape[1:-1])
    middle = (in_shape[-1] or 0) * a["depth_multiplier"]
    return pixels * middle * (_prod(a["kernel"]) + a["filters"])


_CONV_TAIL = (
    Param("strides", size(2), (1, 1)),
    Param("padding", choice(PADDINGS), "valid"),
)


def _conv_rest(multiplier: bool) -> tuple[Param, ...]:
    """The arguments after the kernel that CN, DW and SC share (DW and SC add depth_multiplier)."""
    extra = (Param("depth_multiplier", count(1, MAX_WINDOW), 1),) if multiplier else ()
    return (
        *_CONV_TAIL,
        *extra,
        Param("activation", choice(ACTIVATIONS), "relu"),
        Param("dilation", size(2), (1, 1)),
        Param("bias", flag, True),
    )


# ZeroPadding2D, UpSampling2D


def _zero_padding_shape(shape: Shape, a: Mapping) -> Shape:
    (top, bottom), (left, right) = a["pad"]
    height, width = shape[1], shape[2]
    return (
        shape[0],
        None if height is None else height + top + bottom,
        None if width is None else width + left + right,
        shape[3],
    )


def _up_sampling_shape(shape: Shape, a: Mapping) -> Shape:
    (sh, sw), height, width = a["size"], shape[1], shape[2]
    return (shape[0], None if height is None else height * sh, None if width is None else width * sw, shape[3])

# Pooling


def _pool_shape(shape: Shape, a: Mapping) -> Shape:
    return compute_pooling_output_shape(shape, a["pool"], a["strides"], a["padding"])


_POOL_PARAMS = (
    Param("pool", size(2), (2, 2)),
    Param("strides", size(2), None, shown="pool", same_as="pool"),
    Param("padding", choice(PADDINGS), "valid"),
)


def _global_pool_shape(shape: Shape, a: Mapping) -> Shape:
    return (shape[0], 1, 1, shape[-1]) if a["keepdims"] else (shape[0], shape[-1])


_GLOBAL_POOL_PARAMS = (Param("keepdims", flag, False),)

# Dense


def _dense_shape(shape: Shape, a: Mapping) -> Shape:
    return (*shape[:-1], a["units"])


def _dense_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("kernel", (shape[-1], a["units"])), *_bias(a["units"], a))


def _dense_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(in_shape[1:]) * a["units"]


def _dense_warn(shape: Shape, a: Mapping) -> str | None:
    if len(shape) <= 2:
        return None
    return f"DN on a {len(shape)}-D tensor {_fmt(shape)} acts on the last axis only; add FL() or GAP() before it to classify the whole image"


def _fmt(shape: Shape) -> str:
    from cnndsl.shapes import format_shape

    return format_shape(shape)


# Flatten, BatchNormalization


def _flatten_shape(shape: Shape, a: Mapping) -> Shape:
    rest = shape[1:]
    return (shape[0], None if None in rest else math.prod(rest))


def _bn_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    channels = (shape[-1],)
    return (
        *((Weight("gamma", channels),) if a["scale"] else ()),
        *((Weight("beta", channels),) if a["center"] else ()),
        Weight("moving_mean", channels, trainable=False),
        Weight("moving_variance", channels, trainable=False),
    )


# Merges: Add and Multiply broadcast as NumPy does; Concatenate joins one axis.


def _elementwise_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``keras.layers.Add``/``Multiply``: the branches' shapes broadcast together, batch axis aside."""
    out = shapes[0][1:]
    try:
        for shape in shapes[1:]:
            out = broadcast_shapes(out, shape[1:])
    except ShapeProblem as problem:
        if len({len(shape) for shape in shapes}) > 1:
            raise ShapeProblem(problem.message, _ranks_hint(shapes), "merge-ranks") from None
        hint = "give the shortcut a projection such as CN(filters, 1, strides=2) -> BN(), or use padding=same"
        raise ShapeProblem(problem.message, hint) from None
    return (None, *out)


def _ranks_hint(shapes: list[Shape]) -> str:
    """What to do about merge branches of different ranks (a 2-D one beside a 4-D one)."""
    ranks = " and ".join(f"{rank}-D" for rank in sorted({len(shape) for shape in shapes}))
    return f"the branches are {ranks}: end the spatial part (FL() or GAP()) in every branch, or only after the merge"


def _elementwise_warn(shapes: list[Shape], a: Mapping) -> str | None:
    """Broadcasting as Keras does is legal; different ranks or a grown output are almost always a mistake."""
    out = _elementwise_shape(shapes, a)
    listed = " | ".join(_fmt(shape) for shape in shapes)
    if len({len(shape) for shape in shapes}) > 1:
        return f"broadcasts branches of different ranks ({listed}) to {_fmt(out)}"
    if None not in out[1:] and all(None not in s[1:] and _prod(out[1:]) > _prod(s[1:]) for s in shapes):
        return f"broadcasts {listed} to {_fmt(out)}, larger than every branch"
    return None


def _concatenate_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``keras.layers.Concatenate``: equal ranks, equal sizes on every axis but ``axis``."""
    rank = len(shapes[0])
    if any(len(shape) != rank for shape in shapes):
        hint = f"CAT never broadcasts; {_ranks_hint(shapes)}"
        raise ShapeProblem("CAT needs branches of one rank", hint, "merge-ranks")
    axis = a["axis"] % rank if -rank <= a["axis"] < rank else None
    if axis is None or axis == 0:
        raise ShapeProblem(f"CAT axis={a['axis']} is not an axis of a {rank}-D tensor other than the batch axis")
    out = list(shapes[0])
    for shape in shapes[1:]:
        for index, (mine, theirs) in enumerate(zip(out, shape)):
            if index == axis:
                out[index] = None if mine is None or theirs is None else mine + theirs
            elif mine is not None and theirs is not None and mine != theirs:
                raise ShapeProblem(
                    "CAT needs equal sizes on every axis but the joined one",
                    "CAT joins along one axis: the other sizes must agree (padding=same, or equal poolings)",
                )
            elif mine is None:
                out[index] = theirs
    return tuple(out)

def _dims(value: ast.Value, what: str) -> tuple[int, ...]:
    return size(3, 1, MAX_INPUT_SIZE)(value, what) if isinstance(value, ast.Tuple) else _bad_dims(value)


def _bad_dims(value: ast.Value) -> tuple[int, ...]:
    raise ArgProblem("IN needs three sizes: IN(height, width, channels)", value)


_TABLE = (
    LayerType(
        "CN", "Conv2D", "2-D convolution",
        params=(Param("filters", count()), Param("kernel", size(2), (3, 3), inherit=True), *_conv_rest(False)),
        output_shape=_conv_shape, check_args=_conv_args, weights=_conv_weights, macs=_conv_macs, input_rank=4,
        kind="convolution",
    ),
    LayerType(
        "DW", "DepthwiseConv2D", "depthwise 2-D convolution (one filter set per channel)",
        params=(Param("kernel", size(2), (3, 3)), *_conv_rest(True)),
        output_shape=_depthwise_shape, check_args=_conv_args, weights=_depthwise_weights, macs=_depthwise_macs,
        input_rank=4, kind="convolution",
    ),
    LayerType(
        "SC", "SeparableConv2D", "depthwise then pointwise 2-D convolution",
        params=(Param("filters", count()), Param("kernel", size(2), (3, 3)), *_conv_rest(True)),
        output_shape=_separable_shape, check_args=_conv_args, weights=_separable_weights, macs=_separable_macs,
        input_rank=4, kind="convolution",
    ),
    LayerType("MP", "MaxPooling2D", "2-D max pooling", _POOL_PARAMS, _pool_shape, input_rank=4, collect="pool",
              kind="pooling"),
    LayerType("AP", "AveragePooling2D", "2-D average pooling", _POOL_PARAMS, _pool_shape, input_rank=4,
              collect="pool", kind="pooling"),
    LayerType("GAP", "GlobalAveragePooling2D", "average over height and width", _GLOBAL_POOL_PARAMS,
              _global_pool_shape, input_rank=4, kind="pooling"),
    LayerType("GMP", "GlobalMaxPooling2D", "maximum over height and width", _GLOBAL_POOL_PARAMS,
              _global_pool_shape, input_rank=4, kind="pooling"),
    LayerType("ZP", "ZeroPadding2D", "pad height and width with zeros",
              (Param("pad", padding_amounts, ((1, 1), (1, 1)), shown="1"),), _zero_padding_shape, input_rank=4,
              kind="reshape"),
    LayerType("UP", "UpSampling2D", "repeat rows and columns",
              (Param("size", size(2), (2, 2)), Param("interpolation", choice(INTERPOLATIONS), "nearest")),
              _up_sampling_shape, input_rank=4, kind="reshape"),
    LayerType("DP", "Dropout", "dropout", (Param("rate", fraction),)),
    LayerType("FL", "Flatten", "flatten to (batch, features)", (), _flatten_shape, kind="reshape"),
    LayerType(
        "DN", "Dense", "fully connected",
        params=(Param("units", count()), Param("activation", choice(ACTIVATIONS), "relu"), Param("bias", flag, True)),
        output_shape=_dense_shape, weights=_dense_weights, macs=_dense_macs, warn=_dense_warn, kind="dense",
    ),
    LayerType(
        "BN", "BatchNormalization", "batch normalization",
        (Param("momentum", real(0, 1), 0.99), Param("epsilon", real(0, 1, low_open=True), 0.001),
         Param("center", flag, True), Param("scale", flag, True)),
        weights=_bn_weights, kind="normalization",
    ),
    LayerType("ACT", "Activation", "activation function", (Param("name", choice(ACTIVATIONS)),)),
    LayerType("ID", "Identity", "the input, unchanged (no layer)", is_identity=True),
    LayerType("ADD", "Add", "sum of the branches (NumPy broadcasting)", output_shape=_elementwise_shape,
              warn=_elementwise_warn,
              merge=True, kind="merge"),
    LayerType("MUL", "Multiply", "product of the branches (NumPy broadcasting)", output_shape=_elementwise_shape,
              warn=_elementwise_warn,
              merge=True, kind="merge"),
    LayerType("CAT", "Concatenate", "the branches joined along an axis",
              (Param("axis", integer(-MAX_WINDOW, MAX_WINDOW), -1),), _concatenate_shape, merge=True, kind="merge"),
    LayerType("IN", "InputLayer", "input shape (height, width, channels); first only",
              (Param("shape", _dims),), collect="shape", is_input=True),
)  # fmt: skip

LAYERS: dict[str, LayerType] = {entry.code: entry for entry in _TABLE}
"""Every layer code, by code."""
MERGES = frozenset(code for code, entry in LAYERS.items() if entry.merge)
"""The codes that join branches; the grammar names them too (tests hold the two equal)."""

__all__ = ["LAYERS", "MERGES", "LayerType", "Param", "ArgProblem", "ShapeProblem", "Weight", "ACTIVATIONS", "PADDINGS", "suggest"]
